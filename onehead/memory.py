"""What a finished stage leaves for later ones, whatever the strategy: the task memory.

* `replay`: at most 10 raw training samples, chosen greedily to cover as many classes as
  possible (ties broken by a seeded shuffle);
* `fisher`: the diagonal empirical Fisher of the task loss on its own training images.

Computing it in every stage keeps stage 1 independent of the strategy params, so a
strategy change re-runs only the later stages.
"""
from __future__ import annotations

import random

import torch

from .data.common import collate
from .tasks import TASKS

MAX_REPLAY = 10


def sample_classes(target: dict) -> set[int]:
    if "mask" in target:
        return {int(v) for v in target["mask"].unique() if v != 255}
    if "labels" in target:
        return {int(v) for v in target["labels"]}
    return {int(target["label"])}


def choose_replay(dataset, size: int, seed: int) -> list[tuple]:
    """Greedy class coverage: each pick adds the most classes not yet in the buffer."""
    order = list(range(len(dataset)))
    random.Random(seed).shuffle(order)
    classes = {i: sample_classes(dataset.raw(i)[1]) for i in order}
    chosen, covered = [], set()
    for _ in range(min(size, MAX_REPLAY, len(order))):
        best = max((i for i in order if i not in chosen), key=lambda i: len(classes[i] - covered))
        chosen.append(best)
        covered |= classes[best]
    return [dataset.raw(i) for i in chosen]


def estimate_fisher(model, dataset, task: str, samples: int, device) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the task loss, one image at a time, over `samples` images."""
    params = dict(model.named_parameters())
    grad_flags = {n: p.requires_grad for n, p in params.items()}
    for p in params.values():  # every weight gets a Fisher, whatever trains in later stages
        p.requires_grad_(True)
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    n = min(samples, len(dataset))
    if n == 0:
        return {}
    was_training = model.training
    model.eval()
    for i in range(n):
        batch = collate([dataset[i]])
        batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        model.zero_grad(set_to_none=True)
        out = model(batch["image"])
        sum(TASKS[task].loss(out, batch, model.layout).values()).backward()
        for name, p in params.items():
            if p.grad is not None:
                fisher[name] += p.grad.detach() ** 2 / n
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    for n, p in params.items():
        p.requires_grad_(grad_flags[n])
    return {name: f.cpu() for name, f in fisher.items() if f.any()}


def build_task_memory(model, train_set, eval_set, task: str, memory_params: dict, image_size: int,
                      seed: int, device) -> dict:
    """`train_set` gives the replay samples (raw); `eval_set` (no augmentation) the Fisher."""
    return {"replay": choose_replay(train_set, memory_params["replay_per_task"], seed),
            "fisher": estimate_fisher(model, eval_set, task, memory_params["fisher_samples"], device),
            "image_size": image_size}
