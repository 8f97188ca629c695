"""The pretrained network's own ImageNet classifier as a teacher of the classification task.

EfficientNet-Lite0 comes with a classifier over the 1000 ImageNet-1k classes, which reads the
mean of its 1280-channel conv-head features. When every class of the classification data is an
ImageNet class (a WordNet id, as Imagenette's folders), those classes' rows of that classifier
label the images, and the one head's classification output is distilled towards them
(Hinton et al., 2015) on every augmented training view, beside the cross-entropy on the labels.
With 240 training images this carries over what the pretrained classifier knows of the classes.
The teacher is no part of the trained model (nothing of it is saved); it needs the conv-head
features the backbone computes anyway.
"""
from __future__ import annotations

import sys

import torch

from .data.wordnet import imagenet_index
from .losses import soft_kl
from .model.backbone import pretrained_classifier_rows
from .model.net import ForwardPass, split_outputs

TEMPERATURE = 2.0


class ImagenetTeacher:
    def __init__(self, weight: float, rows: torch.Tensor, biases: torch.Tensor):
        self.weight, self.rows, self.biases = weight, rows, biases

    def logits(self, fwd: ForwardPass) -> torch.Tensor:
        pooled = fwd.backbone_features[-1].mean(dim=(2, 3))  # the conv head's 1280 channels
        return pooled @ self.rows.to(pooled.device).T + self.biases.to(pooled.device)

    def __call__(self, model, fwd: ForwardPass) -> dict[str, torch.Tensor]:
        student = split_outputs(fwd.output, model.layout)["cls"]
        return {"cls_teacher": self.weight * soft_kl(student, self.logits(fwd).detach(), TEMPERATURE)}


def build_teacher(task: str, weight: float, model_params, classes: dict[str, list[str]]):
    """The teacher of `task`, or None when none is asked for or none can teach it (with a note why)."""
    if task != "cls" or weight == 0:
        return None
    indices = [imagenet_index(name) for name in classes["cls"]]
    reasons = {"its classes are not all ImageNet-1k WordNet ids": None in indices,
               "the backbone is not the pretrained efficientnet_lite0": not (
                   model_params.backbone == "efficientnet_lite0" and model_params.pretrained)}
    if why := [reason for reason, applies in reasons.items() if applies]:
        print(f"note: no ImageNet teacher for {task}: {'; '.join(why)}", file=sys.stderr)
        return None
    return ImagenetTeacher(weight, *pretrained_classifier_rows(indices))
