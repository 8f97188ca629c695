"""Knowledge distillation from the previous stage's checkpoint (Hinton et al., 2015; FitNets).

Like LwF on the outputs of old tasks, plus a feature term: the neck's stride-8 features
of the student are pulled towards the frozen teacher's (mean squared error).
"""
from __future__ import annotations

import torch.nn.functional as F

from .base import Strategy
from .distill import frozen_copy, task_distillation


class KD(Strategy):
    name = "kd"

    def before_stage(self, model, ctx):
        self.old_tasks = list(ctx.learned)
        self.teacher = frozen_copy(model) if self.old_tasks else None

    def extra_loss(self, model, batch, out):
        if self.teacher is None:
            return {}
        images, shared = batch["image"], batch.get("backbone_features")
        t_feat = self.teacher.features(images, shared)
        t_out = self.teacher.head(t_feat)
        terms = {f"kd_{t}": self.params["kd_weight"] * task_distillation(
            out, t_out, model.layout, t, self.params["lwf_temperature"]) for t in self.old_tasks}
        if self.params["kd_feature_weight"]:
            student_feat = model.features(images, shared)
            terms["kd_feat"] = self.params["kd_feature_weight"] * F.mse_loss(student_feat, t_feat)
        return terms
