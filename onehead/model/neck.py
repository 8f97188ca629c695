"""A single FPN layer: 1×1 laterals of strides 8/16/32 summed at stride 8, one conv-BN-ReLU.

The fusing conv is 1×1 by default (`model.neck_kernel`): at 512² a 3×3 one costs about a sixth of
the network's CPU latency, and on held-out folds segmentation scored higher with the 1×1 one,
detection and classification no lower (EXPERIMENTS.md).

With Lite0's conv head, the stride-32 map comes twice (the last block's 320 channels and the
conv head's 1280); each task's laterals read one of them or both (`model.last_block_for`), summed.

Its channels are grouped by task like the head's (`layers.TaskConv2d`): each task's laterals
read the backbone, and its part of the fusing conv reads the groups of the tasks up to its own
(only its own group when the task is isolated).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import TaskBatchNorm2d, TaskConv2d


class FPNLayer(nn.Module):
    """`readers[i]`: the tasks whose groups read backbone map i (None: every task)."""

    CONV_BN = (("fuse", "bn"),)  # conv → its BatchNorm (deploy folds them)

    def __init__(self, in_channels: tuple[int, ...], groups: dict[str, int],
                 readers: tuple[tuple[str, ...] | None, ...] | None = None, kernel: int = 1,
                 isolated: tuple[str, ...] = ()):
        super().__init__()
        readers = readers or (None,) * len(in_channels)
        self.laterals = nn.ModuleList(TaskConv2d(c, groups, 1, bias=True, readers=r, name=f"neck.lateral{i}")
                                      for i, (c, r) in enumerate(zip(in_channels, readers)))
        self.fuse = TaskConv2d(groups, groups, kernel, isolated=isolated, name="neck.fuse")
        self.bn = TaskBatchNorm2d(groups)

    def forward(self, feats: list[torch.Tensor], upto: str | None = None,
                skip: frozenset[str] = frozenset()) -> torch.Tensor:
        """The fused stride-8 map of the groups up to `upto` (those of `skip`: zeros)."""
        size = feats[0].shape[-2:]
        by_size: dict[tuple[int, int], torch.Tensor] = {}
        for lateral, f in zip(self.laterals, feats):  # maps of one stride are summed before upsampling
            y, key = lateral(f, upto, skip), tuple(f.shape[-2:])
            by_size[key] = by_size[key] + y if key in by_size else y
        fused = sum(y if key == tuple(size) else F.interpolate(y, size=size, mode="bilinear", align_corners=False)
                    for key, y in by_size.items())
        return F.relu(self.bn(self.fuse(fused, upto, skip), upto, skip))
