"""Mini-COCO-Det: `{split}/images/*.jpg` with `annotations/instances_{split}.json`.

Categories come from the file (sorted by id) and map to contiguous labels 0..C-1.
Crowd annotations are left out of training targets; COCOeval handles them at scoring.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch
from torchvision import tv_tensors

from ..catalog import TASK_INFO
from ..errors import DataError
from .common import TaskDataset, read_rgb
from .validate import load_coco_json


class CocoDetection(TaskDataset):
    def __init__(self, root: str | Path, split: str, transform=None):
        from pycocotools.coco import COCO

        super().__init__(transform)
        self.root = Path(root) / TASK_INFO["det"].folder
        self.ann_file = self.root / "annotations" / f"instances_{split}.json"
        load_coco_json(self.ann_file)  # clear errors before pycocotools sees it
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco = COCO(str(self.ann_file))
        self.image_dir = self.root / split / "images"
        self.image_ids = sorted(self.coco.getImgIds())
        cats = sorted(self.coco.loadCats(self.coco.getCatIds()), key=lambda c: c["id"])
        self.category_ids = [c["id"] for c in cats]
        self.class_names = tuple(c["name"] for c in cats)
        self.label_of = {cid: i for i, cid in enumerate(self.category_ids)}

    @staticmethod
    def has_split(root: str | Path, split: str) -> bool:
        return (Path(root) / TASK_INFO["det"].folder / "annotations" / f"instances_{split}.json").is_file()

    def __len__(self) -> int:
        return len(self.image_ids)

    def objects(self, index: int) -> list[dict]:
        """The image's annotations that are training targets (not crowds), in target order."""
        return [a for a in self.coco.loadAnns(self.coco.getAnnIds(imgIds=self.image_ids[index]))
                if not a.get("iscrowd", 0)]

    def object_masks(self, index: int) -> torch.Tensor:
        """N × H × W bool masks of `objects(index)`: their polygons, or their boxes where an
        annotation has no outline."""
        info = self.coco.imgs[self.image_ids[index]]
        masks = [self.object_mask(ann) for ann in self.objects(index)]
        return torch.stack(masks) if masks else torch.zeros(0, info["height"], info["width"], dtype=torch.bool)

    def object_mask(self, ann: dict) -> torch.Tensor:
        """H × W bool mask of one annotation of this file: its polygon, or its box without one."""
        info = self.coco.imgs[ann["image_id"]]
        if not ann.get("segmentation"):
            mask = torch.zeros(info["height"], info["width"], dtype=torch.bool)
            x, y, w, h = (round(v) for v in ann["bbox"])
            mask[y:y + h, x:x + w] = True
            return mask
        try:
            return torch.from_numpy(self.coco.annToMask(ann)).bool()
        except Exception as err:
            raise DataError(f"{self.ann_file}: annotation {ann.get('id')}: unreadable segmentation "
                            f"({type(err).__name__}: {err})") from None

    def load(self, index: int):
        info = self.coco.loadImgs(self.image_ids[index])[0]
        image = read_rgb(self.image_dir / info["file_name"])
        anns = self.objects(index)
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                             dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([self.label_of[a["category_id"]] for a in anns], dtype=torch.long)
        box_tv = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=tuple(image.shape[-2:]))
        return image, {"boxes": box_tv, "labels": labels}
