"""Elastic Weight Consolidation (Kirkpatrick et al., 2017), online variant (Schwarz et al., 2018).

Each finished task leaves a diagonal Fisher in the task memory (estimated on its own
data). At a new stage the anchors are the current weights and the Fisher of the earlier
tasks is summed, each older one decayed by `ewc_decay` per stage (1 = plain EWC).
Each task's Fisher is normalised to mean 1 so `ewc_lambda` means the same for every task.
"""
from __future__ import annotations

import torch

from .base import Strategy


class EWC(Strategy):
    name = "ewc"

    def before_stage(self, model, ctx):
        self.fisher, self.anchor = {}, {}
        decay = self.params["ewc_decay"]
        for age, task in enumerate(reversed(ctx.learned)):
            fisher = ctx.memory.get(task, {}).get("fisher", {})
            mean = torch.cat([f.flatten() for f in fisher.values()]).mean() if fisher else 1
            for name, f in fisher.items():
                scaled = (decay ** age) * f.to(ctx.device) / mean.clamp(min=1e-12)
                self.fisher[name] = self.fisher.get(name, 0) + scaled
        params = dict(model.named_parameters())
        self.anchor = {n: params[n].detach().clone() for n in self.fisher}

    def penalty(self, model) -> torch.Tensor:
        params = dict(model.named_parameters())
        total = sum(((params[n] - self.anchor[n]) ** 2 * f).sum() for n, f in self.fisher.items())
        return 0.5 * self.params["ewc_lambda"] * total

    def extra_loss(self, model, batch, out):
        return {"ewc": self.penalty(model)} if self.fisher else {}
