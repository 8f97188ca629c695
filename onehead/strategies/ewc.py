"""Elastic Weight Consolidation (Kirkpatrick et al., 2017), online variant (Schwarz et al., 2018).

Each finished task leaves a diagonal Fisher in the task memory (estimated on its own
data). At a new stage the anchors are the current weights and the Fisher of the earlier
tasks is summed, each older one decayed by `decay` per stage (1 = plain EWC).
Each task's Fisher is normalised to mean 1 so `lam` means the same for every task.
"""
from __future__ import annotations

import torch

from .base import Strategy


class EWC(Strategy):
    name = "ewc"

    def __init__(self, lam: float, decay: float = 1.0):
        self.lam, self.decay = lam, decay


    def before_stage(self, model, ctx):
        self.fisher = {}
        for age, task in enumerate(reversed(ctx.learned)):
            fisher = ctx.memory[task].fisher
            mean = torch.cat([f.flatten() for f in fisher.values()]).mean() if fisher else 1
            for name, f in fisher.items():
                scaled = (self.decay ** age) * f.to(ctx.device) / mean.clamp(min=1e-12)
                self.fisher[name] = self.fisher.get(name, 0) + scaled
        params = dict(model.named_parameters())
        self.anchor = {n: params[n].detach().clone() for n in self.fisher}

    def penalty(self, model) -> torch.Tensor:
        params = dict(model.named_parameters())
        total = sum(((params[n] - self.anchor[n]) ** 2 * f).sum() for n, f in self.fisher.items())
        return 0.5 * self.lam * total

    def extra_loss(self, model, current):
        return {"ewc": self.penalty(model)} if self.fisher else {}
