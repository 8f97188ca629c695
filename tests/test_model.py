"""Model structure: one 3-layer head emitting all tasks at once; in the default every hidden layer is
one dense convolution shared by all tasks, in the progressive alternative task-grouped channels keep
earlier tasks' outputs fixed while a later task trains; pretrained backbone weights."""
import pytest
import torch
from torch import nn

from conftest import REPO, require_mirror
from onehead.config import ModelParams, load_params
from onehead.data.datasets import build_dataset
from onehead.data.transforms import eval_transform
from onehead.engine import set_train_mode
from onehead.model.backbone import EfficientNetLite0, SameConv2d, load_lite0_weights, same_padding
from onehead.model.head import count_layers
from onehead.model.net import build_model, count_parameters, split_outputs
from onehead.report.layers import is_shared

CLASSES = {"det": [f"d{i}" for i in range(10)], "seg": [f"s{i}" for i in range(21)], "cls": [f"c{i}" for i in range(10)]}
MODEL = ModelParams(backbone="efficientnet_lite0", pretrained=False, head="shared", channels=48, kernels=[3, 1],
                    context_for=["seg", "cls"])
GROUPS = {"seg": 32, "det": 24, "cls": 16}
PROGRESSIVE = MODEL.model_copy(update={"head": "progressive", "channels": GROUPS})
IMAGENET_INDEX = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]  # the 10 Imagenette classes
TASK_CHANNELS = {"seg": slice(0, 21), "det": slice(21, 35), "cls": slice(35, 45)}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(MODEL, CLASSES).eval()


def hidden_convs(net) -> list[nn.Module]:
    return [*net.neck.laterals, net.neck.fuse, net.head.conv1, net.head.conv2]


def test_the_default_head_is_shared():
    """docs/spec.md §2: every hidden layer of the default neck and head is one dense convolution (groups = 1)
    over its whole input, with one BatchNorm."""
    default = load_params(REPO / "params.yaml").model.model_copy(update={"pretrained": False})
    torch.manual_seed(0)
    net = build_model(default, CLASSES).eval()
    assert is_shared(net)
    width = default.channels
    for conv, in_width in zip(hidden_convs(net), [40, 112, 320, 1280, width, width, width]):
        assert isinstance(conv, nn.Conv2d) and conv.groups == 1
        assert conv.in_channels == in_width and conv.out_channels == width  # reads its whole input
    assert not is_shared(build_model(PROGRESSIVE, CLASSES))


def _outputs_with_channel_perturbed(net, layer: nn.Module, channel: int, x: torch.Tensor) -> torch.Tensor:
    def bump(module, inputs, output):
        output = output.clone()
        output[:, channel] += 1.0
        return output
    handle = layer.register_forward_hook(bump)
    try:
        return net(x)
    finally:
        handle.remove()


@pytest.mark.parametrize("layer", ["neck.bn", "head.bn1", "head.bn2"])
def test_every_hidden_channel_feeds_every_task(layer):
    """Perturbing any one channel of any hidden layer changes some output of every task."""
    torch.manual_seed(0)
    net = build_model(MODEL, CLASSES).eval()
    with torch.no_grad():
        for rows in (net.head.out_conv.weights["det"], net.head.out_conv.weights["cls"]):
            rows.normal_()  # output rows of tasks not yet trained start small but not zero
        x = torch.rand(1, 3, 64, 64)
        clean = net(x)
        module = net.get_submodule(layer)
        for channel in range(MODEL.channels):
            changed = (_outputs_with_channel_perturbed(net, module, channel, x) - clean).abs()
            for task, rows in TASK_CHANNELS.items():
                assert changed[:, rows].max() > 1e-6, f"{layer} channel {channel} does not reach {task}"


def test_head_has_three_layers_in_one_branch(model):
    assert count_layers(model.head) == 3
    assert sum(model.head.out_conv.out_groups.values()) == 21 + 10 + 4 + 10  # seg, det heatmap + box, cls
    assert model.head.conv1.kernel_size == (3, 3) and model.head.conv2.kernel_size == (1, 1)
    assert all(model.head.out_conv.in_width(task) == 48 for task in ("seg", "det", "cls"))


def test_neck_is_a_single_fpn_layer(model):
    assert model.neck.fuse.kernel_size == (1, 1) and all(lat.kernel_size == (1, 1) for lat in model.neck.laterals)
    assert [lat.in_channels for lat in model.neck.laterals] == [40, 112, 320, 1280]  # strides 8/16/32, conv head


def test_neck_equals_upsampling_every_lateral_before_the_sum(model):
    """Maps of one stride are summed before upsampling (bilinear interpolation is linear)."""
    feats = model.backbone_features(torch.rand(1, 3, 96, 96))
    size = feats[0].shape[-2:]
    with torch.no_grad():
        up = sum(torch.nn.functional.interpolate(lat(f), size=size, mode="bilinear", align_corners=False)
                 for lat, f in zip(model.neck.laterals, feats))
        expected = torch.relu(model.neck.bn(model.neck.fuse(up)))
        assert torch.allclose(model.neck(feats), expected, atol=1e-5)


def test_the_backbone_never_trains_and_keeps_its_statistics(model):
    torch.manual_seed(0)
    net = build_model(MODEL, CLASSES)
    net.set_trainable("det", own_only=False)
    set_train_mode(net, frozen_bn=False)
    assert not net.backbone.training and all(not p.requires_grad for p in net.backbone.parameters())
    before = {k: v.clone() for k, v in net.backbone.state_dict().items()}
    net(torch.rand(2, 3, 64, 64))
    assert all(torch.equal(v, before[k]) for k, v in net.backbone.state_dict().items())


def test_frozen_statistics_keep_the_shared_batchnorms_in_eval_mode():
    torch.manual_seed(0)
    net = build_model(MODEL, CLASSES)
    net.set_trainable("det", own_only=False)
    set_train_mode(net, frozen_bn=True)
    assert not any(m.training for m in (net.neck.bn, net.head.bn1, net.head.bn2))
    set_train_mode(net, frozen_bn=False)
    assert all(m.training for m in (net.neck.bn, net.head.bn1, net.head.bn2))


def test_progressive_training_of_a_later_task_leaves_earlier_outputs_bit_identical():
    """In the progressive head a stage trains only its own groups: the earlier outputs cannot move."""
    torch.manual_seed(0)
    net = build_model(PROGRESSIVE, CLASSES)
    x = torch.rand(2, 3, 64, 64)
    net.eval()
    with torch.no_grad():
        before = net(x)[:, TASK_CHANNELS["seg"]].clone()
    net.set_trainable("det", own_only=True)
    set_train_mode(net, frozen_bn=False)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        net(x, upto="det").square().mean().backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        after = net(x)
    assert torch.equal(after[:, TASK_CHANNELS["seg"]], before)


def test_shared_training_of_a_later_task_moves_earlier_outputs():
    """The contrast: on the shared head the same step changes segmentation's outputs."""
    torch.manual_seed(0)
    net = build_model(MODEL, CLASSES)
    x = torch.rand(2, 3, 64, 64)
    net.eval()
    with torch.no_grad():
        before = net(x)[:, TASK_CHANNELS["seg"]].clone()
    net.set_trainable("det", own_only=False)
    set_train_mode(net, frozen_bn=True)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.5)
    opt.zero_grad()
    net(x, upto="det").square().mean().backward()
    opt.step()
    net.eval()
    with torch.no_grad():
        assert not torch.allclose(net(x)[:, TASK_CHANNELS["seg"]], before)


def test_image_context_is_a_part_of_the_output_layer(model):
    """Only the rows of `context_for` tasks read the pooled last block, and they start at zero."""
    assert sorted(model.head.out_context.weights) == ["cls", "seg"]
    assert all(not w.any() for w in model.head.out_context.weights.values())
    assert count_layers(model.head) == 3


def test_one_forward_yields_all_three_outputs(model):
    with torch.no_grad():
        out = model(torch.rand(2, 3, 128, 160))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 45, 16, 20)
    parts = split_outputs(out, model.layout, image_size=(128, 160))
    assert parts["det_heatmap"].shape == (2, 10, 16, 20) and parts["det_box"].shape == (2, 4, 16, 20)
    assert model.layout.slices["seg"] == slice(0, 21)  # channels in task order: seg, det, cls
    assert parts["seg"].shape == (2, 21, 128, 160)
    assert parts["cls"].shape == (2, 10)


def test_parameter_budget(model):
    counts = count_parameters(model)
    assert counts["total"] == counts["backbone"] + counts["neck"] + counts["head"]
    assert counts["total"] < 8_000_000
    assert 3_350_000 < counts["backbone"] < 3_400_000  # Lite0 with its 1280-ch conv head, without classifier


def _imagenette_accuracy(net) -> float:
    mirror = require_mirror()
    data = build_dataset("cls", mirror, "val", eval_transform("cls", 224))
    correct = total = 0
    net.eval()
    with torch.no_grad():
        for i in range(len(data)):
            sample = data[i]
            logits = net.classify(sample["image"][None] * 2 - 1)[0]  # inputs in [-1, 1]
            correct += int(logits[IMAGENET_INDEX].argmax() == sample["label"])
            total += 1
    return correct / total


def test_pretrained_lite0_classifies_imagenette():
    net = EfficientNetLite0(classifier=True)
    from onehead.model.backbone import pretrained_lite0_path
    net.load_state_dict(torch.load(pretrained_lite0_path(), map_location="cpu", weights_only=True))
    assert _imagenette_accuracy(net) >= 0.9


def test_random_lite0_fails_the_same_check():
    torch.manual_seed(0)
    assert _imagenette_accuracy(EfficientNetLite0(classifier=True)) < 0.4


@pytest.mark.parametrize("channels,kernel,stride,groups", [(3, 3, 2, 1), (16, 3, 2, 16), (8, 5, 2, 8), (8, 5, 1, 8)])
@pytest.mark.parametrize("size", [(32, 32), (31, 33), (20, 17)])
def test_same_conv_equals_the_convolution_of_the_padded_input(channels, kernel, stride, groups, size):
    """TensorFlow 'SAME': the stride-2 layers pad one more at the end (e.g. 0 + 1 on 32, 1 + 1 on 31);
    outputs and weight gradients match padding the input first, in either memory format."""
    torch.manual_seed(0)
    conv = SameConv2d(channels, channels, kernel, stride, groups=groups)
    x = torch.randn(2, channels, *size)
    (top, bottom), (left, right) = [same_padding(n, kernel, stride) for n in size]
    assert same_padding(32, 3, 2) == (0, 1) and same_padding(31, 3, 2) == (1, 1) and same_padding(32, 5, 2) == (1, 2)
    padded = torch.nn.functional.pad(x, [left, right, top, bottom])
    expected = torch.nn.functional.conv2d(padded, conv.weight, conv.bias, stride, 0, 1, groups)
    expected.sum().backward()
    expected_grad, conv.weight.grad = conv.weight.grad.clone(), None
    for fmt in (torch.contiguous_format, torch.channels_last):
        out = conv(x.contiguous(memory_format=fmt))
        assert out.shape == expected.shape and torch.allclose(out, expected, atol=1e-5)
        out.sum().backward()
        assert torch.allclose(conv.weight.grad, expected_grad, atol=1e-4)
        conv.weight.grad = None


def test_backbone_loader_fills_every_weight():
    net = EfficientNetLite0()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    load_lite0_weights(net)
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k]) and "num_batches" not in k]
    assert len(changed) == len([k for k in before if "num_batches" not in k])


@pytest.mark.parametrize("params", [MODEL, PROGRESSIVE], ids=["shared", "progressive"])
def test_every_trainable_weight_gets_a_gradient_from_the_task_alone(params):
    """DistributedDataParallel refuses trainable weights without a gradient, so the later tasks'
    weights, which a pass up to `det` never computes, must not be trainable."""
    torch.manual_seed(0)
    net = build_model(params, CLASSES)
    net.set_trainable("det", own_only=False)
    set_train_mode(net, frozen_bn=False)
    net(torch.rand(2, 3, 64, 64), upto="det").square().mean().backward()
    trainable_names = {n for n, p in net.named_parameters() if p.requires_grad}
    without_grad = {n for n, p in net.named_parameters() if p.requires_grad and p.grad is None}
    assert trainable_names and not without_grad
    assert not any(n.endswith(".cls") or ".cls." in n or n.startswith("backbone.") for n in trainable_names)
