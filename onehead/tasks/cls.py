"""Image classification: pooled class channels, cross-entropy, top-1 over all classes."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..losses import soft_kl
from ..metrics import top1
from ..model.net import split_outputs


def loss(out: torch.Tensor, batch: dict, layout) -> dict[str, torch.Tensor]:
    return {"cls_ce": F.cross_entropy(split_outputs(out, layout)["cls"], batch["label"])}


def distillation(student: torch.Tensor, teacher: torch.Tensor, layout, temperature: float) -> torch.Tensor:
    """Softened class distributions of student vs teacher (0 when they are equal)."""
    return soft_kl(split_outputs(student, layout)["cls"], split_outputs(teacher, layout)["cls"], temperature)


def classes_present(target: dict) -> set[int]:
    return {int(target["label"])}


@torch.no_grad()
def evaluate(model, loader, dataset, device, max_det: int = 100) -> dict[str, float]:
    """Top-1 over `dataset` (`max_det` is detection's and unused here)."""
    preds, labels = [], []
    for batch in loader:
        logits = split_outputs(model(batch["image"].to(device)), model.layout)["cls"]
        preds.append(logits.argmax(1).cpu().numpy())
        labels.append(batch["label"].numpy())
    return {"top1": top1(np.concatenate(preds), np.concatenate(labels))}
