"""DVC stage stage1_seg: train the seg task from the pretrained network (onehead.stage.run_stage)."""
from onehead.cli import user_errors
from onehead.config import load_params
from onehead.stage import pipeline_run, run_stage

if __name__ == "__main__":
    with user_errors("stage1_seg"):
        params = load_params("params.yaml")
        run_stage(pipeline_run("stage1_seg", params), params)
