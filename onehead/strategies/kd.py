"""Knowledge distillation from the previous stage's checkpoint (Hinton et al., 2015; FitNets).

Like LwF on the outputs of old tasks, plus a feature term: the neck's stride-8 features
of the student are pulled towards the frozen teacher's (mean squared error).
"""
from __future__ import annotations

import torch.nn.functional as F

from .lwf import LwF


class KD(LwF):
    name = "kd"

    def __init__(self, weight: float, feature_weight: float, temperature: float, replay_weight: float = 0.0):
        super().__init__(weight, temperature, replay_weight)
        self.feature_weight = feature_weight


    def extra_loss(self, model, current):
        if self.teacher is None:
            return {}
        teacher = self.teacher.run(current.images, self.old_tasks[-1], current.backbone_features)
        terms = self.output_terms(model, current.output, teacher.output, self.weight)
        if self.feature_weight:
            terms["kd_feat"] = self.feature_weight * F.mse_loss(current.neck, teacher.neck)
        return terms
