"""Final evaluation: metrics of a checkpoint on any split, forgetting summary, size and latency.

`score_checkpoint` is what graders run (SPEC §5); `summarise` builds metrics/evaluate.json
(the fixed schema of DESIGN §4) from the stage metrics and the final scores.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from .data.transforms import eval_transform
from .engine import evaluate
from .data import build_dataset
from .model.net import split_outputs
from .tasks import TASK_ORDER, det

METRIC_KEYS = ("miou", "map", "map50", "top1")
BASELINE_STAGE = {"miou": "stage1_seg", "map": "stage2_det", "map50": "stage2_det", "top1": "stage3_cls"}
TASK_OF_METRIC = {"miou": "seg", "map": "det", "map50": "det", "top1": "cls"}
DATA_FOLDER = {"seg": "mini_voc_seg", "det": "mini_coco_det", "cls": "imagenette_160"}


def parse_tasks(spec: str) -> list[str]:
    """'all' or a comma list of seg/det/cls, in pipeline order."""
    if spec.strip() == "all":
        return list(TASK_ORDER)
    tasks = [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_ORDER]
    if unknown or not tasks:
        raise ValueError(f"--tasks: unknown task(s) {unknown or spec!r}; use all, seg, det, cls or a comma list")
    return [t for t in TASK_ORDER if t in tasks]


def available_tasks(data_root: str | Path, split: str) -> list[str]:
    root = Path(data_root)
    return [t for t in TASK_ORDER if (root / DATA_FOLDER[t] / ("annotations" if t == "det" else split)).exists()]


def score_checkpoint(model, ckpt: dict, data_root, tasks: list[str], split: str, device,
                     max_det: int = 100) -> dict[str, dict[str, float]]:
    """SPEC §4 metrics of `model` on `split` for each task, at the task's training resolution."""
    model.to(device)
    return {task: evaluate(model, task, build_dataset(task, data_root, split, eval_transform(ckpt["image_size"][task])),
                           device, max_det=max_det) for task in tasks}


@torch.inference_mode()
def measure_latency(model, size: int, device, runs: int, warmup: int = 3) -> float:
    """Median ms of one forward pass plus decoding of a size×size image, batch 1."""
    model.to(device).eval()
    x = torch.rand(1, 3, size, size, device=device)

    def once():
        out = model(x)
        parts = split_outputs(out, model.layout, image_size=(size, size))
        det.decode(parts["det_heatmap"], parts["det_box"], (size, size), [(size, size)])
        parts["seg"].argmax(1)
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


def summarise(final: dict[str, float], stage_metrics: dict[str, dict], params: dict[str, int],
              latency: dict, threshold: float) -> dict:
    """metrics/evaluate.json: finals, stage-end baselines, drops, pass/fail, size, latency, time."""
    baseline = {m: stage_metrics[BASELINE_STAGE[m]][TASK_OF_METRIC[m]][m] for m in METRIC_KEYS}
    final = {m: final[m] for m in METRIC_KEYS}
    drop_abs = {m: round(baseline[m] - final[m], 6) for m in METRIC_KEYS}
    drop_rel = {m: (round((baseline[m] - final[m]) / baseline[m] * 100, 4) if baseline[m] > 0 else None)
                for m in METRIC_KEYS}
    passed = {m: final[m] >= baseline[m] * (1 - threshold) for m in ("miou", "map", "top1")}
    passed["all"] = all(passed.values())
    times = {s: stage_metrics[s]["train_time_s"] for s in BASELINE_STAGE.values()}
    times["total"] = round(sum(times.values()), 1)
    return {"final": final, "baseline": baseline, "drop_rel_pct": drop_rel, "drop_abs": drop_abs,
            "pass": passed, "params": params, "latency_ms": latency, "train_time_s": times}
