"""The single head: three layers in one branch, one output tensor for all tasks.

Two hidden conv-BN-ReLU layers (kernels `model.kernels`, e.g. [3, 1]) and a final 1×1 conv whose
channels are laid out as `[seg C_seg | det heatmap C_det | det box 4 | cls C_cls]` (see
`ChannelLayout`). In the shared design every hidden layer is one dense convolution that feeds
every task; the only task-specific weights are the output layer's rows.

Image context (`model.context_for`): those tasks' output rows also read the image's context
vector (the backbone's pooled last block), the same at every position, so each pixel's class
scores know what the whole image holds. The two inputs are summed through two 1×1 convs, which
is one 1×1 conv over their concatenation: still the head's third layer, and still only rows of
those tasks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog import TASK_ORDER
from .layers import TaskConv2d, hidden_layer

HEATMAP_PRIOR = 0.1  # initial foreground probability of the detection heatmap (CenterNet)


@dataclass(frozen=True)
class ChannelLayout:
    """Where each task's outputs sit in the head's channels (in task order)."""

    det_classes: int
    seg_classes: int
    cls_classes: int

    @property
    def widths(self) -> dict[str, int]:
        """Output channels of each task, in task order."""
        sizes = {"seg": self.seg_classes, "det": self.det_classes + 4, "cls": self.cls_classes}
        return {t: sizes[t] for t in TASK_ORDER}

    @property
    def task_slices(self) -> dict[str, slice]:
        slices, start = {}, 0
        for task, width in self.widths.items():
            slices[task] = slice(start, start + width)
            start += width
        return slices

    @property
    def slices(self) -> dict[str, slice]:
        det = self.task_slices["det"]
        return {"seg": self.task_slices["seg"], "det_heatmap": slice(det.start, det.start + self.det_classes),
                "det_box": slice(det.start + self.det_classes, det.stop), "cls": self.task_slices["cls"]}

    @property
    def total(self) -> int:
        return sum(self.widths.values())


class OneHead(nn.Module):
    CONV_BN = (("conv1", "bn1"), ("conv2", "bn2"))  # conv → its BatchNorm (deploy folds them)

    def __init__(self, width: int | dict[str, int], kernels: list[int], layout: ChannelLayout,
                 context_width: int = 0, context_for: tuple[str, ...] = ()):
        super().__init__()
        self.layout = layout
        self.conv1, self.bn1 = hidden_layer(width, width, kernels[0], "head.conv1")
        self.conv2, self.bn2 = hidden_layer(width, width, kernels[1], "head.conv2")
        # shared: each task's rows read every hidden channel; progressive: the groups up to the task's own
        self.out_conv = TaskConv2d(width, layout.widths, 1, bias=True, name="head.out_conv")
        # the output layer's columns for the context vector; zero at first, so training starts
        # from the head without context
        self.out_context = (TaskConv2d(context_width, layout.widths, 1, readers=context_for, name="head.out_context")
                            if context_for else None)
        with torch.no_grad():
            self.out_conv.biases["det"].zero_()[: layout.det_classes] = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)
            for task in ("seg", "cls"):
                self.out_conv.biases[task].zero_()
            for weight in (self.out_context.weights.values() if self.out_context else ()):
                weight.zero_()

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, upto: str | None = None) -> torch.Tensor:
        """The output channels of the tasks up to `upto` (all tasks when None); `context`: the
        B × C × 1 × 1 context vector, needed when some task reads it."""
        x = F.relu(self.bn1(self.conv1(x, upto), upto))
        x = F.relu(self.bn2(self.conv2(x, upto), upto))
        out = self.out_conv(x, upto)
        return out if self.out_context is None else out + self.out_context(context, upto)

    def output_rows(self, task: str) -> list[nn.Parameter]:
        """The output layer's weights of `task` (only its outputs depend on them)."""
        convs = (self.out_conv, self.out_context) if self.out_context is not None else (self.out_conv,)
        return [p for conv in convs for p in conv.task_parameters(task)]


def count_layers(head: nn.Module) -> int:
    """Number of weight layers (Conv / Linear / task-grouped conv) in the head. The output
    layer's context columns (`out_context`) are part of the output layer, not a layer of their own."""
    return sum(isinstance(m, (nn.Conv2d, nn.Linear, TaskConv2d)) for name, m in head.named_modules()
               if name != "out_context")
