"""A single FPN layer: 1×1 laterals of strides 8/16/32 summed at stride 8, one 3×3 conv-BN-ReLU."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FPNLayer(nn.Module):
    def __init__(self, in_channels: tuple[int, ...], channels: int):
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.fuse = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(inplace=True))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        fused = sum(F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False)
                    if i else lat(f) for i, (lat, f) in enumerate(zip(self.laterals, feats)))
        return self.fuse(fused)
