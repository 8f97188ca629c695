"""The single head: three layers in one branch, one output tensor for all tasks.

Two 3×3 conv-BN-ReLU layers and a final 1×1 conv whose channels are laid out as
`[det heatmap C_det | det box 4 | seg C_seg | cls C_cls]` (see `ChannelLayout`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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


class TaskRowsConv1x1(nn.Module):
    """The head's last layer: one 1×1 convolution producing every task's channels at once.

    Its weight is stored as one tensor per task (in `ChannelLayout` order) and concatenated
    in `forward`, so the optimiser can give each task's rows its own learning rate, or
    freeze them, while the layer stays a single convolution over a single branch.
    """

    def __init__(self, in_channels: int, layout: ChannelLayout):
        super().__init__()
        full = nn.Conv2d(in_channels, layout.total, 1)  # PyTorch's default initialisation
        self.weights, self.biases = nn.ParameterDict(), nn.ParameterDict()
        for task, rows in layout.task_slices.items():  # in channel order, so cat() restores the layout
            self.weights[task] = nn.Parameter(full.weight.detach()[rows].clone())
            self.biases[task] = nn.Parameter(torch.zeros(rows.stop - rows.start))
        with torch.no_grad():
            self.biases["det"][: layout.det_classes] = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)
        self.out_channels = layout.total

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """The weight rows and biases that produce `task`'s channels."""
        return [self.weights[task], self.biases[task]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.cat(list(self.weights.values()))
        bias = torch.cat(list(self.biases.values()))
        return F.conv2d(x, weight, bias)


class OneHead(nn.Module):
    def __init__(self, in_channels: int, channels: int, layout: ChannelLayout):
        super().__init__()
        self.layout = layout
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            TaskRowsConv1x1(channels, layout),
        )

    @property
    def out_conv(self) -> TaskRowsConv1x1:
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def count_layers(head: nn.Module) -> int:
    """Number of weight layers (Conv / Linear / the task-rows 1×1 conv) in the head."""
    return sum(isinstance(m, (nn.Conv2d, nn.Linear, TaskRowsConv1x1)) for m in head.modules())
