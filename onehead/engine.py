"""Training and evaluation loops; both return plain dicts of numbers."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from .data.common import collate
from .data.datasets import build_dataset
from .data.transforms import eval_transform
from .model.layers import SharedBatchNorm2d
from .runtime import progress
from .tasks import TASKS


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device) if torch.is_tensor(v) else
                [t.to(device) for t in v] if k in ("boxes", "labels") else v) for k, v in batch.items()}


def set_train_mode(model, frozen_bn: bool) -> None:
    """model.train(), but BatchNorms of frozen parts (and the shared BatchNorms if `frozen_bn`) keep
    their statistics (eval mode)."""
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            params_frozen = not any(p.requires_grad for p in module.parameters())
            if params_frozen or (frozen_bn and isinstance(module, SharedBatchNorm2d)):
                module.eval()


class TrainStep(nn.Module):
    """The loss terms of one training step: the current task, replayed batches, strategy terms.

    A step may run the network several times (replay, KD); as one module it is a single
    forward per backward, which is what DistributedDataParallel needs when it wraps it.
    """

    def __init__(self, model, task: str, strategy, device, teacher=None):
        super().__init__()
        self.model, self.task, self.device = model, task, device
        self.strategy = strategy  # a plain attribute: teachers stay outside DDP's parameters
        self.teacher = teacher    # optional: (model, forward pass) -> loss terms for the current task

    def forward(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        model = self.model
        current = model.run(batch["image"], upto=self.task)  # later tasks' channels are never needed
        terms = dict(TASKS[self.task].loss(current.output, batch, model.layout))
        if self.teacher is not None:
            terms.update(self.teacher(model, current))
        for old_task, old_batch, weight in self.strategy.extra_batches(step):
            old_batch = to_device(old_batch, self.device)
            replayed = model.run(old_batch["image"], upto=self.task)
            for name, value in TASKS[old_task].loss(replayed.output, old_batch, model.layout).items():
                terms[f"replay_{name}"] = weight * value
            for name, value in self.strategy.replayed_loss(model, replayed).items():
                terms[f"replay_{old_task}_{name}"] = value
        terms.update(self.strategy.extra_loss(model, current))
        return terms


@dataclass
class Training:
    """What a run's epochs need: its `TrainStep` (or DDP around one), batches, optimizer and schedule."""
    step: nn.Module
    loader: DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    frozen_bn: bool  # the shared BatchNorms keep their statistics


def train_one_epoch(training: Training, desc: str) -> dict[str, float]:
    """One pass over the training batches; the mean of each loss term."""
    step_module = getattr(training.step, "module", training.step)
    set_train_mode(step_module.model, training.frozen_bn)
    sums, count = defaultdict(float), 0
    bar = progress(training.loader, desc)
    for batch in bar:
        step = training.scheduler.last_epoch  # steps taken so far in this run (one scheduler step each)
        terms = training.step(to_device(batch, step_module.device), step)
        loss = sum(terms.values())
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {step} ({ {k: float(v) for k, v in terms.items()} })")
        training.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        training.optimizer.step()
        training.scheduler.step()
        count += 1
        sums["loss"] += loss.item()
        for name, value in terms.items():
            sums[name] += float(value.detach())
        bar.set_postfix(loss=f"{sums['loss'] / count:.3f}")
    return {k: v / max(count, 1) for k, v in sums.items()}


def eval_loader(dataset, desc: str, batch_size: int = 8):
    """`dataset` (with the eval transform) in order, in the batches every score is computed on.
    The loader draws its worker seed from a generator of its own, not torch's global one, so scoring
    mid-training leaves the training run's random draws (augmentation) as they were."""
    return progress(DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate,
                               generator=torch.Generator()), desc)


@torch.no_grad()
def evaluate(model, task: str, dataset, device, max_det: int = 100) -> dict[str, float]:
    """The docs/spec.md §4 metric of `task` on `dataset` (which must use the eval transform)."""
    model.eval()
    return TASKS[task].evaluate(model, eval_loader(dataset, f"eval {task}"), dataset, device, max_det=max_det)


def score_tasks(model, tasks: list[str], image_size: dict[str, int], data_root: str | Path, split: str, device,
                max_det: int = 100) -> dict[str, dict[str, float]]:
    """docs/spec.md §4 metrics of `model` on `split` for each task, each at the resolution it was trained at."""
    model.to(device)
    return {task: evaluate(model, task, build_dataset(task, data_root, split, eval_transform(task, image_size[task])),
                           device, max_det=max_det) for task in tasks}
