"""Semantic segmentation: cross-entropy plus a soft Jaccard term on the upsampled logits; mIoU at
each mask's original size."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..catalog import IGNORE_LABEL
from ..losses import soft_jaccard, soft_kl
from ..metrics import confusion_matrix, miou_from_confusion
from ..model.net import split_outputs


JACCARD_WEIGHT = 1.0  # the soft-IoU term: held-out mIoU up on every fold (EXPERIMENTS.md)


def loss(out: torch.Tensor, batch: dict, layout) -> dict[str, torch.Tensor]:
    logits = split_outputs(out, layout, image_size=batch["image"].shape[-2:])["seg"]
    return {"seg_ce": F.cross_entropy(logits, batch["mask"], ignore_index=IGNORE_LABEL),
            "seg_jaccard": JACCARD_WEIGHT * soft_jaccard(logits, batch["mask"], IGNORE_LABEL)}


def distillation(student: torch.Tensor, teacher: torch.Tensor, layout, temperature: float) -> torch.Tensor:
    """Softened per-pixel class distributions of student vs teacher (0 when they are equal)."""
    return soft_kl(split_outputs(student, layout)["seg"], split_outputs(teacher, layout)["seg"], temperature)


def classes_present(target: dict) -> set[int]:
    return {int(v) for v in target["mask"].unique() if v != IGNORE_LABEL}


@torch.no_grad()
def confusion(model, loader, dataset, device) -> np.ndarray:
    """The confusion matrix over `dataset`, the logits upsampled to each mask's original size."""
    n = model.layout.seg_classes
    conf = np.zeros((n, n), dtype=np.int64)
    for batch in loader:
        out = model(batch["image"].to(device))
        for i, index in enumerate(batch["index"]):
            gt = dataset.original_mask(index)
            conf += confusion_matrix(predict(out[i: i + 1], model.layout, gt.shape), gt, n, IGNORE_LABEL)
    return conf


def evaluate(model, loader, dataset, device, max_det: int = 100) -> dict[str, float]:
    """mIoU over `dataset` (`max_det` is detection's and unused here)."""
    return {"miou": miou_from_confusion(confusion(model, loader, dataset, device))[0]}


def predict(out: torch.Tensor, layout, orig_size: tuple[int, int]) -> np.ndarray:
    """Class-index mask at the original size for one image's head output (1×C×h×w)."""
    logits = split_outputs(out, layout)["seg"]
    return F.interpolate(logits, size=orig_size, mode="bilinear", align_corners=False)[0].argmax(0).cpu().numpy()
