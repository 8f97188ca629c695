"""DVC stage stage1_seg: train the seg task (see onehead.stage.run_stage)."""
from onehead.cli import main_stage

if __name__ == "__main__":
    main_stage("stage1_seg")
