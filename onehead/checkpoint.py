"""Checkpoints: model weights plus everything a later stage or the grader CLI needs.

A checkpoint holds only tensors, numbers, strings, lists and dicts, and is loaded with
`torch.load(weights_only=True)`: a file that carries Python objects (which could run code
while unpickled) is refused before anything of it is used. Keys of format v2:

    format, stage, model_params, classes, learned (tasks so far), image_size (per task),
    model (state dict), memory (per task: replay samples as plain tensors, Fisher),
    params (the params the stage ran with), metrics, train_time_s (per stage), history (per-epoch
    losses and val metrics), world_size
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from .catalog import TASK_ORDER
from .config import ModelParams, describe
from .errors import CheckpointError
from .io import save_torch
from .model.net import OneHeadNet, build_model

FORMAT = "onehead-checkpoint-v3"
OLD_FORMATS = ("onehead-checkpoint-v1", "onehead-checkpoint-v2")  # v2: the task-grouped network before the shared head


class TaskMemory(BaseModel):
    """What a finished task leaves for later stages (built by `onehead.memory`), as plain values."""
    model_config = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=True)
    replay: list[dict[str, torch.Tensor | dict[str, torch.Tensor | int]]]   # `data.common.to_plain` samples
    fisher: dict[str, torch.Tensor]                                          # parameter name -> Fisher


class Checkpoint(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=True)
    format: str
    stage: str
    model_params: ModelParams
    classes: dict[str, list[str]]
    learned: list[str]
    image_size: dict[str, int]
    model: dict[str, torch.Tensor]
    memory: dict[str, TaskMemory]
    params: dict
    metrics: dict
    train_time_s: dict[str, float]
    history: dict[str, list[dict[str, int | float]]]  # per-epoch rows: losses, val metrics
    world_size: int


def save_checkpoint(path: str | Path, model: OneHeadNet, **fields) -> None:
    """Write a checkpoint (atomically); its content is checked as a reader will check it."""
    content = {"format": FORMAT, "model": model.state_dict(), **fields}
    content["model_params"] = content["model_params"].model_dump()
    content["memory"] = {task: memory.model_dump() for task, memory in content["memory"].items()}
    _check_content(content, path)
    save_torch(path, content)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint; any problem is a `CheckpointError` naming the file (and key)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (run the previous stage first: dvc repro)")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refused: it holds pickled Python objects, which could run code when loaded "
            f"({_blocked_global(err)}); onehead checkpoints (format {FORMAT}) hold only tensors and plain "
            "values. Checkpoints of an older onehead look like this too: re-create them with dvc repro") from None
    except Exception as err:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({_first_line(err)})") from None
    if not isinstance(content, dict) or not isinstance(content.get("format"), str) \
            or not content["format"].startswith("onehead-checkpoint"):
        raise CheckpointError(f"{path}: not an onehead checkpoint (format {FORMAT} expected)")
    if content["format"] in OLD_FORMATS:
        raise CheckpointError(f"{path}: checkpoint format {content['format']} is no longer read (an older "
                              f"network); re-create it with dvc repro (format {FORMAT})")
    if content["format"] != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {content['format']!r} ({FORMAT} expected)")
    return _check_content(content, path)


def _check_content(content: dict, path) -> Checkpoint:
    try:
        ckpt = Checkpoint.model_validate(content)
    except ValidationError as err:
        raise CheckpointError(describe(err.errors()[0], f"{path}: checkpoint", Checkpoint, "key")) from None
    if unknown := [t for t in ckpt.learned if t not in TASK_ORDER]:
        raise CheckpointError(f"{path}: checkpoint: 'learned' has unknown task(s) {unknown}")
    for key, names in (("classes", TASK_ORDER), ("image_size", ckpt.learned)):
        missing = [t for t in names if t not in getattr(ckpt, key)]
        if missing:
            raise CheckpointError(f"{path}: checkpoint: missing key '{key}.{missing[0]}'")
    return ckpt


def _blocked_global(err: Exception) -> str:
    """The line of torch's refusal that names the Python object it would have had to load."""
    lines = [line.strip() for line in str(err).splitlines() if "GLOBAL" in line]
    return lines[0] if lines else _first_line(err)


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def model_from_checkpoint(ckpt: Checkpoint, path: str | Path = "checkpoint") -> OneHeadNet:
    """Rebuild the network described by the checkpoint and load its weights."""
    params = ckpt.model_params.model_copy(update={"pretrained": False})  # the weights come from the checkpoint
    model = build_model(params, ckpt.classes)
    try:
        model.load_state_dict(ckpt.model)
    except RuntimeError as err:
        first = str(err).splitlines()[0:2]
        raise CheckpointError(f"{path}: weights do not fit the architecture it describes: {' '.join(first)}") from None
    return model


def check_compatible(ckpt: Checkpoint, model_params: ModelParams, path: str | Path) -> None:
    """A previous stage's checkpoint must have the architecture params.yaml asks for."""
    ours, theirs = model_params.architecture(), ckpt.model_params.architecture()
    if ours != theirs:
        diff = {k: (theirs.get(k), ours.get(k)) for k in ours if theirs.get(k) != ours.get(k)}
        raise CheckpointError(f"{path}: built with another architecture; differing model params "
                              f"(checkpoint, params.yaml): {diff}")
