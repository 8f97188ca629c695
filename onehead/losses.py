"""Loss pieces shared by several tasks."""
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
