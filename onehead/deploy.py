"""The network as deployed: every BatchNorm folded into the convolution before it.

In eval mode a BatchNorm is a per-channel affine map, so it can be merged into the weights and
bias of the convolution that feeds it (as YOLO's and RepVGG's `fuse` do before timing). The folded
copy computes the same outputs (up to float rounding; `assert_same_outputs` checks it) with fewer
passes over memory; it serves latency measurement and `predict`, never training: the checkpoint
keeps its BatchNorm layers. Which convolution feeds which BatchNorm each model module names in its `CONV_BN`
attribute; a module without one keeps its BatchNorms (e.g. the MobileNetV3 option), which is still correct.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .model.layers import TaskBatchNorm2d, TaskConv2d

class Unchanged(nn.Module):
    """What a folded BatchNorm becomes (accepts the hidden layers' `upto`)."""

    def forward(self, x: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        return x


def _affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _fold_plain(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    scale, shift = _affine(bn)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
    conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None])
    conv.bias = nn.Parameter(bias * scale + shift)


def _fold_grouped(conv: TaskConv2d, bn: TaskBatchNorm2d) -> None:
    if conv.biases is None:
        conv.biases = nn.ParameterDict()
    for task, weight in conv.weights.items():
        scale, shift = _affine(bn.norms[task])
        bias = conv.biases[task] if task in conv.biases else torch.zeros_like(shift)
        conv.weights[task] = nn.Parameter(weight * scale[:, None, None, None])
        conv.biases[task] = nn.Parameter(bias * scale + shift)


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with its BatchNorms folded into the convolutions before them."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        for conv_name, bn_name in getattr(module, "CONV_BN", ()):
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if conv is None or bn is None:
                continue
            if isinstance(conv, TaskConv2d):
                if any(t not in conv.weights for t in conv.out_groups):  # a zero group would gain a bias
                    continue
                _fold_grouped(conv, bn)
            else:
                _fold_plain(conv, bn)
            setattr(module, bn_name, Unchanged())
    return folded


@torch.no_grad()
def assert_same_outputs(model: nn.Module, folded: nn.Module, size: int, atol: float = 1e-3) -> float:
    """The largest absolute output difference between the two on a random image; raises above `atol`."""
    x = torch.rand(1, 3, size, size)
    diff = (model.eval()(x) - folded(x)).abs().max().item()
    if diff > atol:
        raise AssertionError(f"the folded network differs from the trained one by {diff:.2e} (> {atol})")
    return diff
