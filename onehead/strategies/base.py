"""The strategy interface (Avalanche-style hooks) and a combinator for several strategies.

A stage calls, in order: `before_stage` once; per training step `extra_batches(step)`
(old-task `(task, batch, weight)` triples whose loss is added, e.g. replay), `replayed_loss(model,
batch, out)` on each of those batches (e.g. LwF on replayed images) and `extra_loss(model, batch,
out)` on the current batch (regularisers such as EWC, LwF, KD); `after_stage` once. `state_dict` travels in the
checkpoint. `ctx` is a `StageContext` with the task memory of earlier stages.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class StageContext:
    task: str                      # the task this stage trains
    learned: list[str]             # tasks learned in earlier stages
    memory: dict                   # task -> {"replay": raw samples, "fisher": {...}, "image_size": int}
    device: torch.device
    seed: int = 0
    extras: dict = field(default_factory=dict)


class Strategy:
    name = "base"

    def __init__(self, params: dict):
        self.params = params

    def before_stage(self, model, ctx: StageContext) -> None:
        pass

    def extra_batches(self, step: int) -> list[tuple[str, dict, float]]:
        return []

    def extra_loss(self, model, batch: dict, out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def replayed_loss(self, model, batch: dict, out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}

    def after_stage(self, model, ctx: StageContext) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Combined(Strategy):
    """Runs several strategies side by side; their extra batches and losses add up."""

    def __init__(self, strategies: list[Strategy]):
        super().__init__({})
        self.strategies = strategies
        self.name = "+".join(s.name for s in strategies)

    def before_stage(self, model, ctx):
        for s in self.strategies:
            s.before_stage(model, ctx)

    def extra_batches(self, step):
        return [b for s in self.strategies for b in s.extra_batches(step)]

    def extra_loss(self, model, batch, out):
        return {k: v for s in self.strategies for k, v in s.extra_loss(model, batch, out).items()}

    def replayed_loss(self, model, batch, out):
        return {k: v for s in self.strategies for k, v in s.replayed_loss(model, batch, out).items()}

    def after_stage(self, model, ctx):
        for s in self.strategies:
            s.after_stage(model, ctx)

    def state_dict(self):
        return {s.name: s.state_dict() for s in self.strategies}

    def load_state_dict(self, state):
        for s in self.strategies:
            s.load_state_dict(state.get(s.name, {}))
