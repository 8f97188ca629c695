"""Two common ways of holding the datasets other than the layout of docs/spec.md §1, and the moves that fix them.

- COCO images directly in `mini_coco_det/{train,val}/` instead of `{train,val}/images/`;
- VOC as its devkit keeps it: one `mini_voc_seg/JPEGImages/` and one `SegmentationClass/`,
  split by the lists `ImageSets/Segmentation/{train,val}.txt`.

`plan_moves` only looks; `apply_moves` renames files inside the user's folder (the manifest
command calls it only when asked with --convert). A move never rewrites or deletes a file, and
files already at their place are skipped, so an interrupted conversion resumes when run again.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..catalog import TASK_INFO
from ..errors import DataError
from .validate import load_coco_json

SPLITS = ("train", "val")
VOC_KINDS = {"JPEGImages": ".jpg", "SegmentationClass": ".png"}


@dataclass(frozen=True)
class Move:
    src: Path
    dst: Path
    why: str  # what puts the file there, for people


def coco_moves(root: Path) -> list[Move]:
    """Images an annotation file names that sit in `{split}/` instead of `{split}/images/`."""
    det = root / TASK_INFO["det"].folder
    moves = []
    for split in SPLITS:
        ann = det / "annotations" / f"instances_{split}.json"
        if not ann.is_file():
            continue  # validation names the missing file
        for image in load_coco_json(ann)["images"]:
            src, dst = det / split / image["file_name"], det / split / "images" / image["file_name"]
            if src.is_file() and not dst.exists():
                moves.append(Move(src, dst, f"images of {ann.name} belong in {split}/images/"))
    return moves


def split_lists(seg: Path) -> dict[str, list[str]]:
    """The image ids of ImageSets/Segmentation/{train,val}.txt; an id in both is an error."""
    lists = {}
    for split in SPLITS:
        path = seg / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not path.is_file():
            raise DataError(f"{path}: missing; a VOC folder with one JPEGImages/ needs the lists "
                            f"ImageSets/Segmentation/{{train,val}}.txt to split it into train/ and val/")
        lists[split] = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if both := sorted(set(lists["train"]) & set(lists["val"])):
        raise DataError(f"{seg / 'ImageSets' / 'Segmentation'}: {len(both)} id(s) in both train.txt and val.txt, "
                        f"e.g. {both[0]}")
    return lists


def voc_moves(root: Path) -> list[Move]:
    """Each listed image and mask from the one JPEGImages/ + SegmentationClass/ into its split."""
    seg = root / TASK_INFO["seg"].folder
    if not (seg / "JPEGImages").is_dir():
        return []
    if all((seg / split / "JPEGImages").is_dir() for split in SPLITS) and not (seg / "ImageSets").is_dir():
        return []  # the layout of docs/spec.md §1, with a stray folder beside it
    moves = []
    for split, ids in split_lists(seg).items():
        for image_id in ids:
            for kind, suffix in VOC_KINDS.items():
                src, dst = seg / kind / f"{image_id}{suffix}", seg / split / kind / f"{image_id}{suffix}"
                if dst.exists():
                    continue
                if not src.is_file():
                    raise DataError(f"{seg / 'ImageSets' / 'Segmentation' / f'{split}.txt'}: lists {image_id}, "
                                    f"but {src} is missing")
                moves.append(Move(src, dst, f"ids of ImageSets/Segmentation/{split}.txt"))
    return moves


def plan_moves(root: Path) -> list[Move]:
    """Every move that brings `root` to the layout of docs/spec.md §1 (empty when it is there already)."""
    return coco_moves(root) + voc_moves(root)


def describe_moves(moves: list[Move]) -> str:
    """One line per source folder -> target folder, with a count and an example."""
    groups = Counter((m.src.parent, m.dst.parent, m.why) for m in moves)
    example = {(m.src.parent, m.dst.parent, m.why): m.src.name for m in reversed(moves)}
    return "\n".join(f"  move {n} file(s) from {src}/ to {dst}/ ({why}; e.g. {example[src, dst, why]})"
                     for (src, dst, why), n in groups.items())


def apply_moves(moves: list[Move]) -> None:
    """Rename each file into place (same folder tree, so nothing is copied or rewritten)."""
    for move in moves:
        move.dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(move.src, move.dst)
