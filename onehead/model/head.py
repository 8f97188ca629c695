"""The single head: three layers in one branch, one output tensor for all tasks.

Two 3×3 conv-BN-ReLU layers and a final 1×1 conv whose channels are laid out as
`[det heatmap C_det | det box 4 | seg C_seg | cls C_cls]` (see `ChannelLayout`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

HEATMAP_PRIOR = 0.1  # initial foreground probability of the detection heatmap (CenterNet)


@dataclass(frozen=True)
class ChannelLayout:
    """Where each task's outputs sit in the head's channels."""

    det_classes: int
    seg_classes: int
    cls_classes: int

    @property
    def slices(self) -> dict[str, slice]:
        d, s, c = self.det_classes, self.seg_classes, self.cls_classes
        return {"det_heatmap": slice(0, d), "det_box": slice(d, d + 4),
                "seg": slice(d + 4, d + 4 + s), "cls": slice(d + 4 + s, d + 4 + s + c)}

    @property
    def task_slices(self) -> dict[str, slice]:
        sl = self.slices
        return {"det": slice(sl["det_heatmap"].start, sl["det_box"].stop), "seg": sl["seg"], "cls": sl["cls"]}

    @property
    def total(self) -> int:
        return self.det_classes + 4 + self.seg_classes + self.cls_classes


class OneHead(nn.Module):
    def __init__(self, in_channels: int, channels: int, layout: ChannelLayout):
        super().__init__()
        self.layout = layout
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, layout.total, 1),
        )
        with torch.no_grad():
            self.out_conv.bias.zero_()
            self.out_conv.bias[layout.slices["det_heatmap"]] = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)

    @property
    def out_conv(self) -> nn.Conv2d:
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def count_layers(head: nn.Module) -> int:
    """Number of weight layers (Conv / Linear) in the head."""
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in head.modules())
