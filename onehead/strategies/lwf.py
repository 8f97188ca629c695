"""Learning without Forgetting (Li & Hoiem, 2016): keep old tasks' outputs on the new images.

The model at the start of the stage is the teacher (sharing the student's pass through the
frozen backbone); on every current batch the
old tasks' outputs are pulled towards the teacher's by each task's own `distillation`
(softened seg logits per pixel, detection heatmap and boxes, cls logits). With replay, the
same is done on the replayed images (`replay_weight`), as in Dark Experience Replay
(Buzzega et al., 2020): there the teacher's outputs carry the old task at its own
resolution and image domain.
"""
from __future__ import annotations

import copy

from ..tasks import TASKS
from .base import Strategy


def frozen_copy(model):
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


class LwF(Strategy):
    name = "lwf"

    def __init__(self, weight: float, temperature: float, replay_weight: float = 0.0):
        self.weight, self.temperature, self.replay_weight = weight, temperature, replay_weight


    def before_stage(self, model, ctx):
        self.old_tasks = list(ctx.learned)
        self.teacher = frozen_copy(model) if self.old_tasks else None

    def output_terms(self, model, out, teacher_out, weight: float) -> dict:
        """One weighted distillation term per old task, named `<strategy>_<task>`."""
        return {f"{self.name}_{t}": weight * TASKS[t].distillation(out, teacher_out, model.layout, self.temperature)
                for t in self.old_tasks}

    def extra_loss(self, model, current):
        return self.distil(model, current, replayed=False)

    def replayed_loss(self, model, replayed):
        return self.distil(model, replayed, replayed=True)

    def distil(self, model, fwd, replayed: bool) -> dict:
        """Output terms against the teacher's pass over the same images (none at weight 0)."""
        weight = self.replay_weight if replayed else self.weight
        if self.teacher is None or weight == 0:
            return {}
        teacher_out = self.teacher.run(fwd.images, self.old_tasks[-1], fwd.backbone_features).output
        return self.output_terms(model, fwd.output, teacher_out, weight)
