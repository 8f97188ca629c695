"""The pipeline's evaluate stage: final metrics of the last checkpoint against stage baselines."""
from __future__ import annotations

from pathlib import Path

import torch

from . import config
from .checkpoint import load_checkpoint, model_from_checkpoint
from .evaluation import flatten, measure_latency, score_checkpoint, summarise
from .io import read_json, write_json
from .model.net import count_parameters
from .runtime import configure_threads, pick_device, plan_cpu, seed_everything
from .tasks import TASK_ORDER


def run_evaluate(params_path: str = "params.yaml", models_dir: str = "models", metrics_dir: str = "metrics") -> dict:
    params = config.load_params(params_path)
    ev, tp = params["evaluate"], params["train"]
    configure_threads(plan_cpu(tp["threads"], 0)[0])
    seed_everything(tp["seed"])
    device = pick_device(tp["device"])
    ckpt_path = Path(models_dir) / "stage3_cls.pt"
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, ckpt_path)
    scores = score_checkpoint(model, ckpt, params["data"]["root"], list(TASK_ORDER), "val", device,
                              tp["det_max_per_image"])
    stage_metrics = {s: read_json(Path(metrics_dir) / f"{s}.json", "stage metrics") for s in config.STAGES}
    latency = {"cpu_512": measure_latency(model, ev["latency_size"], torch.device("cpu"), ev["latency_runs"]),
               "cuda_512": (measure_latency(model, ev["latency_size"], torch.device("cuda"), ev["latency_runs"])
                            if torch.cuda.is_available() else None)}
    summary = summarise(flatten(scores), stage_metrics, count_parameters(model), latency, ev["threshold_rel_drop"])
    write_json(Path(metrics_dir) / "evaluate.json", summary)
    print_summary(summary)
    return summary


def print_summary(s: dict) -> None:
    print(f"{'metric':<8}{'baseline':>10}{'final':>10}{'drop %':>10}  pass")
    for m in ("miou", "map", "map50", "top1"):
        rel = s["drop_rel_pct"][m]
        ok = s["pass"].get(m, "")
        print(f"{m:<8}{s['baseline'][m]:>10.4f}{s['final'][m]:>10.4f}{(f'{rel:.2f}' if rel is not None else 'n/a'):>10}  {ok}")
    print(f"params {s['params']['total']:,}  latency cpu {s['latency_ms']['cpu_512']} ms  "
          f"train {s['train_time_s']['total']} s  all pass: {s['pass']['all']}")
