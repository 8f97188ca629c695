"""Knowledge distillation from the previous stage's checkpoint (Hinton et al., 2015; FitNets).

Like LwF on the outputs of old tasks, plus a feature term: the neck's stride-8 features
of the student are pulled towards the frozen teacher's (mean squared error).
"""
from __future__ import annotations

import torch.nn.functional as F

from .lwf import LwF


class KD(LwF):
    name = "kd"

    def extra_loss(self, model, batch, out):
        if self.teacher is None:
            return {}
        images, shared = batch["image"], batch.get("backbone_features")
        teacher_feat = self.teacher.features(images, shared)
        terms = self.output_terms(model, out, self.teacher.head(teacher_feat), self.params["kd_weight"])
        if self.params["kd_feature_weight"]:
            student_feat = model.features(images, shared)
            terms["kd_feat"] = self.params["kd_feature_weight"] * F.mse_loss(student_feat, teacher_feat)
        return terms
