"""DVC stage stage2_det: train the det task, protecting the earlier ones (see onehead.stage.run_stage)."""
from onehead.stage import main
from onehead.strategies.registry import build_strategy

if __name__ == "__main__":
    main("stage2_det", build_strategy)
