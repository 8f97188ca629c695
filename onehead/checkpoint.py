"""Checkpoints: model weights plus everything a later stage or the grader CLI needs.

Keys: format, stage, model_params, classes, learned (tasks so far), image_size (per
task), model (state dict), memory (per-task replay samples and Fisher), strategy
(strategy state), params (the params the stage ran with), metrics.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .io import save_torch
from .model.net import OneHeadNet, build_model

FORMAT = "onehead-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file."""


def save_checkpoint(path: str | Path, model: OneHeadNet, **fields) -> None:
    save_torch(path, {"format": FORMAT, "model": model.state_dict(), **fields})


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (run the previous stage first: dvc repro)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an onehead checkpoint (format {FORMAT} expected)")
    return ckpt


def model_from_checkpoint(ckpt: dict, path: str | Path = "checkpoint") -> OneHeadNet:
    """Rebuild the network described by the checkpoint and load its weights."""
    params = dict(ckpt["model_params"], pretrained=False)  # the weights come from the checkpoint
    model = build_model(params, ckpt["classes"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        first = str(err).splitlines()[0:2]
        raise CheckpointError(f"{path}: weights do not fit the architecture it describes: {' '.join(first)}") from None
    return model


def check_compatible(ckpt: dict, model_params: dict, path: str | Path) -> None:
    """A previous stage's checkpoint must have the architecture params.yaml asks for."""
    ours = {k: v for k, v in model_params.items() if k != "pretrained"}
    theirs = {k: v for k, v in ckpt["model_params"].items() if k != "pretrained"}
    if ours != theirs:
        diff = {k: (theirs.get(k), ours.get(k)) for k in ours if theirs.get(k) != ours.get(k)}
        raise CheckpointError(f"{path}: built with another architecture; differing model params "
                              f"(checkpoint, params.yaml): {diff}")
