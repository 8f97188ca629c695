"""The one table of tasks and pipeline stages; every other module reads these facts from here.

A leaf module: the download stage, the report and `compare` import it without pulling in
the model or the training code.
"""
from __future__ import annotations

from dataclasses import dataclass

IGNORE_LABEL = 255          # VOC "void" pixels: never trained on, never scored (docs/spec.md §1, §4)
MAX_REPLAY_PER_TASK = 10    # docs/spec.md §3: at most 10 replayed images per earlier task per step


@dataclass(frozen=True)
class TaskInfo:
    name: str                   # key used in metrics files and checkpoints
    title: str                  # for people
    folder: str                 # dataset folder under the data root (docs/spec.md §1)
    metrics: tuple[str, ...]    # metric keys, the primary one (gated by the 5 % criterion) first

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]


@dataclass(frozen=True)
class StageInfo:
    name: str
    task: str
    previous: str | None        # the stage whose checkpoint this one starts from


TASK_INFO = {t.name: t for t in (
    TaskInfo("seg", "segmentation", "mini_voc_seg", ("miou",)),
    TaskInfo("det", "detection", "mini_coco_det", ("map", "map50")),
    TaskInfo("cls", "classification", "imagenette_160", ("top1",)),
)}
TASK_ORDER = tuple(TASK_INFO)

STAGE_INFO = {s.name: s for s in (
    StageInfo("stage1_seg", "seg", None),
    StageInfo("stage2_det", "det", "stage1_seg"),
    StageInfo("stage3_cls", "cls", "stage2_det"),
)}
STAGE_ORDER = tuple(STAGE_INFO)

METRICS = tuple(m for t in TASK_ORDER for m in TASK_INFO[t].metrics)
GATED_METRICS = tuple(TASK_INFO[t].primary_metric for t in TASK_ORDER)
METRIC_LABEL = {"miou": "mIoU (seg)", "map": "AP@[.5:.95] (det)", "map50": "AP@0.5 (det)", "top1": "Top-1 (cls)"}


def task_of_metric(metric: str) -> str:
    return next(t for t in TASK_ORDER if metric in TASK_INFO[t].metrics)


def reference_name(task: str) -> str:
    """The run that trains `task` alone, for comparison (its outputs' names)."""
    return f"reference_{task}"


def stage_of_task(task: str) -> str:
    """The stage that learns `task` (where its baseline is read, docs/spec.md §3)."""
    return next(s for s, info in STAGE_INFO.items() if info.task == task)
