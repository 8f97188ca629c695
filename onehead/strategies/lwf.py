"""Learning without Forgetting (Li & Hoiem, 2016): keep old tasks' outputs on the new images.

The model at the start of the stage is the teacher (sharing the student's backbone pass
when the backbone is frozen, as it then is the same network); on every current batch the
old tasks' channels (softened seg logits per pixel, detection heatmap and boxes, cls
logits) are pulled towards the teacher's. With replay, the same is done on the replayed
images (weight `lwf_replay_weight`), as in Dark Experience Replay (Buzzega et al., 2020):
there the teacher's outputs carry the old task at its own resolution and image domain.
"""
from __future__ import annotations

from .base import Strategy
from .distill import frozen_copy, task_distillation


class LwF(Strategy):
    name = "lwf"

    def before_stage(self, model, ctx):
        self.old_tasks = list(ctx.learned)
        self.teacher = frozen_copy(model) if self.old_tasks else None

    def output_terms(self, model, out, teacher_out, weight: float) -> dict:
        """One weighted distillation term per old task, named `<strategy>_<task>`."""
        T = self.params["lwf_temperature"]
        return {f"{self.name}_{t}": weight * task_distillation(out, teacher_out, model.layout, t, T)
                for t in self.old_tasks}

    def extra_loss(self, model, batch, out):
        return self.distil(model, batch, out, self.params["lwf_weight"])

    def replayed_loss(self, model, batch, out):
        return self.distil(model, batch, out, self.params["lwf_replay_weight"])

    def distil(self, model, batch, out, weight: float) -> dict:
        """Output terms against the teacher's pass over the same images (none at weight 0)."""
        if self.teacher is None or weight == 0:
            return {}
        teacher_out = self.teacher(batch["image"], backbone_feats=batch.get("backbone_features"))
        return self.output_terms(model, out, teacher_out, weight)
