"""Model structure: one 3-layer head emitting all tasks at once; pretrained backbone weights."""
import pytest
import torch
from torch import nn

from conftest import require_mirror
from onehead.config import ModelParams
from onehead.data.datasets import build_dataset
from onehead.data.transforms import eval_transform
from onehead.model.backbone import EfficientNetLite0, load_lite0_weights
from onehead.model.head import count_layers
from onehead.model.net import build_model, count_parameters, split_outputs

CLASSES = {"det": [f"d{i}" for i in range(10)], "seg": [f"s{i}" for i in range(21)], "cls": [f"c{i}" for i in range(10)]}
MODEL = ModelParams(backbone="efficientnet_lite0", pretrained=False, neck_channels=128, head_channels=128)
IMAGENET_INDEX = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]  # the 10 Imagenette classes


@pytest.fixture(scope="module")
def model():
    return build_model(MODEL, CLASSES).eval()


def test_head_has_three_layers_in_one_branch(model):
    assert count_layers(model.head) == 3
    assert model.head.out_conv.out_channels == 10 + 4 + 21 + 10  # det heatmap + box, seg, cls
    # one branch: every layer feeds the next, no parallel towers
    assert isinstance(model.head.layers, nn.Sequential)


def test_neck_is_a_single_fpn_layer(model):
    fuse_convs = [m for m in model.neck.fuse.modules() if isinstance(m, nn.Conv2d)]
    assert len(fuse_convs) == 1 and all(m.kernel_size == (1, 1) for m in model.neck.laterals)


def test_one_forward_yields_all_three_outputs(model):
    with torch.no_grad():
        out = model(torch.rand(2, 3, 128, 160))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 45, 16, 20)
    parts = split_outputs(out, model.layout, image_size=(128, 160))
    assert parts["det_heatmap"].shape == (2, 10, 16, 20) and parts["det_box"].shape == (2, 4, 16, 20)
    assert parts["seg"].shape == (2, 21, 128, 160)
    assert parts["cls"].shape == (2, 10)


def test_parameter_budget(model):
    counts = count_parameters(model)
    assert counts["total"] == counts["backbone"] + counts["neck"] + counts["head"]
    assert counts["total"] < 6_000_000
    assert 2_900_000 < counts["backbone"] < 3_000_000  # Lite0 without its 1280-ch conv head and classifier


def _imagenette_accuracy(net) -> float:
    mirror = require_mirror()
    data = build_dataset("cls", mirror, "val", eval_transform(224))
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
    net = EfficientNetLite0(with_classifier=True)
    from onehead.model.backbone import pretrained_lite0_path
    net.load_state_dict(torch.load(pretrained_lite0_path(), map_location="cpu", weights_only=True))
    assert _imagenette_accuracy(net) >= 0.9


def test_random_lite0_fails_the_same_check():
    torch.manual_seed(0)
    assert _imagenette_accuracy(EfficientNetLite0(with_classifier=True)) < 0.4


def test_backbone_loader_fills_every_weight():
    net = EfficientNetLite0()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    load_lite0_weights(net)
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k]) and "num_batches" not in k]
    assert len(changed) == len([k for k in before if "num_batches" not in k])
