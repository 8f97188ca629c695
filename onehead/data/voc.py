"""Mini-VOC-Seg: `{split}/JPEGImages/*.jpg` with palette masks `{split}/SegmentationClass/*.png`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors

from .common import TaskDataset, read_rgb
from .fetch import DataError

VOC_CLASS_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
                   "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
                   "pottedplant", "sheep", "sofa", "train", "tvmonitor")
IGNORE_INDEX = 255


def read_mask(path: Path) -> np.ndarray:
    """A VOC class-index mask as an H×W uint8 array (palette indices, 255 = void)."""
    try:
        with Image.open(path) as im:
            if im.mode != "P":
                raise DataError(f"{path}: mask must be a palette ('P') PNG, got mode {im.mode}")
            mask = np.array(im)
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{path}: cannot read mask ({err})") from None
    bad = np.setdiff1d(np.unique(mask), np.r_[np.arange(len(VOC_CLASS_NAMES)), IGNORE_INDEX])
    if bad.size:
        raise DataError(f"{path}: mask values {bad.tolist()} outside 0–20 and 255")
    return mask


class VocSegmentation(TaskDataset):
    task = "seg"
    class_names = VOC_CLASS_NAMES

    def __init__(self, root: str | Path, split: str, transform=None):
        super().__init__(transform)
        self.root = Path(root) / "mini_voc_seg" / split
        self.ids = sorted(p.stem for p in (self.root / "JPEGImages").glob("*.jpg"))
        if not self.ids:
            raise DataError(f"{self.root / 'JPEGImages'}: no .jpg images")

    def __len__(self) -> int:
        return len(self.ids)

    def mask_path(self, index: int) -> Path:
        return self.root / "SegmentationClass" / f"{self.ids[index]}.png"

    def load(self, index: int):
        img_path = self.root / "JPEGImages" / f"{self.ids[index]}.jpg"
        image = read_rgb(img_path)
        mask = read_mask(self.mask_path(index))
        if mask.shape != tuple(image.shape[-2:]):
            raise DataError(f"{self.mask_path(index)}: mask size {mask.shape[::-1]} differs from "
                            f"image size {tuple(image.shape[-2:])[::-1]}")
        return image, {"mask": tv_tensors.Mask(torch.from_numpy(mask).long())}

    def original_mask(self, index: int) -> np.ndarray:
        return read_mask(self.mask_path(index))
