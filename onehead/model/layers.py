"""Layers whose channels are grouped by task, so each task owns its part of a shared layer.

A `TaskConv2d` is one convolution over one tensor; its output channels are split into task
groups in task order, and task t's group reads the input groups of tasks ≤ t only (the weight
is block lower-triangular). A later task therefore adds capacity that reads everything the
earlier tasks computed, while the earlier tasks' outputs never depend on it: training a task's
own group leaves every earlier task's output bit-identical. Each group's weights are their own
tensors, so a stage can train, freeze or scale the learning rate of one task's part.

An *isolated* task's group reads only its own input group (its weight is one diagonal block): it
neither uses nor depends on what the earlier tasks computed, so those can be tuned alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def prefix(groups: dict[str, int], upto: str | None) -> list[str]:
    """The task groups up to and including `upto` (all when None), in order."""
    names = list(groups)
    return names if upto is None else names[: names.index(upto) + 1]


class TaskConv2d(nn.Module):
    """A k×k convolution with task-grouped output channels.

    `in_groups`: the task groups of the input (each output group reads the groups up to its own
    task), or an int for an ungrouped input that every group reads whole (e.g. backbone features).
    `readers`: the tasks whose groups read this input at all (default: every task); the others'
    channels of the output are zero, so several such layers can be summed (an FPN whose tasks read
    different backbone maps).
    `isolated`: the tasks whose groups read only their own input group (grouped inputs only).
    """

    def __init__(self, in_groups: dict[str, int] | int, out_groups: dict[str, int], kernel: int = 1,
                 bias: bool = False, readers: tuple[str, ...] | None = None, isolated: tuple[str, ...] = ()):
        super().__init__()
        self.in_groups, self.out_groups, self.kernel = in_groups, dict(out_groups), kernel
        self.isolated = tuple(isolated) if isinstance(in_groups, dict) else ()
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict() if bias else None
        for task, out in self.out_groups.items():
            if readers is not None and task not in readers:
                continue
            fan_in = self.in_width(task)
            layer = nn.Conv2d(fan_in, out, kernel, bias=bias)  # PyTorch's default initialisation
            self.weights[task] = nn.Parameter(layer.weight.detach().clone())
            if bias:
                self.biases[task] = nn.Parameter(layer.bias.detach().clone())

    def in_width(self, task: str) -> int:
        """How many input channels `task`'s group reads."""
        if isinstance(self.in_groups, int):
            return self.in_groups
        if task in self.isolated:
            return self.in_groups[task]
        return sum(self.in_groups[t] for t in prefix(self.in_groups, task))

    def in_start(self, task: str) -> int:
        """The first input channel `task`'s group reads (its own group's when isolated, else 0)."""
        if task not in self.isolated:
            return 0
        return sum(self.in_groups[t] for t in prefix(self.in_groups, task)[:-1])

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        params = [self.weights[task]] if task in self.weights else []
        return params + ([self.biases[task]] if self.biases is not None and task in self.biases else [])

    def forward(self, x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        """The output channels of the groups up to `upto`. The block-triangular weight is applied
        block by block, so the zero blocks cost nothing and a frozen group keeps no autograd graph."""
        return torch.cat([self._group(t, x) for t in prefix(self.out_groups, upto)], dim=1)

    def _group(self, task: str, x: torch.Tensor) -> torch.Tensor:
        if task not in self.weights:  # a group that does not read this input: zeros
            return x.new_zeros(x.shape[0], self.out_groups[task], *x.shape[2:])
        w = self.weights[task]
        bias = self.biases[task] if self.biases is not None else None
        start = self.in_start(task)
        return F.conv2d(x[:, start: start + w.shape[1]], w, bias, padding=self.kernel // 2)


class TaskBatchNorm2d(nn.Module):
    """BatchNorm with one set of statistics and affine weights per task group."""

    def __init__(self, groups: dict[str, int], **kw):
        super().__init__()
        self.groups = dict(groups)
        self.norms = nn.ModuleDict({t: nn.BatchNorm2d(c, **kw) for t, c in self.groups.items()})

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.norms[task].parameters())

    def forward(self, x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        tasks = prefix(self.groups, upto)
        parts = torch.split(x, [self.groups[t] for t in tasks], dim=1)
        return torch.cat([self.norms[t](p) for t, p in zip(tasks, parts)], dim=1)
