"""DVC stage stage2_det: train the det task (see onehead.stage.run_stage)."""
from onehead.cli import main_stage

if __name__ == "__main__":
    main_stage("stage2_det")
