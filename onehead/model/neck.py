"""A single FPN layer: 1×1 laterals of the backbone's maps summed at stride 8, one 1×1 conv-BN-ReLU.

The backbone's maps come at strides 8, 16 and 32; with Lite0 the stride-32 map comes twice (its
last block's 320 channels and its pretrained 1×1 conv head's 1280), and the two laterals of one
stride are summed before upsampling. The fusing conv is 1×1: a 3×3 one cost about a sixth of the
network's CPU latency at 512² and scored no higher on held-out folds (docs/experiments).
Every lateral and the fusing conv are shared by all tasks, or grouped by task in the progressive
design (`layers.hidden_layer`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import hidden_layer


class FPNLayer(nn.Module):
    CONV_BN = (("fuse", "bn"),)  # conv → its BatchNorm (deploy folds them)

    def __init__(self, in_channels: tuple[int, ...], width: int | dict[str, int]):
        super().__init__()
        self.laterals = nn.ModuleList(hidden_layer(c, width, 1, f"neck.lateral{i}", bias=True)[0]
                                      for i, c in enumerate(in_channels))
        self.fuse, self.bn = hidden_layer(width, width, 1, "neck.fuse")

    def forward(self, feats: list[torch.Tensor], upto: str | None = None) -> torch.Tensor:
        """The fused stride-8 map (in the progressive design: of the groups up to `upto`)."""
        size = feats[0].shape[-2:]
        by_size: dict[tuple[int, int], torch.Tensor] = {}
        for lateral, f in zip(self.laterals, feats):  # maps of one stride are summed before upsampling
            y, key = lateral(f, upto), tuple(f.shape[-2:])
            by_size[key] = by_size[key] + y if key in by_size else y
        fused = sum(y if key == tuple(size) else F.interpolate(y, size=size, mode="bilinear", align_corners=False)
                    for key, y in by_size.items())
        return F.relu(self.bn(self.fuse(fused, upto), upto))
