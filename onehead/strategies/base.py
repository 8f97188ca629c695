"""The strategy interface (Avalanche-style hooks) and a combinator for several strategies.

A stage calls, in order: `before_stage` once; per training step `extra_batches(step)`
(old-task `(task, batch, weight)` triples whose loss is added, e.g. replay), `replayed_loss(model,
replayed)` on the pass over each of those batches (e.g. LwF on replayed images) and
`extra_loss(model, current)` on the pass over the current batch (regularisers such as EWC, LwF,
KD); `after_stage` once. `ctx` is a `StageContext` with the task memory of earlier stages.
The base class is the no-op strategy: plain training.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model.net import ForwardPass


@dataclass
class StageContext:
    task: str                      # the task this stage trains
    learned: list[str]             # tasks learned in earlier stages
    memory: dict                   # task -> its `memory.TaskMemory` (replay samples, Fisher)
    image_size: dict[str, int]     # task -> the resolution it was trained at
    device: torch.device
    seed: int = 0


class Strategy:
    name = "base"

    def before_stage(self, model, ctx: StageContext) -> None:
        pass

    def extra_batches(self, step: int) -> list[tuple[str, dict, float]]:
        return []

    def extra_loss(self, model, current: ForwardPass) -> dict[str, torch.Tensor]:
        return {}

    def replayed_loss(self, model, replayed: ForwardPass) -> dict[str, torch.Tensor]:
        return {}

    def after_stage(self, model, ctx: StageContext) -> None:
        pass


class Combined(Strategy):
    """Runs several strategies side by side; their extra batches and losses add up."""

    def __init__(self, strategies: list[Strategy]):
        self.strategies = strategies
        self.name = "+".join(s.name for s in strategies)

    def before_stage(self, model, ctx):
        for s in self.strategies:
            s.before_stage(model, ctx)

    def extra_batches(self, step):
        return [b for s in self.strategies for b in s.extra_batches(step)]

    def extra_loss(self, model, current):
        return {k: v for s in self.strategies for k, v in s.extra_loss(model, current).items()}

    def replayed_loss(self, model, replayed):
        return {k: v for s in self.strategies for k, v in s.replayed_loss(model, replayed).items()}

    def after_stage(self, model, ctx):
        for s in self.strategies:
            s.after_stage(model, ctx)
