"""OneHeadNet = frozen backbone → FPN neck → one head; `split_outputs` hands each task its channels.

The backbone keeps its ImageNet weights and statistics (it never trains: fine-tuning it over-fitted
the 240 images of a task and doubled the memory, docs/experiments). What trains is the neck and the
head: in the shared design (`model.head: shared`) every hidden channel serves every task and the
output rows are per task; in the progressive design each task trains only its own channel groups.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog import TASK_ORDER
from .backbone import build_backbone
from .head import ChannelLayout, OneHead
from .layers import TaskBatchNorm2d, TaskConv2d
from .neck import FPNLayer

# Input normalisation each backbone was trained with (inputs arrive in [0, 1]).
NORMALISATION = {"efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                 "mobilenet_v3_small": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
STRIDE = 8
CONTEXT_MAP = 2  # the backbone map whose global average is the image context: the last block (stride 32)


@dataclass
class ForwardPass:
    """One pass over a batch of images, as training hooks (strategies, teachers) receive it."""
    images: torch.Tensor
    backbone_features: list[torch.Tensor]  # the frozen backbone's maps: a teacher reuses them
    neck: torch.Tensor                     # the neck's stride-8 map
    output: torch.Tensor                   # the head's single output tensor


class OneHeadNet(nn.Module):
    def __init__(self, backbone: str, pretrained: bool, width: int | dict[str, int], kernels: list[int],
                 layout: ChannelLayout, context_for: list[str] = ()):
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained, conv_head=backbone == "efficientnet_lite0")
        self.neck = FPNLayer(self.backbone.out_channels, width)
        self.head = OneHead(width, kernels, layout, self.backbone.out_channels[CONTEXT_MAP], tuple(context_for))
        self.layout = layout
        self.progressive = not isinstance(width, int)
        self.backbone.requires_grad_(False)
        mean, std = NORMALISATION[backbone]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        """The backbone stays in eval mode: its BatchNorm statistics are ImageNet's."""
        super().train(mode)
        self.backbone.eval()
        return self

    @torch.no_grad()
    def backbone_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Backbone maps at strides 8/16/32 of [0, 1] images."""
        # channels_last makes the depthwise convolutions markedly faster on CPU
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def forward(self, images: torch.Tensor, upto: str | None = None) -> torch.Tensor:
        """One tensor B × C × H/8 × W/8 carrying every task's outputs (`layout.total` channels), or
        only those of the tasks up to `upto` (the first channels: the layout is in task order)."""
        return self.run(images, upto).output

    def run(self, images: torch.Tensor, upto: str | None = None,
            backbone_features: list[torch.Tensor] | None = None) -> ForwardPass:
        """One pass, keeping what training hooks read; pass `backbone_features` to reuse an earlier pass's."""
        feats = backbone_features if backbone_features is not None else self.backbone_features(images)
        neck = self.neck(feats, upto)
        context = F.adaptive_avg_pool2d(feats[CONTEXT_MAP], 1) if self.head.out_context is not None else None
        return ForwardPass(images, feats, neck, self.head(neck, context, upto))

    def task_rows(self, task: str) -> list[nn.Parameter]:
        """The parameters that only `task`'s outputs depend on (its rows of the head's last layer)."""
        return self.head.output_rows(task)

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """`task`'s own weights: its output rows, and in the progressive design its channel groups."""
        return [p for m in self.modules() if isinstance(m, (TaskConv2d, TaskBatchNorm2d))
                for p in m.task_parameters(task)]

    def set_trainable(self, task: str, own_only: bool) -> None:
        """Train the neck and the head up to `task`'s outputs, or (`own_only`) only `task`'s own weights.
        Later tasks' weights never train: no pass computes with them (DistributedDataParallel refuses
        parameters without a gradient)."""
        for name, p in self.named_parameters():
            p.requires_grad_(not own_only and not name.startswith("backbone."))
        for p in self.task_parameters(task):
            p.requires_grad_(True)
        for later in TASK_ORDER[TASK_ORDER.index(task) + 1:]:
            for p in self.task_parameters(later):
                p.requires_grad_(False)

    def parameter_groups(self, task: str) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by learning-rate group: `task_rows` (this task's output rows) and `shared`
        (everything else that trains: the neck, the hidden head layers, the earlier tasks' rows)."""
        group_of = {id(p): "task_rows" for p in self.task_rows(task)}
        groups = {name: [] for name in ("task_rows", "shared")}
        for p in self.parameters():
            if p.requires_grad:
                groups[group_of.get(id(p), "shared")].append(p)
        return groups


def split_outputs(out: torch.Tensor, layout: ChannelLayout, image_size: tuple[int, int] | None = None) -> dict:
    """Per-task views of the head output; seg logits upsampled to `image_size` if given."""
    sl = layout.slices
    seg = out[:, sl["seg"]]
    if image_size is not None:
        seg = F.interpolate(seg, size=image_size, mode="bilinear", align_corners=False)
    return {"det_heatmap": out[:, sl["det_heatmap"]], "det_box": out[:, sl["det_box"]],
            "seg": seg, "cls": out[:, sl["cls"]].mean(dim=(2, 3))}


def build_model(model_params, classes: dict[str, list[str]]) -> OneHeadNet:
    """The network of `model_params` (a `config.ModelParams`) for the class lists of the data."""
    layout = ChannelLayout(len(classes["det"]), len(classes["seg"]), len(classes["cls"]))
    model = OneHeadNet(model_params.backbone, model_params.pretrained, model_params.channels,
                       model_params.kernels, layout, model_params.context_for)
    return to_channels_last(model)


def to_channels_last(model: nn.Module) -> nn.Module:
    """channels_last makes CPU convolutions faster. 1×1 kernels keep contiguous strides (the
    same memory either way), matching the gradients autograd gives them, as DDP expects."""
    model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        if p.dim() == 4 and p.shape[-2:] == (1, 1):
            p.data = p.data.clone(memory_format=torch.contiguous_format)
    return model


def count_parameters(model: OneHeadNet) -> dict[str, int]:
    parts = {name: sum(p.numel() for p in getattr(model, name).parameters())
             for name in ("backbone", "neck", "head")}
    return {"total": sum(parts.values()), **parts}
