"""The pipeline's evaluate stage: final metrics of the last checkpoint against stage baselines.

`summarise` builds metrics/evaluate.json (the fixed schema of DESIGN §4) from the stage
metrics and the final scores, with parameter counts, latency and training time.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from torchvision.transforms.v2.functional import resize

from .catalog import (GATED_METRICS, METRICS, STAGE_ORDER, TASK_INFO, TASK_ORDER, reference_name, stage_of_task,
                      task_of_metric)
from .checkpoint import load_checkpoint, model_from_checkpoint
from .config import load_params
from .data.datasets import build_dataset
from .deploy import assert_same_outputs, fold_batchnorm
from .engine import score_tasks
from .io import read_json, write_json
from .model.net import count_parameters, split_outputs
from .runtime import configure_threads, pick_device, plan_cpu, seed_everything
from .summary import print_summary
from .tasks import det, seg


def latency_image(data_root: str | Path, size: int) -> torch.Tensor:
    """The first segmentation val image squeezed to size×size (uint8 C×H×W). Decoding's cost depends on
    what the image holds (segmentation filters the classes that win in it; on noise only background
    wins), so a real photograph is timed."""
    image, _ = build_dataset("seg", data_root, "val").raw(0)
    return resize(image, [size, size], antialias=True)


@torch.inference_mode()
def measure_latency(model, image: torch.Tensor, device, runs: int, warmup: int = 3) -> float:
    """Median ms of one forward pass plus decoding of `image` (uint8 C×H×W), batch 1."""
    model.to(device).eval()
    image = image.to(device)
    x = image[None] / 255
    size = tuple(image.shape[-2:])

    def once():
        out = model(x)
        parts = split_outputs(out, model.layout)
        det.decode(parts["det_heatmap"], parts["det_box"], size, [size])
        seg.predict(out, model.layout, image)
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        once()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def flatten(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    return {m: v for task_scores in scores.values() for m, v in task_scores.items()}


def reference_summary(reference_metrics: dict[str, dict]) -> dict:
    """metrics/reference.json: each task's metrics when trained alone, and its training time."""
    return {**{t: {m: reference_metrics[t][t][m] for m in TASK_INFO[t].metrics} for t in TASK_ORDER},
            "train_time_s": {t: reference_metrics[t]["train_time_s"] for t in TASK_ORDER}}


def summarise(final: dict[str, float], stage_metrics: dict[str, dict], reference: dict, params: dict[str, int],
              latency: dict, threshold: float) -> dict:
    """metrics/evaluate.json: finals, stage-end baselines, drops, pass/fail, single-task references,
    size, latency, time, peak memory."""
    baseline = {m: stage_metrics[stage_of_task(task_of_metric(m))][task_of_metric(m)][m] for m in METRICS}
    final = {m: final[m] for m in METRICS}
    drop_abs = {m: round(baseline[m] - final[m], 6) for m in METRICS}
    drop_rel = {m: (round((baseline[m] - final[m]) / baseline[m] * 100, 4) if baseline[m] > 0 else None)
                for m in METRICS}
    passed = {m: final[m] >= baseline[m] * (1 - threshold) for m in GATED_METRICS}
    passed["all"] = all(passed.values())
    times = {s: stage_metrics[s]["train_time_s"] for s in STAGE_ORDER}
    times["total"] = round(sum(times.values()), 1)
    times["references"] = round(sum(reference["train_time_s"].values()), 1)
    memory = {s: stage_metrics[s].get("peak_memory_gib") for s in STAGE_ORDER}  # absent in older metrics
    memory["max"] = max((v for v in memory.values() if v is not None), default=None)
    ref = {m: reference[task_of_metric(m)][m] for m in METRICS}
    return {"final": final, "baseline": baseline, "drop_rel_pct": drop_rel, "drop_abs": drop_abs,
            "pass": passed, "params": params, "latency_ms": latency, "train_time_s": times,
            "peak_memory_gib": memory, "reference": ref,
            "final_over_reference": {m: round(final[m] / ref[m], 4) if ref[m] > 0 else None for m in METRICS}}


def run_evaluate(params_path: str = "params.yaml", models_dir: str = "models", metrics_dir: str = "metrics") -> dict:
    params = load_params(params_path)
    ev, tp = params.evaluate, params.train
    configure_threads(plan_cpu(tp.threads, 0)[0])
    seed_everything(tp.seed)
    device = pick_device(tp.device)
    ckpt_path = Path(models_dir) / f"{STAGE_ORDER[-1]}.pt"
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, ckpt_path)
    scores = score_tasks(model, list(TASK_ORDER), ckpt.image_size, params.data.root, "val", device,
                         tp.det_max_per_image)
    stage_metrics = {s: read_json(Path(metrics_dir) / f"{s}.json", "stage metrics") for s in STAGE_ORDER}
    reference = reference_summary({t: read_json(Path(metrics_dir) / f"{reference_name(t)}.json", "reference metrics")
                                   for t in TASK_ORDER})
    deployed = fold_batchnorm(model)  # what predict runs: the same outputs, BatchNorms folded
    assert_same_outputs(model, deployed, ev.latency_size)
    image = latency_image(params.data.root, ev.latency_size)
    latency = {"cpu_512": measure_latency(deployed, image, torch.device("cpu"), ev.latency_runs),
               "cuda_512": (measure_latency(deployed, image, torch.device("cuda"), ev.latency_runs)
                            if torch.cuda.is_available() else None)}
    summary = summarise(flatten(scores), stage_metrics, reference, count_parameters(model), latency,
                        ev.threshold_rel_drop)
    write_json(Path(metrics_dir) / "reference.json", reference)
    write_json(Path(metrics_dir) / "evaluate.json", summary)
    print_summary(summary)
    return summary
