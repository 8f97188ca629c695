"""What a finished stage leaves for later ones, whatever the strategy: the task memory.

* `replay`: at most 10 raw training samples, chosen greedily to cover as many classes as
  possible (ties broken by a seeded shuffle), stored as plain tensors;
* `fisher`: the diagonal empirical Fisher of the task loss on its own training images.

Computing it in every stage keeps stage 1 independent of the strategy params, so a
strategy change re-runs only the later stages.
"""
from __future__ import annotations

import random

import torch

from .catalog import MAX_REPLAY_PER_TASK
from .checkpoint import TaskMemory
from .data.common import collate, to_plain
from .tasks import TASKS


def choose_replay(dataset, task: str, size: int, seed: int) -> list[tuple]:
    """Greedy class coverage: each pick adds the most classes not yet in the buffer."""
    order = list(range(len(dataset)))
    random.Random(seed).shuffle(order)
    classes = {i: TASKS[task].classes_present(dataset.raw(i)[1]) for i in order}
    chosen, covered = [], set()
    for _ in range(min(size, MAX_REPLAY_PER_TASK, len(order))):
        best = max((i for i in order if i not in chosen), key=lambda i: len(classes[i] - covered))
        chosen.append(best)
        covered |= classes[best]
    return [dataset.raw(i) for i in chosen]


def estimate_fisher(model, dataset, task: str, samples: int, device) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the task loss, one image at a time, over `samples` images."""
    n = min(samples, len(dataset))
    if n == 0:
        return {}
    params = dict(model.named_parameters())
    grad_flags = {n: p.requires_grad for n, p in params.items()}
    for p in params.values():  # every weight gets a Fisher, whatever trains in later stages
        p.requires_grad_(True)
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
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


def build_task_memory(model, train_set, eval_set, task: str, memory_params, seed: int, device) -> TaskMemory:
    """`train_set` gives the replay samples (raw); `eval_set` (no augmentation) the Fisher."""
    replay = choose_replay(train_set, task, memory_params.replay_per_task, seed)
    return TaskMemory(replay=[to_plain(sample) for sample in replay],
                      fisher=estimate_fisher(model, eval_set, task, memory_params.fisher_samples, device))
