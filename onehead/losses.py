"""Loss pieces shared by several tasks, and the soft Jaccard (IoU) loss of segmentation."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
            dim: int = 1) -> torch.Tensor:
    """KL(teacher ‖ student) of temperature-softened distributions along `dim`, times T² (Hinton)."""
    log_p = F.log_softmax(student_logits / temperature, dim=dim)
    q = F.softmax(teacher_logits / temperature, dim=dim)
    kl = (q * (q.clamp_min(1e-12).log() - log_p)).sum(dim)
    return kl.mean() * temperature ** 2


def soft_jaccard(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """1 − the mean soft IoU of the classes present in `target` (B×H×W), softmax probabilities
    standing in for the predicted masks (Rahman & Wang, 2016); pixels at `ignore_index` count nowhere.

    Cross-entropy weighs every pixel alike, so large classes dominate it; this term weighs each
    present class alike, as mIoU does. The intersections come from the true class's probability
    per pixel (`gather`), not from a one-hot tensor of C times the mask's size.
    """
    valid = target != ignore_index
    labels = target.where(valid, torch.zeros_like(target))
    prob = logits.softmax(1) * valid[:, None]
    true_prob = prob.gather(1, labels[:, None])[:, 0][valid]
    classes, valid_labels = logits.shape[1], labels[valid]
    inter = torch.zeros(classes, dtype=prob.dtype, device=prob.device).index_add_(0, valid_labels, true_prob)
    area = torch.bincount(valid_labels, minlength=classes).to(prob.dtype)
    union = prob.sum((0, 2, 3)) + area - inter
    present = area > 0
    if not present.any():
        return logits.sum() * 0
    return 1 - (inter[present] / union[present]).mean()
