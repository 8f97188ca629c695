"""Predictions as files other programs read: `predict --json` and its segmentation PNGs.

Per image: the detections in COCO results format (`image_id`, `category_id`, `bbox` as
[x, y, w, h] in original pixels, `score`, plus the image's file), ready for pycocotools'
`loadRes` once the images' lists are joined; the top-3 classes with probabilities; and the
path of a palette PNG (VOC colours, values = class index) of the segmentation at the
image's original size.

The checkpoint holds class names only, so the data's own COCO category ids are read from
the annotation files under `<data_root>/mini_coco_det/annotations/`, whose categories
(sorted by id, as in training) must carry exactly the checkpoint's detection names. An image
whose file name one of those files lists gets that file's `image_id`, so its detections
score against it directly; any other image gets an id above all of theirs.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .catalog import TASK_INFO
from .data.validate import load_coco_json
from .data.wordnet import readable
from .errors import DataError
from .io import atomic_path, write_json
from .report.draw import label_colours
from .tasks.det import to_coco_results

VOC_PALETTE = (label_colours(256) * 255).round().astype(np.uint8).ravel().tolist()


def annotation_files(data_root: str | Path) -> list[Path]:
    return sorted((Path(data_root) / TASK_INFO["det"].folder / "annotations").glob("instances_*.json"))


class CocoIds:
    """The data's COCO category ids of the checkpoint's detection classes, and its image ids."""

    def __init__(self, data_root: str | Path, det_names: list[str]):
        files = annotation_files(data_root)
        if not files:
            raise DataError(f"{Path(data_root) / TASK_INFO['det'].folder / 'annotations'}: no instances_*.json; "
                            "--json takes the COCO category ids from the data the checkpoint was trained on: "
                            "point --data_root at it")
        data = {path: load_coco_json(path) for path in files}
        self.category_ids = self._matching_categories(data, list(det_names))
        self.image_id_of = {im["file_name"]: im["id"] for d in data.values() for im in d["images"]}
        self.next_free = max(self.image_id_of.values(), default=0) + 1

    @staticmethod
    def _matching_categories(data: dict[Path, dict], det_names: list[str]) -> list[int]:
        for path, content in data.items():
            cats = sorted(content["categories"], key=lambda c: c["id"])
            if [c["name"] for c in cats] == det_names:
                return [c["id"] for c in cats]
        path, content = next(iter(data.items()))
        found = [c["name"] for c in sorted(content["categories"], key=lambda c: c["id"])]
        raise DataError(f"{path}: its categories {found} are not the checkpoint's detection classes {det_names}; "
                        "point --data_root at the data the checkpoint was trained on")

    def image_id(self, path: Path) -> int:
        """The id an annotation file gives this file name, else a fresh one."""
        if path.name not in self.image_id_of:
            self.image_id_of[path.name] = self.next_free
            self.next_free += 1
        return self.image_id_of[path.name]


def write_segmentation_png(mask: np.ndarray, target: Path) -> None:
    """The class-index mask as a palette PNG with the VOC colours (written atomically)."""
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette(VOC_PALETTE)
    with atomic_path(target) as tmp:
        image.save(tmp, format="PNG")


def image_record(path: Path, pred: dict, ids: CocoIds, cls_names: list[str], seg_png: Path, json_dir: Path) -> dict:
    """One image's entry of the JSON file."""
    height, width = pred["mask"].shape
    image_id = ids.image_id(path)
    dets = {k: v.cpu() for k, v in pred["dets"].items()}
    detections = [{"image_file": str(path), **d, "bbox": [round(v, 2) for v in d["bbox"]],
                   "score": round(d["score"], 5)} for d in to_coco_results(dets, image_id, ids.category_ids)]
    return {"file": str(path), "image_id": image_id, "width": width, "height": height,
            "detections": detections,
            "classification": [{"class": cls_names[i], "name": readable(cls_names[i]), "probability": round(p, 5)}
                               for i, p in pred["top3"]],
            "segmentation_png": os.path.relpath(seg_png, json_dir)}


def write_predictions_json(target: Path, weights: str, ckpt, ids: CocoIds, records: list[dict]) -> None:
    """The whole file: the checkpoint, what it learned, the class lists the entries refer to, the images."""
    write_json(target, {
        "weights": str(weights),
        "learned": list(ckpt.learned),
        "categories": [{"id": cid, "name": name} for cid, name in zip(ids.category_ids, ckpt.classes["det"])],
        "segmentation_classes": list(ckpt.classes["seg"]),
        "images": records})
