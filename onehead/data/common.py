"""Shared dataset machinery: decoding with clear errors, an in-memory cache, collation.

Every dataset exposes `raw(i)` -> (uint8 image, target of tv_tensors) and applies its
transform in `__getitem__`, so replay buffers can keep raw samples and reuse the same
augmentation. Decoded images are cached: the mini datasets fit easily in RAM.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms.v2.functional import pil_to_tensor

from ..errors import DataError


def read_rgb(path: Path) -> tv_tensors.Image:
    """Decode an image file to a 3×H×W uint8 tensor, naming the file on failure."""
    try:
        with Image.open(path) as im:
            return tv_tensors.Image(pil_to_tensor(im.convert("RGB")))
    except Exception as err:
        raise DataError(f"{path}: cannot decode image ({err})") from None


class TaskDataset(Dataset):
    """Base class: subclasses implement `__len__` and `load(i)`."""

    def __init__(self, transform=None):
        self.transform = transform
        self._cache: dict[int, tuple] = {}

    def load(self, index: int) -> tuple[tv_tensors.Image, dict]:
        raise NotImplementedError

    def raw(self, index: int) -> tuple[tv_tensors.Image, dict]:
        if index not in self._cache:
            self._cache[index] = self.load(index)
        return self._cache[index]

    def __getitem__(self, index: int) -> dict:
        image, target = self.raw(index)
        return finish_sample(image, target, self.transform, index)


def finish_sample(image, target: dict, transform, index: int) -> dict:
    """Apply the joint transform and add bookkeeping fields."""
    orig_size = tuple(image.shape[-2:])
    if transform is not None:
        image, target = transform(image, target)
    return {"image": image, **target, "index": index, "orig_size": orig_size}


class RawSamples(Dataset):
    """A list of raw (image, target) samples, e.g. a replay buffer, with a transform."""

    def __init__(self, samples: list[tuple], transform=None):
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        image, target = self.samples[index]
        return finish_sample(image, target, self.transform, index)


def collate(batch: list[dict]) -> dict:
    """Stack images (and masks / labels); keep detection boxes as per-image lists."""
    out = {"image": torch.stack([b["image"] for b in batch]),
           "index": [b["index"] for b in batch], "orig_size": [b["orig_size"] for b in batch]}
    if "mask" in batch[0]:
        out["mask"] = torch.stack([b["mask"].as_subclass(torch.Tensor).long() for b in batch])
    if "boxes" in batch[0]:
        out["boxes"] = [b["boxes"].as_subclass(torch.Tensor).float() for b in batch]
        out["labels"] = [b["labels"].long() for b in batch]
    if "label" in batch[0]:
        out["label"] = torch.tensor([int(b["label"]) for b in batch])
    return out


def to_plain(sample: tuple) -> dict:
    """A raw (image, target) sample as plain tensors and numbers, safe to store in a checkpoint."""
    image, target = sample
    plain = {k: (v.as_subclass(torch.Tensor) if torch.is_tensor(v) else v) for k, v in target.items()}
    return {"image": image.as_subclass(torch.Tensor), "target": plain}


def from_plain(stored: dict) -> tuple:
    """The raw sample `to_plain` stored, with the tv_tensors types the transforms need again."""
    image = tv_tensors.Image(stored["image"])
    target = dict(stored["target"])
    if "mask" in target:
        target["mask"] = tv_tensors.Mask(target["mask"])
    if "boxes" in target:
        target["boxes"] = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=tuple(image.shape[-2:]))
    return image, target
