"""Experience replay from the task memory: ≤ 10 stored images per earlier task, ≤ 10 per step.

The buffer is chosen at the end of each task's own stage (see `onehead.memory`) and
travels in the checkpoint, so a stage never reads another task's training set.
"""
from __future__ import annotations

import torch

from ..data.common import RawSamples, collate
from ..data.transforms import train_transform
from .base import Strategy

MAX_PER_STEP = 10


class Replay(Strategy):
    name = "replay"

    def before_stage(self, model, ctx):
        self.per_step = min(self.params["replay_per_step"], MAX_PER_STEP)
        self.buffers = {}
        for task in ctx.learned:
            mem = ctx.memory.get(task, {})
            samples = mem.get("replay", [])
            if samples and self.per_step:
                self.buffers[task] = RawSamples(samples, train_transform(task, mem["image_size"]))
        self.generator = torch.Generator().manual_seed(ctx.seed + 1)

    def extra_batches(self, step):
        batches = []
        for task, buffer in self.buffers.items():
            n = min(self.per_step, len(buffer))
            picks = torch.randperm(len(buffer), generator=self.generator)[:n].tolist()
            batches.append((task, collate([buffer[i] for i in picks]), self.params["replay_weight"]))
        return batches
