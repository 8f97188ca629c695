"""The neck and head as they are computed: one row per layer, read off the built network itself."""
from __future__ import annotations

from torch import nn

from ..model.layers import SharedBatchNorm2d, SharedConv2d, TaskBatchNorm2d, TaskConv2d
from . import markdown


def _count(module: nn.Module | None) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def _kernel(weight_shape) -> str:
    return f"{weight_shape[-2]}×{weight_shape[-1]}"


def _shared_row(name: str, conv: SharedConv2d, norm: nn.Module | None) -> list:
    bn = " + BatchNorm + ReLU" if norm is not None else " (+ bias)"
    return [name, f"one {_kernel(conv.weight.shape)} conv, {conv.in_channels} → {conv.out_channels} ch, "
                  f"groups = {conv.groups}{bn}", "every task", f"{_count(conv) + _count(norm):,}"]


def _grouped_rows(name: str, conv: TaskConv2d, norm: nn.Module | None) -> list[list]:
    rows = []
    for task, weight in conv.weights.items():
        norm_params = sum(p.numel() for p in norm.task_parameters(task)) if isinstance(norm, TaskBatchNorm2d) else 0
        params = sum(p.numel() for p in conv.task_parameters(task)) + norm_params
        reads = f"{weight.shape[1]} ch"
        rows.append([f"{name} [{task}]", f"{_kernel(weight.shape)} conv rows, {reads} → {weight.shape[0]} ch"
                     + (" + BatchNorm + ReLU" if norm_params else ""), task, f"{params:,}"])
    return rows


def layer_rows(model) -> list[list]:
    """(layer, what it computes, which tasks it serves, parameters), in the order of the forward pass."""
    pairs = [(f"neck.lateral{i}", conv, None) for i, conv in enumerate(model.neck.laterals)]
    pairs += [("neck.fuse", model.neck.fuse, model.neck.bn), ("head.conv1", model.head.conv1, model.head.bn1),
              ("head.conv2", model.head.conv2, model.head.bn2), ("head.out_conv", model.head.out_conv, None)]
    if model.head.out_context is not None:
        pairs.append(("head.out_context (pooled last block)", model.head.out_context, None))
    rows = []
    for name, conv, norm in pairs:
        rows += [_shared_row(name, conv, norm)] if isinstance(conv, SharedConv2d) else _grouped_rows(name, conv, norm)
    return rows


def layer_table(model) -> str:
    return markdown.table(["layer", "computes", "serves", "parameters"], layer_rows(model))


def is_shared(model) -> bool:
    """Every hidden layer of the neck and head is one dense convolution with one shared BatchNorm."""
    hidden = [*model.neck.laterals, model.neck.fuse, model.head.conv1, model.head.conv2]
    norms = [model.neck.bn, model.head.bn1, model.head.bn2]
    return all(isinstance(c, SharedConv2d) and c.groups == 1 for c in hidden) and \
        all(isinstance(n, SharedBatchNorm2d) for n in norms)
