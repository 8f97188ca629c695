"""OneHeadNet = backbone → FPN neck → one head; `split_outputs` hands each task its channels.

The neck and head channels are grouped by task in task order, each group reading only the
groups before it (`layers.TaskConv2d`; an isolated task's only its own), so `upto=task` computes exactly what that task's
outputs need, and training a task's own groups cannot change an earlier task's outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog import TASK_ORDER
from ..config import TRAINABLE
from .backbone import build_backbone
from .head import ChannelLayout, OneHead
from .layers import TaskBatchNorm2d, TaskConv2d, prefix
from .neck import FPNLayer

# Input normalisation each backbone was trained with (inputs arrive in [0, 1]).
NORMALISATION = {"efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                 "mobilenet_v3_small": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
STRIDE = 8
CONTEXT_MAP = 2  # the backbone map whose global average is the image context: the last block (stride 32)
TRAINABLE_PARTS = {"all": ("backbone", "neck", "head"), "neck_head": ("neck", "head"), "head": ("head",),
                   "own": (), "own_backbone": ("backbone",), "task_slice": ()}
assert tuple(TRAINABLE_PARTS) == TRAINABLE


@dataclass
class ForwardPass:
    """One pass over a batch of images, as training hooks (strategies) receive it."""
    images: torch.Tensor
    output: torch.Tensor                            # the head's single output tensor
    backbone_features: list[torch.Tensor] | None    # set while the backbone is frozen: a frozen copy
                                                    # of the model (a teacher) may reuse them


class OneHeadNet(nn.Module):
    def __init__(self, backbone: str, pretrained: bool, conv_head_for: list[str], neck_channels: dict[str, int],
                 neck_kernel: int, head_channels: dict[str, int], layout: ChannelLayout,
                 context_for: list[str] = (), isolated: list[str] = (), head_kernel: dict[str, int | list[int]] | int = 3,
                 last_block_for: list[str] = ()):
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained, conv_head=bool(conv_head_for))
        readers = None
        if conv_head_for:  # the stride-32 map twice; a task that reads both sums its two laterals
            readers = (None, None, tuple(last_block_for), tuple(conv_head_for))
        self.neck = FPNLayer(self.backbone.out_channels, neck_channels, readers, neck_kernel, tuple(isolated))
        self.head = OneHead(neck_channels, head_channels, layout,
                            self.backbone.out_channels[CONTEXT_MAP], tuple(context_for), tuple(isolated), head_kernel)
        self.layout, self.isolated, self.conv_head_for = layout, tuple(isolated), tuple(conv_head_for)
        mean, std = NORMALISATION[backbone]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def backbone_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Backbone maps at strides 8/16/32 of [0, 1] images."""
        # channels_last makes the depthwise convolutions markedly faster on CPU
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def features(self, images: torch.Tensor, backbone_feats: list[torch.Tensor] | None = None,
                 upto: str | None = None) -> torch.Tensor:
        """Neck output at stride 8; pass `backbone_feats` to reuse an earlier backbone pass."""
        return self.neck(backbone_feats if backbone_feats is not None else self.backbone_features(images), upto)

    def forward(self, images: torch.Tensor, backbone_feats: list[torch.Tensor] | None = None,
                upto: str | None = None, alone: bool = False) -> torch.Tensor:
        """One tensor B × C × H/8 × W/8 carrying every task's outputs (`layout.total` channels), or
        only those of the tasks up to `upto` (the first channels: the layout is in task order).
        `alone`: only `upto`'s outputs are wanted; the groups it does not read are not computed, and
        the earlier tasks' channels are then not their outputs."""
        return self.features_and_output(images, backbone_feats, upto, alone)[1]

    def features_and_output(self, images: torch.Tensor, backbone_feats: list[torch.Tensor] | None = None,
                            upto: str | None = None, alone: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The neck output and the head output of one pass."""
        feats = backbone_feats if backbone_feats is not None else self.backbone_features(images)
        skip = self.unread_groups(upto) if alone else frozenset()
        neck = self.neck(feats, upto, skip)
        context = F.adaptive_avg_pool2d(feats[CONTEXT_MAP], 1) if self.head.out_context is not None else None
        return neck, self.head(neck, upto, context, skip)

    def unread_groups(self, task: str | None) -> frozenset[str]:
        """The earlier tasks whose channel groups `task`'s outputs never read: all of them when `task`
        is isolated, none otherwise."""
        if task is None or task not in self.isolated:
            return frozenset()
        return frozenset(prefix(self.layout.widths, task)[:-1])

    def forward_pass(self, images: torch.Tensor, upto: str | None = None, alone: bool = False) -> ForwardPass:
        feats = self.backbone_features(images)
        output = self(images, backbone_feats=feats, upto=upto, alone=alone)
        return ForwardPass(images, output, feats if self.backbone_frozen() else None)

    def backbone_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.backbone.parameters())

    def task_rows(self, task: str) -> list[nn.Parameter]:
        """The parameters that only `task`'s outputs depend on (its rows of the head's last layer)."""
        return self.head.output_rows(task)

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """`task`'s own channel groups in the neck and head, its output rows included."""
        return [p for m in self.modules() if isinstance(m, (TaskConv2d, TaskBatchNorm2d))
                for p in m.task_parameters(task)]

    def set_trainable(self, trainable: str, task: str) -> None:
        """Choose which weights train: `all`, `neck_head`, `head`, `own` (this task's channel groups
        and output rows), `own_backbone` (those and the backbone) or `task_slice` (its rows only).
        The weights `task`'s passes never compute with (`uncomputed_parameters`) do not train: they would get
        no gradient, which DistributedDataParallel refuses."""
        parts = TRAINABLE_PARTS[trainable]
        for name, p in self.named_parameters():
            p.requires_grad_(name.split(".")[0] in parts)
        own = {"own": self.task_parameters, "own_backbone": self.task_parameters, "task_slice": self.task_rows}
        if trainable in own:
            for p in own[trainable](task):
                p.requires_grad_(True)
        for p in self.uncomputed_parameters(task):
            p.requires_grad_(False)

    def uncomputed_parameters(self, task: str) -> list[nn.Parameter]:
        """The weights no pass up to `task` computes with: the later tasks' groups, and Lite0's conv head
        while none of the tasks so far reads it."""
        later = TASK_ORDER[TASK_ORDER.index(task) + 1:]
        uncomputed = [p for t in later for p in self.task_parameters(t)]
        if not set(self.conv_head_for) - set(later):
            uncomputed += self.backbone.conv_head_parameters()
        return uncomputed

    def parameter_groups(self, task: str, earlier_tasks: list[str]) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by learning-rate group: `backbone`, `task_rows` (this task's output
        rows), `old_rows` (the earlier tasks' rows) and `rest` (neck and shared head layers)."""
        group_of = {id(p): "task_rows" for p in self.task_rows(task)}
        group_of.update({id(p): "old_rows" for t in earlier_tasks for p in self.task_rows(t)})
        groups = {name: [] for name in ("backbone", "task_rows", "old_rows", "rest")}
        for name, p in self.named_parameters():
            if p.requires_grad:
                groups[group_of.get(id(p), "backbone" if name.startswith("backbone.") else "rest")].append(p)
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
    model = OneHeadNet(model_params.backbone, model_params.pretrained, model_params.conv_head_for,
                       model_params.neck_channels, model_params.neck_kernel, model_params.head_channels, layout,
                       model_params.context_for, model_params.isolated, model_params.head_kernel,
                       model_params.last_block_readers())
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
