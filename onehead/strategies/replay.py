"""Experience replay from the task memory: ≤ 10 stored images per earlier task, ≤ 10 per step.

The buffer is chosen at the end of each task's own stage (see `onehead.memory`) and
travels in the checkpoint, so a stage never reads another task's training set.
"""
from __future__ import annotations

import torch

from ..catalog import MAX_REPLAY_PER_TASK
from ..data.common import RawSamples, collate, from_plain
from ..data.transforms import train_transform
from .base import Strategy


class Replay(Strategy):
    name = "replay"

    def __init__(self, per_step: int, weight: float = 1.0):
        self.per_step, self.weight = min(per_step, MAX_REPLAY_PER_TASK), weight


    def before_stage(self, model, ctx):
        self.buffers = {}
        for task in ctx.learned:
            samples = [from_plain(s) for s in ctx.memory[task].replay]
            if samples and self.per_step:
                self.buffers[task] = RawSamples(samples, train_transform(task, ctx.image_size[task]))
        self.generator = torch.Generator().manual_seed(ctx.seed + 1)

    def extra_batches(self, step):
        batches = []
        for task, buffer in self.buffers.items():
            n = min(self.per_step, len(buffer))
            picks = torch.randperm(len(buffer), generator=self.generator)[:n].tolist()
            batches.append((task, collate([buffer[i] for i in picks]), self.weight))
        return batches
