"""DVC stage evaluate, and the graders' CLI:

    python stages/evaluate.py --weights models/stage3_cls.pt --data_root data --tasks all [--split test]
"""
from onehead.grade import main

if __name__ == "__main__":
    main()
