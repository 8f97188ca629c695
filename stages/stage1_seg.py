"""DVC stage stage1_seg: train the seg task (see onehead.stage.run_stage)."""
from onehead.stage import main

if __name__ == "__main__":
    main("stage1_seg")
