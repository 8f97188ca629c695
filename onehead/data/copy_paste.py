"""Copy-paste augmentation for detection (Ghiasi et al., 2021, "Simple Copy-Paste").

With probability `probability` a training image gets 1 to MAX_PASTED objects cut out of training
images along their COCO outlines: each drawn class-balanced (a class at random, then one of its
objects), rescaled by a random factor, maybe mirrored, and put at a random place. Objects it covers
keep the box of what stays visible, or are dropped when less than MIN_VISIBLE of them does. The
result then goes through the usual crop, flip and colour transform.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes

from .common import finish_sample

MAX_PASTED = 3
MIN_SIDE = 16            # px: smaller objects are not pasted
MIN_VISIBLE = 0.3        # share of an object's pixels that must stay visible for it to keep its box
SCALE = (0.5, 1.5)       # random size factor of a pasted object (capped so that it fits the image)


@dataclass
class Piece:
    """One object cut out of its image: its box's pixels and the object's mask within them."""
    pixels: torch.Tensor  # 3 × h × w uint8
    mask: torch.Tensor    # h × w bool
    label: int


def mask_box(mask: torch.Tensor) -> list[int]:
    """[x0, y0, x1, y1] of a non-empty mask's pixels (x1, y1 exclusive, as box corners)."""
    x0, y0, x1, y1 = (int(v) for v in masks_to_boxes(mask[None])[0])
    return [x0, y0, x1 + 1, y1 + 1]


def uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


def pick(items: list):
    return items[int(torch.randint(len(items), ()))]


class ObjectBank:
    """The training objects with an outline and sides of at least MIN_SIDE, by label, each as (image
    index, annotation); an object is cut out on its first draw."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.by_label: dict[int, list[tuple[int, dict]]] = {}
        for index in range(len(dataset)):
            for ann in dataset.objects(index):
                if ann.get("segmentation") and ann.get("area", 0) > 0 and min(ann["bbox"][2:]) >= MIN_SIDE:
                    label = dataset.label_of[ann["category_id"]]
                    self.by_label.setdefault(label, []).append((index, ann))
        self.labels = sorted(self.by_label)
        self._pieces: dict[int, Piece | None] = {}  # by annotation id

    def __bool__(self) -> bool:
        return bool(self.labels)

    def draw(self) -> Piece | None:
        """A random object of a random label (None when its outline covers no pixel)."""
        index, ann = pick(self.by_label[pick(self.labels)])
        if ann["id"] not in self._pieces:
            self._pieces[ann["id"]] = self.cut(index, ann)
        return self._pieces[ann["id"]]

    def cut(self, index: int, ann: dict) -> Piece | None:
        """Object `ann` of training image `index`: the pixels of its box and its outline's mask."""
        image, _ = self.dataset.raw(index)
        mask = self.dataset.object_mask(ann)
        if not mask.any():
            return None
        x0, y0, x1, y1 = mask_box(mask)
        return Piece(image[:, y0:y1, x0:x1].as_subclass(torch.Tensor).clone(), mask[y0:y1, x0:x1].clone(),
                     self.dataset.label_of[ann["category_id"]])


def place(piece: Piece, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The piece rescaled, maybe mirrored and put at a random place of a height × width canvas:
    (pixels, mask) of the canvas size."""
    h, w = piece.mask.shape
    fits = min(height / h, width / w)
    scale = min(uniform(*SCALE), fits)
    size = (max(1, min(height, round(h * scale))), max(1, min(width, round(w * scale))))
    pixels = F.interpolate(piece.pixels[None].float(), size=size, mode="bilinear", antialias=True,
                           align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    mask = F.interpolate(piece.mask[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0] > 0.5
    if float(torch.rand(())) < 0.5:
        pixels, mask = pixels.flip(-1), mask.flip(-1)
    y, x = int(torch.randint(height - size[0] + 1, ())), int(torch.randint(width - size[1] + 1, ()))
    canvas_pixels = torch.zeros(3, height, width, dtype=torch.uint8)
    canvas_mask = torch.zeros(height, width, dtype=torch.bool)
    canvas_pixels[:, y:y + size[0], x:x + size[1]] = pixels
    canvas_mask[y:y + size[0], x:x + size[1]] = mask
    return canvas_pixels, canvas_mask


def paste_objects(image, target: dict, masks: torch.Tensor, pieces: list[Piece]):
    """`image` with `pieces` pasted over it in turn; `target` updated for the occlusions (`masks`:
    the masks of its objects, in target order)."""
    height, width = image.shape[-2:]
    image = image.as_subclass(torch.Tensor).clone()
    boxes = target["boxes"].as_subclass(torch.Tensor).tolist()  # None: a pasted object's, from its mask
    labels = target["labels"].tolist()
    areas = [int(m.sum()) for m in masks]
    visible = list(masks)
    for piece in pieces:
        pixels, mask = place(piece, height, width)
        image = torch.where(mask, pixels, image)
        visible = [m & ~mask for m in visible] + [mask]
        boxes.append(None)
        labels.append(piece.label)
        areas.append(int(mask.sum()))
    kept_boxes, kept_labels = [], []
    for box, label, area, mask in zip(boxes, labels, areas, visible):
        left = int(mask.sum())
        if box is None or left != area:  # pasted, or covered in part: the box of what is visible
            if left == 0 or left < MIN_VISIBLE * area:
                continue
            box = mask_box(mask)
        kept_boxes.append(box)
        kept_labels.append(label)
    box_tv = tv_tensors.BoundingBoxes(torch.tensor(kept_boxes, dtype=torch.float32).reshape(-1, 4),
                                      format="XYXY", canvas_size=(height, width))
    return tv_tensors.Image(image), {"boxes": box_tv, "labels": torch.tensor(kept_labels, dtype=torch.long)}


class CopyPaste(Dataset):
    """A detection training set (`CocoDetection`, without transform) whose images get pasted
    objects with probability `probability`, then `transform`."""

    def __init__(self, dataset, probability: float, transform=None):
        self.dataset, self.probability, self.transform = dataset, probability, transform
        self.bank = ObjectBank(dataset)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        image, target = self.dataset.raw(index)
        if self.bank and float(torch.rand(())) < self.probability:
            pieces = [self.bank.draw() for _ in range(int(torch.randint(1, MAX_PASTED + 1, ())))]
            pieces = [p for p in pieces if p is not None]
            image, target = paste_objects(image, target, self.dataset.object_masks(index), pieces)
        return finish_sample(image, target, self.transform, index)
