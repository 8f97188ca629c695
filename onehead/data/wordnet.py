"""English names for class ids that are WordNet ids (Imagenette's folders: n03000684 -> chain saw).

Class lists stay the data's own ids everywhere a program reads them (checkpoints, metrics,
JSON `class` fields); only what a person reads goes through `readable`. The table shipped
beside this module covers the 1000 ImageNet-1k synsets (source named in its header; rebuilt by
scripts/imagenet_names.py), so any ImageNet-1k subset gets names offline; another id is shown
as it is.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

NAMES_FILE = Path(__file__).with_name("imagenet_names.tsv")


@cache
def imagenet_names() -> dict[str, str]:
    """wnid -> English name, read once from the shipped table."""
    lines = NAMES_FILE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


@cache
def imagenet_indices() -> dict[str, int]:
    """wnid -> ImageNet-1k class index (the table is in ILSVRC-2012 order)."""
    return {wnid: i for i, wnid in enumerate(imagenet_names())}


def imagenet_index(class_id: str) -> int | None:
    """The ImageNet-1k class index of a WordNet id, or None."""
    return imagenet_indices().get(class_id)


def readable(class_id: str) -> str:
    """The English name of a WordNet id, or the id itself when the table does not know it."""
    return imagenet_names().get(class_id, class_id)


def readable_classes(classes: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every task's class list as people should read it (COCO and VOC names pass unchanged)."""
    return {task: [readable(name) for name in names] for task, names in classes.items()}
