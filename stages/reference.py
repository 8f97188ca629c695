"""DVC stage reference@TASK: train one task alone from the pretrained network (single-task reference).

    python stages/reference.py det
"""
import sys

from onehead.catalog import reference_name
from onehead.cli import user_errors
from onehead.config import load_params
from onehead.stage import reference_run, run_stage

if __name__ == "__main__":
    with user_errors(reference_name(sys.argv[1])):
        params = load_params("params.yaml")
        run_stage(reference_run(sys.argv[1], params), params)
