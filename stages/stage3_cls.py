"""DVC stage stage3_cls: train the cls task (see onehead.stage.run_stage)."""
from onehead.cli import main_stage

if __name__ == "__main__":
    main_stage("stage3_cls")
