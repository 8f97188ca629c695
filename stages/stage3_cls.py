"""DVC stage stage3_cls: train the cls task, protecting the earlier ones (see onehead.stage.run_stage)."""
from onehead.stage import main
from onehead.strategies.registry import build_strategy

if __name__ == "__main__":
    main("stage3_cls", build_strategy)
