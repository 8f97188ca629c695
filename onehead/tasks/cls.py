"""Image classification: pooled class channels, cross-entropy, top-1 over all classes."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..metrics import top1
from ..model.net import split_outputs

METRICS = ("top1",)


def loss(out: torch.Tensor, batch: dict, layout) -> dict[str, torch.Tensor]:
    return {"cls_ce": F.cross_entropy(split_outputs(out, layout)["cls"], batch["label"])}


@torch.no_grad()
def evaluate(model, loader, dataset, device) -> dict[str, float]:
    preds, labels = [], []
    for batch in loader:
        logits = split_outputs(model(batch["image"].to(device)), model.layout)["cls"]
        preds.append(logits.argmax(1).cpu().numpy())
        labels.append(batch["label"].numpy())
    return {"top1": top1(np.concatenate(preds), np.concatenate(labels))}
