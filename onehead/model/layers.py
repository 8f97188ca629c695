"""The hidden layers of the neck and head, in two designs (`model.head`).

* **shared** (the default): `SharedConv2d` and `SharedBatchNorm2d` are one dense convolution over
  the whole input (groups = 1) and one BatchNorm; every task reads every channel.
* **progressive** (a comparison): `TaskConv2d` splits the output channels into task groups in task
  order, and task t's group reads the input groups of tasks ≤ t only (a block lower-triangular
  weight, one convolution per group). A later task adds channels that read what the earlier tasks
  computed while their outputs never depend on it: parameter isolation, as Progressive Networks
  (Rusu et al., 2016). `TaskBatchNorm2d` keeps one BatchNorm per group.

`TaskConv2d` with an ungrouped input (an int) is also the output layer of both designs: one set
of rows per task over the whole last hidden layer, as one 1×1 convolution sliced by task.
Each task group is initialised from its own seed (the global seed, the layer's name and the
task), so a later task's group never changes an earlier task's initial weights.
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


def group_seed(layer: str, task: str) -> int:
    """The seed of one task group's initial weights: the global seed (`torch.manual_seed`) and the group's name."""
    return (torch.initial_seed() + zlib.crc32(f"{layer}/{task}".encode())) % 2 ** 63


class SharedConv2d(nn.Conv2d):
    """One dense k×k convolution (groups = 1, 'same' padding) that every task reads.
    `upto` is accepted, as the task-grouped layers take it, and changes nothing: all channels are shared."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = False):
        super().__init__(in_channels, out_channels, kernel, padding=kernel // 2, bias=bias)

    def forward(self, x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        return super().forward(x)


class SharedBatchNorm2d(nn.BatchNorm2d):
    """One BatchNorm over all channels, shared by every task (`upto` as in `SharedConv2d`)."""

    def forward(self, x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        return super().forward(x)


class TaskConv2d(nn.Module):
    """A k×k convolution with task-grouped output channels.

    `in_groups`: the task groups of the input (each output group reads the groups up to its own
    task), or an int for an ungrouped input that every group reads whole.
    `readers`: the tasks whose groups read this input at all (default: every task); the others'
    channels of the output are zero (the output layer's context columns).
    `name`: the layer's name, which seeds its groups' initial weights (`group_seed`).
    """

    def __init__(self, in_groups: dict[str, int] | int, out_groups: dict[str, int], kernel: int = 1,
                 bias: bool = False, readers: tuple[str, ...] | None = None, name: str = ""):
        super().__init__()
        self.in_groups, self.out_groups = in_groups, dict(out_groups)
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict() if bias else None
        for task, out in self.out_groups.items():
            if readers is not None and task not in readers:
                continue
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(group_seed(name, task))
                layer = nn.Conv2d(self.in_width(task), out, kernel, bias=bias)  # PyTorch's default initialisation
            self.weights[task] = nn.Parameter(layer.weight.detach().clone())
            if bias:
                self.biases[task] = nn.Parameter(layer.bias.detach().clone())

    def in_width(self, task: str) -> int:
        """How many input channels `task`'s group reads (the first ones: its own and the earlier groups)."""
        if isinstance(self.in_groups, int):
            return self.in_groups
        return sum(self.in_groups[t] for t in prefix(self.in_groups, task))

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        params = [self.weights[task]] if task in self.weights else []
        return params + ([self.biases[task]] if self.biases is not None and task in self.biases else [])

    def forward(self, x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        """The output channels of the groups up to `upto` (all when None). The block-triangular weight is
        applied block by block, so the zero blocks cost nothing and a frozen group keeps no autograd graph."""
        return torch.cat([self._group(t, x) for t in prefix(self.out_groups, upto)], dim=1)

    def _group(self, task: str, x: torch.Tensor) -> torch.Tensor:
        if task not in self.weights:  # a group that does not read this input
            zeros = x.new_zeros(x.shape[0], self.out_groups[task], *x.shape[2:])
            return zeros.contiguous(memory_format=memory_format(x))  # as a computed group's: cat keeps the format
        w = self.weights[task]
        bias = self.biases[task] if self.biases is not None else None
        return F.conv2d(x[:, : w.shape[1]], w, bias, padding=w.shape[-1] // 2)


class TaskBatchNorm2d(nn.Module):
    """BatchNorm with one set of statistics and affine weights per task group."""

    def __init__(self, groups: dict[str, int], **kw):
        super().__init__()
        self.groups = dict(groups)
        self.norms = nn.ModuleDict({t: nn.BatchNorm2d(c, **kw) for t, c in self.groups.items()})

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.norms[task].parameters())

    def forward(self, x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        """Each group normalised by its own statistics."""
        tasks = prefix(self.groups, upto)
        parts = torch.split(x, [self.groups[t] for t in tasks], dim=1)
        return torch.cat([self.norms[t](p) for t, p in zip(tasks, parts)], dim=1)


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """The memory format `x` is stored in (channels_last or the default), for tensors made to match it."""
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        else torch.contiguous_format


def hidden_layer(in_width: int | dict[str, int], out_width: int | dict[str, int], kernel: int, name: str,
                 bias: bool = False) -> tuple[nn.Module, nn.Module | None]:
    """A hidden convolution and its BatchNorm in the design the widths imply: ints make the shared
    layers, per-task dicts the progressive ones. `bias` layers (the neck's laterals) get no BatchNorm."""
    if isinstance(out_width, int):
        conv = SharedConv2d(in_width, out_width, kernel, bias=bias)
        return conv, None if bias else SharedBatchNorm2d(out_width)
    conv = TaskConv2d(in_width, out_width, kernel, bias=bias, name=name)
    return conv, None if bias else TaskBatchNorm2d(out_width)
