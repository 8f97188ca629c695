"""Joint train/eval transforms (torchvision.transforms.v2 moves boxes and masks with the image).

Images come out as float in [0, 1] at `size`×`size`; the network normalises them itself.
Segmentation and detection see the whole image, squeezed to the square; classification is scored
as ImageNet classifiers are (Lite0's own included): the shorter side resized to `size` / 0.875 and
the central `size`×`size` kept, which keeps the object's proportions (docs/experiments).
"""
from __future__ import annotations

import torch
from torchvision.transforms import v2

CROP_SCALE = {"seg": (0.35, 1.0), "det": (0.5, 1.0), "cls": (0.35, 1.0)}


def train_transform(task: str, size: int) -> v2.Compose:
    steps = [v2.RandomResizedCrop(size, scale=CROP_SCALE[task], antialias=True),
             v2.RandomHorizontalFlip(),
             v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
             v2.ToDtype(torch.float32, scale=True)]
    if task == "det":
        steps.append(v2.SanitizeBoundingBoxes(min_size=2))
    return v2.Compose(steps)


CENTRE_CROP_RATIO = {"cls": 0.875}  # the standard ImageNet evaluation crop (224 of 256)


def eval_view(task: str, size: int) -> tuple[int, float | None]:
    """What `task` is shown when scored: its input size and centre-crop ratio (None: the whole image).
    Tasks with the same view can share one forward pass."""
    return size, CENTRE_CROP_RATIO.get(task)


def eval_transform(task: str, size: int) -> v2.Compose:
    size, crop_ratio = eval_view(task, size)
    if crop_ratio is not None:
        fit = [v2.Resize(round(size / crop_ratio), antialias=True), v2.CenterCrop(size)]
    else:
        fit = [v2.Resize((size, size), antialias=True)]
    return v2.Compose([*fit, v2.ToDtype(torch.float32, scale=True)])
