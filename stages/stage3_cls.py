"""DVC stage stage3_cls: train the cls task, protecting the earlier ones with the configured strategy (onehead.stage.run_stage)."""
from onehead.cli import user_errors
from onehead.config import load_params
from onehead.stage import pipeline_run, run_stage
from onehead.strategies.registry import build_strategy

if __name__ == "__main__":
    with user_errors("stage3_cls"):
        params = load_params("params.yaml")
        run_stage(pipeline_run("stage3_cls", params), params, build_strategy(params.strategy))
