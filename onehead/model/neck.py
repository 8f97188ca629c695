"""A single FPN layer: 1×1 laterals of strides 8/16/32 summed at stride 8, one 3×3 conv-BN-ReLU.

With Lite0's conv head, the stride-32 map comes twice (the last block's 320 channels and the
conv head's 1280); each task's laterals read one of them.

Its channels are grouped by task like the head's (`layers.TaskConv2d`): each task's laterals
read the backbone, and its part of the 3×3 conv reads the groups of the tasks up to its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import TaskBatchNorm2d, TaskConv2d


class FPNLayer(nn.Module):
    """`readers[i]`: the tasks whose groups read backbone map i (None: every task)."""

    def __init__(self, in_channels: tuple[int, ...], groups: dict[str, int],
                 readers: tuple[tuple[str, ...] | None, ...] | None = None):
        super().__init__()
        readers = readers or (None,) * len(in_channels)
        self.laterals = nn.ModuleList(TaskConv2d(c, groups, 1, bias=True, readers=r)
                                      for c, r in zip(in_channels, readers))
        self.fuse, self.bn = TaskConv2d(groups, groups, 3), TaskBatchNorm2d(groups)

    def forward(self, feats: list[torch.Tensor], upto: str | None = None) -> torch.Tensor:
        size = feats[0].shape[-2:]
        fused = sum(F.interpolate(lat(f, upto), size=size, mode="bilinear", align_corners=False)
                    if i else lat(f, upto) for i, (lat, f) in enumerate(zip(self.laterals, feats)))
        return F.relu(self.bn(self.fuse(fused, upto), upto))
