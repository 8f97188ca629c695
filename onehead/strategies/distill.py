"""Output distillation terms shared by LwF and KD: each old task's channels vs a frozen teacher."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model.net import split_outputs


def task_distillation(student: torch.Tensor, teacher: torch.Tensor, layout, task: str,
                      temperature: float) -> torch.Tensor:
    """Distance between student and teacher outputs of one task (0 when they are equal)."""
    s, t = split_outputs(student, layout), split_outputs(teacher, layout)
    if task == "seg":
        return _soft_kl(s["seg"], t["seg"], temperature, dim=1)
    if task == "cls":
        return _soft_kl(s["cls"], t["cls"], temperature, dim=1)
    if task == "det":
        t_heat = t["det_heatmap"].sigmoid()
        heat = F.binary_cross_entropy_with_logits(s["det_heatmap"], t_heat) \
            - F.binary_cross_entropy_with_logits(t["det_heatmap"], t_heat)  # BCE minus its minimum
        weight = t_heat.amax(1, keepdim=True)  # box channels matter where the teacher sees objects
        box = (weight * (s["det_box"] - t["det_box"]).abs()).sum() / weight.sum().clamp(min=1e-6) / 4
        return heat + box
    raise ValueError(f"unknown task {task!r}")


def _soft_kl(student_logits, teacher_logits, temperature, dim):
    log_p = F.log_softmax(student_logits / temperature, dim=dim)
    q = F.softmax(teacher_logits / temperature, dim=dim)
    kl = (q * (q.clamp_min(1e-12).log() - log_p)).sum(dim)
    return kl.mean() * temperature ** 2


def frozen_copy(model):
    import copy

    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
