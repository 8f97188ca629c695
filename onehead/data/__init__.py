"""Datasets of the three tasks, their download and validation."""
from __future__ import annotations

from pathlib import Path

from .coco import CocoDetection
from .imagenette import ImageFolderClassification
from .voc import VocSegmentation

DATASETS = {"seg": VocSegmentation, "det": CocoDetection, "cls": ImageFolderClassification}


def build_dataset(task: str, root: str | Path, split: str, transform=None):
    return DATASETS[task](root, split, transform)


def class_names(root: str | Path) -> dict[str, list[str]]:
    """Class names of every task, read from the training split's metadata."""
    return {task: list(build_dataset(task, root, "train").class_names) for task in DATASETS}
