"""Content checks of a data root: every problem is reported with the file that has it.

COCO files must load with pycocotools and reference existing images with sane boxes;
VOC masks must be palette PNGs of the image's size with values 0–20 or 255; Imagenette
must have the same non-empty class folders in both splits and nothing else.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

from PIL import Image

from ..catalog import TASK_INFO
from ..errors import DataError
from ..io import read_json
from .voc import read_mask

COCO_KEYS = ("images", "annotations", "categories")


def check_image(path: Path) -> tuple[int, int]:
    """Fully decode an image; return (width, height) or raise naming the file."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.size
    except Exception as err:  # PIL raises many types for bad files
        raise DataError(f"{path}: not a readable image ({err})") from None


def validate_voc(root: Path) -> None:
    for split in ("train", "val"):
        images = sorted((root / split / "JPEGImages").glob("*"))
        if not images:
            raise DataError(f"{root / split / 'JPEGImages'}: no images")
        for img in images:
            mask = root / split / "SegmentationClass" / f"{img.stem}.png"
            if not mask.is_file():
                raise DataError(f"{img}: no mask {mask}")
            read_mask(mask, check_image(img))


def load_coco_json(path: Path) -> dict:
    """Parse and check a COCO instances file; returns the raw dict."""
    try:
        data = read_json(path, "JSON")
    except (FileNotFoundError, ValueError) as err:
        raise DataError(str(err)) from None
    missing = [k for k in COCO_KEYS if k not in data]
    if missing:
        raise DataError(f"{path}: COCO JSON lacks key(s) {missing}")
    check_unique_ids(path, data)  # first: the id sets below need every entry's id
    cat_ids = {c["id"] for c in data["categories"]}
    image_ids = {im["id"] for im in data["images"]}
    for ann in data["annotations"]:
        for key in ("image_id", "category_id", "bbox"):
            if key not in ann:
                raise DataError(f"{path}: annotation {ann.get('id')} lacks '{key}'")
        if ann["category_id"] not in cat_ids:
            raise DataError(f"{path}: annotation {ann.get('id')} has category_id {ann['category_id']} "
                            f"not in categories {sorted(cat_ids)}")
        if ann["image_id"] not in image_ids:
            raise DataError(f"{path}: annotation {ann.get('id')} points at missing image id {ann['image_id']}")
        x, y, w, h = ann["bbox"]
        if w <= 0 or h <= 0:
            raise DataError(f"{path}: annotation {ann.get('id')} has a bbox of non-positive size {ann['bbox']}")
    return data


def check_unique_ids(path: Path, data: dict) -> None:
    """Every image, annotation and category needs an id of its own: pycocotools indexes each list by
    id, so a repeated one silently keeps only one of its entries."""
    for key in COCO_KEYS:
        seen = set()
        for entry in data[key]:
            if "id" not in entry:
                raise DataError(f"{path}: an entry of '{key}' lacks 'id'")
            if entry["id"] in seen:
                raise DataError(f"{path}: '{key}' repeats id {entry['id']} (each needs its own)")
            seen.add(entry["id"])


def validate_coco(root: Path) -> None:
    from pycocotools.coco import COCO

    for split in ("train", "val"):
        ann_path = root / "annotations" / f"instances_{split}.json"
        data = load_coco_json(ann_path)
        with contextlib.redirect_stdout(io.StringIO()):
            COCO(str(ann_path))  # must also load with pycocotools
        for im in data["images"]:
            img_path = root / split / "images" / im["file_name"]
            if not img_path.is_file():
                raise DataError(f"{ann_path}: image {im['file_name']} not found in {img_path.parent}")
            size = check_image(img_path)
            if size != (im["width"], im["height"]):
                raise DataError(f"{img_path}: size {size} differs from its annotation "
                                f"({im['width']}, {im['height']}) in {ann_path}")


def validate_imagenette(root: Path) -> None:
    class_sets = {}
    for split in ("train", "val"):
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"{split_dir}: missing split folder")
        for entry in split_dir.iterdir():
            if not entry.is_dir():
                raise DataError(f"{entry}: unexpected file among class folders")
            files = list(entry.iterdir())
            if not files:
                raise DataError(f"{entry}: empty class folder")
            for f in files:
                check_image(f)
        class_sets[split] = sorted(p.name for p in split_dir.iterdir())
    if class_sets["train"] != class_sets["val"]:
        extra = set(class_sets["train"]) ^ set(class_sets["val"])
        raise DataError(f"{root}: train and val class folders differ: {sorted(extra)}")
    if len(class_sets["train"]) < 2:
        raise DataError(f"{root}: need at least 2 class folders, found {len(class_sets['train'])}")


def validate_data_root(root: str | Path, tasks: tuple[str, ...] = ("seg", "det", "cls")) -> None:
    """Validate each task's dataset under `root` (docs/spec.md §1 layout)."""
    root = Path(root)
    checks = {"seg": validate_voc, "det": validate_coco, "cls": validate_imagenette}
    for task in tasks:
        folder = root / TASK_INFO[task].folder
        if not folder.is_dir():
            raise DataError(f"{folder}: dataset folder missing")
        checks[task](folder)
