"""The dataset class of each task, and the class names every task reads from its data."""
from __future__ import annotations

from pathlib import Path

from ..catalog import TASK_ORDER
from .coco import CocoDetection
from .copy_paste import CopyPaste
from .imagenette import ImageFolderClassification
from .voc import VocSegmentation

DATASETS = {"seg": VocSegmentation, "det": CocoDetection, "cls": ImageFolderClassification}
assert tuple(DATASETS) == TASK_ORDER


def build_dataset(task: str, root: str | Path, split: str, transform=None):
    return DATASETS[task](root, split, transform)


def build_training_set(task: str, root: str | Path, transform, copy_paste: float = 0.0):
    """The task's training split with `transform`; detection's images get pasted objects with
    probability `copy_paste` first."""
    if copy_paste:
        return CopyPaste(build_dataset(task, root, "train"), copy_paste, transform)
    return build_dataset(task, root, "train", transform)


def available_tasks(root: str | Path, split: str) -> list[str]:
    """The tasks whose data has `split` under `root`."""
    return [task for task in TASK_ORDER if DATASETS[task].has_split(root, split)]


def class_names(root: str | Path) -> dict[str, list[str]]:
    """Class names of every task, read from the training split's metadata."""
    return {task: list(build_dataset(task, root, "train").class_names) for task in TASK_ORDER}
