"""DVC stage reference@TASK: train one task alone from the pretrained network (single-task reference).

    python stages/reference.py det
"""
import sys

from onehead.stage import main_reference

if __name__ == "__main__":
    main_reference(sys.argv[1])
