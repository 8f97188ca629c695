"""Mini-VOC-Seg: `{split}/JPEGImages/*.jpg` with palette masks `{split}/SegmentationClass/*.png`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors

from ..catalog import IGNORE_LABEL, TASK_INFO
from ..errors import DataError
from .common import TaskDataset, read_rgb

VOC_CLASS_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
                   "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
                   "pottedplant", "sheep", "sofa", "train", "tvmonitor")


def read_mask(path: Path, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """A VOC class-index mask as an H×W uint8 array (palette indices, 255 = void), checked:
    a palette PNG, values 0–20 or 255, and (if given) the (width, height) of its image."""
    try:
        with Image.open(path) as im:
            im.load()
            mode, mask = im.mode, np.array(im)
    except Exception as err:  # PIL raises many types for bad files
        raise DataError(f"{path}: not a readable mask ({err})") from None
    if mode != "P":
        raise DataError(f"{path}: mask must be a palette ('P') PNG, got mode {mode}")
    if image_size is not None and mask.shape[::-1] != tuple(image_size):
        raise DataError(f"{path}: mask size {mask.shape[::-1]} differs from its image size {tuple(image_size)}")
    bad = np.setdiff1d(np.unique(mask), np.r_[np.arange(len(VOC_CLASS_NAMES)), IGNORE_LABEL])
    if bad.size:
        raise DataError(f"{path}: mask values {bad.tolist()} outside 0–{len(VOC_CLASS_NAMES) - 1} and {IGNORE_LABEL}")
    return mask


class VocSegmentation(TaskDataset):
    class_names = VOC_CLASS_NAMES

    def __init__(self, root: str | Path, split: str, transform=None):
        super().__init__(transform)
        self.root = Path(root) / TASK_INFO["seg"].folder / split
        self.ids = sorted(p.stem for p in (self.root / "JPEGImages").glob("*.jpg"))
        if not self.ids:
            raise DataError(f"{self.root / 'JPEGImages'}: no .jpg images")

    @staticmethod
    def has_split(root: str | Path, split: str) -> bool:
        return (Path(root) / TASK_INFO["seg"].folder / split).is_dir()

    def __len__(self) -> int:
        return len(self.ids)

    def mask_path(self, index: int) -> Path:
        return self.root / "SegmentationClass" / f"{self.ids[index]}.png"

    def load(self, index: int):
        image = read_rgb(self.root / "JPEGImages" / f"{self.ids[index]}.jpg")
        mask = read_mask(self.mask_path(index), tuple(image.shape[-2:])[::-1])
        return image, {"mask": tv_tensors.Mask(torch.from_numpy(mask).long())}
