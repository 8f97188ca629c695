"""The pretrained ImageNet classifier as the classification teacher: it must know the classes."""
import pytest
import torch

from conftest import require_mirror
from onehead.config import ModelParams
from onehead.data.datasets import build_dataset, class_names
from onehead.data.transforms import eval_transform
from onehead.model.net import build_model
from onehead.teacher import build_teacher

PRETRAINED = ModelParams(backbone="efficientnet_lite0", pretrained=True, head="shared", channels=8, kernels=[3, 1],
                         context_for=[])


def pretrained_with_teacher():
    """A pretrained model learning cls (own groups) on the mirror's classes, and its teacher."""
    mirror = require_mirror()
    classes = class_names(mirror)
    model = build_model(PRETRAINED, classes).eval()
    model.set_trainable("cls", own_only=False)
    return mirror, model, build_teacher("cls", 1.0, PRETRAINED, classes)


def test_teacher_labels_imagenette_val_as_the_pretrained_classifier_does():
    mirror, model, teacher = pretrained_with_teacher()
    data = build_dataset("cls", mirror, "val", eval_transform("cls", 224))
    correct = 0
    with torch.no_grad():
        for i in range(len(data)):
            sample = data[i]
            correct += int(teacher.logits(model.run(sample["image"][None])).argmax() == sample["label"])
    assert correct / len(data) >= 0.95


def test_teacher_terms_vanish_when_the_student_agrees():
    _, model, teacher = pretrained_with_teacher()
    fwd = model.run(torch.rand(2, 3, 64, 64))
    cls_rows = model.layout.slices["cls"]
    agreeing = fwd.output.clone()
    agreeing[:, cls_rows] = teacher.logits(fwd)[:, :, None, None]
    fwd.output = agreeing
    assert teacher(model, fwd)["cls_teacher"].item() < 1e-5


@pytest.mark.parametrize("change, params, reason", [
    (lambda classes: {**classes, "cls": ["cat", "dog"]}, PRETRAINED, "not all ImageNet-1k WordNet ids"),
    (lambda classes: classes, PRETRAINED.model_copy(update={"pretrained": False}), "not the pretrained efficientnet"),
])
def test_no_teacher_where_it_cannot_teach(data_root, capsys, change, params, reason):
    classes = change(class_names(data_root))
    assert build_teacher("cls", 1.0, params, classes) is None
    assert reason in capsys.readouterr().err
    assert build_teacher("seg", 1.0, params, classes) is None  # only classification has one
