"""Model structure: one 3-layer head emitting all tasks at once, task-grouped channels that keep
earlier tasks' outputs fixed while a later task trains; pretrained backbone weights."""
import pytest
import torch
from torch import nn

from conftest import require_mirror
from onehead.config import ModelParams
from onehead.data.datasets import build_dataset
from onehead.data.transforms import eval_transform
from onehead.engine import set_train_mode
from onehead.model.backbone import EfficientNetLite0, SameConv2d, load_lite0_weights, same_padding
from onehead.model.head import count_layers
from onehead.model.net import build_model, count_parameters, split_outputs

CLASSES = {"det": [f"d{i}" for i in range(10)], "seg": [f"s{i}" for i in range(21)], "cls": [f"c{i}" for i in range(10)]}
GROUPS = {"seg": 32, "det": 24, "cls": 16}
MODEL = ModelParams(backbone="efficientnet_lite0", pretrained=False, conv_head_for=["cls"], neck_channels=GROUPS,
                    neck_kernel=3, head_channels=GROUPS)
CONTEXT_MODEL = MODEL.model_copy(update={"context_for": ["seg"]})
IMAGENET_INDEX = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]  # the 10 Imagenette classes


def in_group(name: str, task: str) -> bool:
    """Whether parameter `name` belongs to `task`'s channel groups (`….det` or `….det.weight`)."""
    return name.endswith(f".{task}") or f".{task}." in name


def kernels(conv) -> set[int]:
    """The kernel sizes of a TaskConv2d's groups."""
    return {w.shape[-1] for w in conv.weights.values()}


@pytest.fixture(scope="module")
def model():
    return build_model(MODEL, CLASSES).eval()


def test_head_has_three_layers_in_one_branch(model):
    assert count_layers(model.head) == 3
    assert sum(model.head.out_conv.out_groups.values()) == 21 + 10 + 4 + 10  # seg, det heatmap + box, cls
    # one branch: each layer is a single convolution over the whole previous tensor
    layers = [model.head.conv1, model.head.conv2, model.head.out_conv]
    assert [m.in_width(task) for m in layers for task in ("seg", "det", "cls")][-3:] == [32, 56, 72]


def test_neck_is_a_single_fpn_layer(model):
    assert kernels(model.neck.fuse) == {3} and all(kernels(lat) == {1} for lat in model.neck.laterals)
    assert [lat.in_groups for lat in model.neck.laterals] == [40, 112, 320, 1280]  # strides 8/16/32, conv head
    assert list(model.neck.laterals[2].weights) == ["seg", "det"] and list(model.neck.laterals[3].weights) == ["cls"]


def test_a_task_may_read_the_last_block_and_the_conv_head():
    """cls listed in both: its stride-32 laterals read the last block and the conv head, and its outputs
    depend on each; an unset `last_block_for` (older checkpoints) means every task not in `conv_head_for`."""
    both = MODEL.model_copy(update={"last_block_for": ["seg", "det", "cls"]})
    assert MODEL.architecture() == MODEL.model_copy(update={"last_block_for": ["seg", "det"]}).architecture()
    assert both.architecture() != MODEL.architecture()
    torch.manual_seed(0)
    net = build_model(both, CLASSES).eval()
    assert list(net.neck.laterals[2].weights) == ["seg", "det", "cls"] and list(net.neck.laterals[3].weights) == ["cls"]
    # random maps of the backbone's shapes (a random backbone's own features are nearly zero)
    feats = [torch.randn(1, c, 8 // 2 ** min(i, 2), 12 // 2 ** min(i, 2)) for i, c in enumerate([40, 112, 320, 1280])]
    for lateral in (2, 3):
        with torch.no_grad():
            before = net.neck(feats)
            net.neck.laterals[lateral].weights["cls"].add_(1.0)
            after = net.neck(feats)
        assert torch.equal(after[:, :56], before[:, :56]) and not torch.allclose(after[:, 56:], before[:, 56:])


def test_neck_kernel_sets_the_fusing_conv():
    one = build_model(MODEL.model_copy(update={"neck_kernel": 1}), CLASSES).eval()
    assert kernels(one.neck.fuse) == {1}
    with torch.no_grad():
        assert one(torch.rand(1, 3, 64, 96)).shape == (1, 45, 8, 12)


def test_neck_equals_upsampling_every_lateral_before_the_sum(model):
    """The neck sums the two stride-32 laterals before upsampling; bilinear upsampling is linear,
    so this must equal the textbook FPN sum of each upsampled lateral."""
    with torch.no_grad():
        feats = model.backbone_features(torch.rand(1, 3, 96, 128))
        lats = [lat(f) for lat, f in zip(model.neck.laterals, feats)]
        textbook = sum(nn.functional.interpolate(y, size=lats[0].shape[-2:], mode="bilinear", align_corners=False)
                       for y in lats)
        expected = torch.relu(model.neck.bn(model.neck.fuse(textbook)))
        assert torch.allclose(model.neck(feats), expected, atol=1e-5)


def test_computing_up_to_a_task_gives_the_same_channels(model):
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        full = model(x)
        for task, width in (("seg", 21), ("det", 35)):
            assert torch.allclose(model(x, upto=task), full[:, :width], atol=1e-5)


@pytest.mark.parametrize("params", [MODEL, CONTEXT_MODEL], ids=["plain", "seg_reads_context"])
def test_training_a_later_task_leaves_earlier_outputs_bit_identical(params):
    torch.manual_seed(0)
    net = build_model(params, CLASSES)
    net.set_trainable("own", "det")
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(in_group(n, "det") for n in trainable)
    x = torch.rand(2, 3, 64, 64)
    net.eval()
    with torch.no_grad():
        before = net(x)
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        set_train_mode(net, frozen_bn=False)  # BatchNorm of frozen groups (and backbone) keeps its statistics
        net(torch.rand(2, 3, 64, 64), upto="det").square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    net.eval()
    with torch.no_grad():
        after = net(x)
    assert torch.equal(after[:, :21], before[:, :21])  # seg: not one bit changed
    assert not torch.allclose(after[:, 21:35], before[:, 21:35])  # det learnt


def _perturb_group(net, task: str) -> None:
    """Add noise to every neck and head weight of `task`'s channel groups."""
    with torch.no_grad():
        for p in net.task_parameters(task):
            p.add_(torch.randn_like(p))


@pytest.mark.parametrize("isolated", [[], ["det"]], ids=["reads_seg", "isolated"])
def test_an_isolated_task_neither_reads_nor_depends_on_earlier_groups(isolated):
    """det isolated: its groups read only det's channels (narrower weights), so changing seg's
    groups leaves det's outputs exactly as they were; cls still reads seg's and det's groups."""
    torch.manual_seed(0)
    net = build_model(MODEL.model_copy(update={"isolated": isolated}), CLASSES).eval()
    det_reads = 24 if isolated else 56
    assert [net.head.conv1.weights["det"].shape[1], net.neck.fuse.weights["det"].shape[1]] == [det_reads] * 2
    assert net.head.conv1.weights["cls"].shape[1] == 72
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        before = net(x)
        _perturb_group(net, "seg")
        after = net(x)
    det = slice(21, 35)
    assert torch.equal(after[:, det], before[:, det]) == bool(isolated)
    assert not torch.allclose(after[:, 35:], before[:, 35:])  # cls reads seg's groups either way
    with torch.no_grad():
        assert torch.allclose(net(x, upto="det"), after[:, :35], atol=1e-5)


def test_one_task_isolated_leaves_every_other_groups_initial_weights_alone():
    """Each group is seeded by its layer, task and the global seed: isolating cls (narrower cls
    weights) leaves seg's and det's initial weights as they were, and the seed still matters."""
    def initial(isolated, seed=0):
        torch.manual_seed(seed)
        net = build_model(MODEL.model_copy(update={"isolated": isolated}), CLASSES)
        return {t: net.task_parameters(t) for t in ("seg", "det", "cls")}
    det_only, det_and_cls, other_seed = initial(["det"]), initial(["det", "cls"]), initial(["det"], seed=1)
    for task in ("seg", "det"):
        assert all(torch.equal(a, b) for a, b in zip(det_only[task], det_and_cls[task]))
    assert [p.shape for p in det_only["cls"]] != [p.shape for p in det_and_cls["cls"]]
    assert not torch.equal(det_only["seg"][0], other_seed["seg"][0])


@pytest.mark.parametrize("isolated", [[], ["det"]], ids=["reads_seg", "isolated"])
def test_a_pass_for_one_task_alone_skips_only_groups_it_does_not_read(isolated):
    """`alone=True` leaves out the earlier tasks' groups only when the task is isolated: with seg's
    weights made NaN, isolated det's outputs come out exactly as in a full pass, and seg's are not
    computed; a task that reads seg's groups still computes them."""
    torch.manual_seed(0)
    net = build_model(MODEL.model_copy(update={"isolated": isolated}), CLASSES).eval()
    x, det = torch.rand(2, 3, 64, 96), slice(21, 35)
    with torch.no_grad():
        full = net(x, upto="det")
        for p in net.task_parameters("seg"):
            p.fill_(float("nan"))
        alone = net(x, upto="det", alone=True)
    assert net.unread_groups("det") == ({"seg"} if isolated else set())
    assert torch.equal(alone[:, det], full[:, det]) == bool(isolated)
    assert torch.equal(alone[:, :21], torch.zeros_like(alone[:, :21])) == bool(isolated)


@pytest.mark.parametrize("kernels,hidden_sizes", [
    ({"seg": 3, "det": 3, "cls": 1}, [[3, 3, 1], [3, 3, 1]]),
    ({"seg": 3, "det": [3, 1], "cls": 3}, [[3, 3, 3], [3, 1, 3]]),
])
def test_a_1x1_head_group_is_the_3x3_one_with_only_its_centre_taps(kernels, hidden_sizes):
    """`model.head_kernel: {cls: 1}`: cls's hidden groups are 1×1 (seg's, det's stay 3×3); `det: [3, 1]`:
    det's first hidden group stays 3×3, its second is 1×1. Either network computes what the all-3×3 one
    computes when those 3×3 kernels are zero but the centre."""
    torch.manual_seed(0)
    mixed = build_model(MODEL.model_copy(update={"head_kernel": kernels}), CLASSES).eval()
    square = build_model(MODEL, CLASSES).eval()
    assert [[conv.weights[t].shape[-1] for t in ("seg", "det", "cls")]
            for conv in (mixed.head.conv1, mixed.head.conv2)] == hidden_sizes
    weights = mixed.state_dict()
    for name, w in square.state_dict().items():
        if w.shape != weights[name].shape:  # a 1×1 hidden kernel: its weights at the centre tap
            weights[name] = torch.zeros_like(w)
            weights[name][:, :, 1:2, 1:2] = mixed.state_dict()[name]
    square.load_state_dict(weights)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(mixed(x), square(x), atol=1e-5)


def test_image_context_is_a_part_of_the_output_layer():
    """Only seg's output rows read the context, and the two 1×1 convs of the output layer are one
    1×1 conv over the hidden map and the context vector broadcast to every position."""
    torch.manual_seed(0)
    net = build_model(CONTEXT_MODEL, CLASSES).eval()
    head = net.head
    assert count_layers(head) == 3 and list(head.out_context.weights) == ["seg"]
    assert all(torch.count_nonzero(w) == 0 for w in head.out_context.weights.values())  # starts without context
    hidden = []
    head.out_conv.register_forward_hook(lambda module, args, out: hidden.append(args[0]))
    neck, context = torch.rand(2, 72, 8, 12), torch.rand(2, 320, 1, 1)
    with torch.no_grad():
        head.out_context.weights["seg"].normal_()
        out = head(neck, context=context)
        seg_in = torch.cat([hidden[0][:, :GROUPS["seg"]], context.expand(-1, -1, 8, 12)], dim=1)
        seg_weight = torch.cat([head.out_conv.weights["seg"], head.out_context.weights["seg"]], dim=1)
        seg = nn.functional.conv2d(seg_in, seg_weight, head.out_conv.biases["seg"])
        assert torch.allclose(out[:, :21], seg, atol=1e-4)
        assert torch.equal(out[:, 21:], head.out_conv(hidden[0])[:, 21:])  # det and cls: no context
        added = out[:, :21] - head.out_conv(hidden[0])[:, :21]  # per image, the same at every position
        assert added.abs().amin() > 1e-3 and torch.allclose(added, added[..., :1, :1].expand_as(added), atol=1e-5)
        # the network's context is the mean of the backbone's last block
        x = torch.rand(1, 3, 64, 96)
        feats = net.backbone_features(x)
        pooled = feats[2].mean(dim=(2, 3), keepdim=True)
        assert torch.equal(net(x), head(net.neck(feats), context=pooled))
        assert not torch.equal(net(x), head(net.neck(feats), context=pooled + 1))


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


@pytest.mark.parametrize("trainable", ["all", "neck_head", "head"])
def test_every_trainable_weight_gets_a_gradient_from_the_task_alone(trainable):
    """DistributedDataParallel refuses trainable weights without a gradient, so the later tasks'
    groups and Lite0's conv head (read by cls only here), which a pass up to `det` never computes,
    must not be trainable."""
    torch.manual_seed(0)
    net = build_model(MODEL, CLASSES)
    net.set_trainable(trainable, "det")
    set_train_mode(net, frozen_bn=False)
    net(torch.rand(2, 3, 64, 64), upto="det").square().mean().backward()
    trainable_names = {n for n, p in net.named_parameters() if p.requires_grad}
    without_grad = {n for n, p in net.named_parameters() if p.requires_grad and p.grad is None}
    assert trainable_names and not without_grad
    assert not any(in_group(n, "cls") or "_conv_head" in n for n in trainable_names)
    assert any(in_group(n, "seg") for n in trainable_names)  # earlier groups still train
