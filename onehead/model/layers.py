"""Layers whose channels are grouped by task, so each task owns its part of a shared layer.

A `TaskConv2d` is one convolution over one tensor; its output channels are split into task
groups in task order, and task t's group reads the input groups of tasks ≤ t only (the weight
is block lower-triangular). A later task therefore adds capacity that reads everything the
earlier tasks computed, while the earlier tasks' outputs never depend on it: training a task's
own group leaves every earlier task's output bit-identical. Each group's weights are their own
tensors, so a stage can train, freeze or scale the learning rate of one task's part.

An *isolated* task's group reads only its own input group (its weight is one diagonal block): it
neither uses nor depends on what the earlier tasks computed, so those can be tuned alone, and a pass
that needs only its outputs may skip the other groups (`skip`).

Each group is initialised from its own seed (the global seed, the layer's name and the task), so the
width, kernel or isolation of a later task's groups never changes an earlier task's initial weights
(a later task that reads an earlier group sees its width, nothing else).
"""
from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F
from torch import nn


def prefix(groups: dict[str, int], upto: str | None) -> list[str]:
    """The task groups up to and including `upto` (all when None), in order."""
    names = list(groups)
    return names if upto is None else names[: names.index(upto) + 1]


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """The memory format `x` is stored in (channels_last or the default), for tensors made to match it."""
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format


def group_seed(layer: str, task: str) -> int:
    """The seed of one task group's initial weights: the global seed (`torch.manual_seed`) and the group's name."""
    return (torch.initial_seed() + zlib.crc32(f"{layer}/{task}".encode())) % 2 ** 63


class TaskConv2d(nn.Module):
    """A k×k convolution with task-grouped output channels.

    `kernel`: one size for every group, or one per task (a task whose group needs no spatial context
    saves a 3×3 kernel's cost: a 1×1 group is the 3×3 one with only its centre taps).
    `in_groups`: the task groups of the input (each output group reads the groups up to its own
    task), or an int for an ungrouped input that every group reads whole (e.g. backbone features).
    `readers`: the tasks whose groups read this input at all (default: every task); the others'
    channels of the output are zero, so several such layers can be summed (an FPN whose tasks read
    different backbone maps).
    `isolated`: the tasks whose groups read only their own input group (grouped inputs only).
    `name`: the layer's name, which seeds its groups' initial weights (`group_seed`).
    """

    def __init__(self, in_groups: dict[str, int] | int, out_groups: dict[str, int], kernel: int | dict[str, int] = 1,
                 bias: bool = False, readers: tuple[str, ...] | None = None, isolated: tuple[str, ...] = (),
                 name: str = ""):
        super().__init__()
        self.in_groups, self.out_groups = in_groups, dict(out_groups)
        self.isolated = tuple(isolated) if isinstance(in_groups, dict) else ()
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict() if bias else None
        for task, out in self.out_groups.items():
            if readers is not None and task not in readers:
                continue
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(group_seed(name, task))
                size = kernel[task] if isinstance(kernel, dict) else kernel
                layer = nn.Conv2d(self.in_width(task), out, size, bias=bias)  # PyTorch's default initialisation
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

    def forward(self, x: torch.Tensor, upto: str | None = None, skip: frozenset[str] = frozenset()) -> torch.Tensor:
        """The output channels of the groups up to `upto`; those of the tasks in `skip` are zeros (for
        a pass whose readers never read them). The block-triangular weight is applied block by block,
        so the zero blocks cost nothing and a frozen group keeps no autograd graph."""
        return torch.cat([self._group(t, x, t in skip) for t in prefix(self.out_groups, upto)], dim=1)

    def _group(self, task: str, x: torch.Tensor, skipped: bool = False) -> torch.Tensor:
        if skipped or task not in self.weights:  # a group not computed, or one that does not read this input
            zeros = x.new_zeros(x.shape[0], self.out_groups[task], *x.shape[2:])
            return zeros.contiguous(memory_format=memory_format(x))  # as a computed group's: cat keeps the format
        w = self.weights[task]
        bias = self.biases[task] if self.biases is not None else None
        start = self.in_start(task)
        return F.conv2d(x[:, start: start + w.shape[1]], w, bias, padding=w.shape[-1] // 2)


class TaskBatchNorm2d(nn.Module):
    """BatchNorm with one set of statistics and affine weights per task group."""

    def __init__(self, groups: dict[str, int], **kw):
        super().__init__()
        self.groups = dict(groups)
        self.norms = nn.ModuleDict({t: nn.BatchNorm2d(c, **kw) for t, c in self.groups.items()})

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.norms[task].parameters())

    def forward(self, x: torch.Tensor, upto: str | None = None, skip: frozenset[str] = frozenset()) -> torch.Tensor:
        """Each group normalised by its own statistics; the groups of `skip` pass unchanged (zeros)."""
        tasks = prefix(self.groups, upto)
        parts = torch.split(x, [self.groups[t] for t in tasks], dim=1)
        return torch.cat([p if t in skip else self.norms[t](p) for t, p in zip(tasks, parts)], dim=1)
