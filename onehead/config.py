"""params.yaml as typed, validated settings (pydantic): known keys only, right types, sane values.

`load_params` returns a frozen `Params`; an unknown key, a wrong type or an impossible value
raises `ConfigError` naming the file and the dotted key, e.g.
`params.yaml: 'stage2_det.lr' has an impossible value -0.1 (must be > 0)`.

    python -m onehead.config PROFILE.yaml     # merge a partial profile into params.yaml
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .catalog import MAX_REPLAY_PER_TASK, STAGE_INFO, STAGE_ORDER, TASK_ORDER
from .errors import ConfigError

STRATEGY_NAMES = ("naive", "ewc", "lwf", "replay", "kd")
TRAINABLE = ("all", "neck_head", "head", "own", "own_backbone", "task_slice")
PRESERVING = ("own", "task_slice")  # trainable sets that cannot change an earlier task's outputs


def _check(ok, hint: str):
    """An after-validator: `ok(value)` must hold, else the value is impossible (`hint` says why)."""
    def validator(value):
        if not ok(value):
            raise ValueError(hint)
        return value
    return AfterValidator(validator)


Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
ImageSize = Annotated[int, _check(lambda v: v >= 32 and v % 32 == 0, "a multiple of 32, at least 32")]
ReplayCount = Annotated[int, Field(ge=0, le=MAX_REPLAY_PER_TASK)]
Workers = Annotated[int | str, _check(lambda v: v == "auto" or (isinstance(v, int) and v >= 0),
                                      "'auto' or a count ≥ 0")]
Launcher = Annotated[str, _check(lambda v: v.split()[:1] in (["python"], ["torchrun"]),
                                 "'python' or a torchrun command, e.g. 'torchrun --nproc_per_node 2'")]


def per_task(value_type, what: str):
    """A dict with one `value_type` per task (`what` names it), returned in task order."""
    return Annotated[dict[str, value_type],
                     _check(lambda v: set(v) == set(TASK_ORDER), f"one {what} per task: {', '.join(TASK_ORDER)}"),
                     AfterValidator(lambda v: {t: v[t] for t in TASK_ORDER})]


TaskChannels = per_task(Annotated[int, Field(gt=0)], "channel count")
HIDDEN_LAYERS = 2  # the head's hidden layers (its third layer is the 1×1 output)


def per_layer(kernel: int | list[int]) -> list[int]:
    """A task's hidden kernel sizes, one per hidden layer: an int holds for every layer."""
    return [kernel] * HIDDEN_LAYERS if isinstance(kernel, int) else list(kernel)


def _is_hidden_kernel(value) -> bool:
    """1 or 3 for both hidden layers, or one of them per layer, e.g. [3, 1]."""
    sizes = per_layer(value)
    return len(sizes) == HIDDEN_LAYERS and all(k in (1, 3) for k in sizes)


HiddenKernel = Annotated[int | list[int], _check(_is_hidden_kernel, "1 or 3, or one per hidden layer, e.g. [3, 1]")]
TaskKernels = per_task(HiddenKernel, "kernel size")
TaskList = Annotated[list[Literal[TASK_ORDER]], _check(lambda v: len(set(v)) == len(v), "each task once")]
StrategyNames = Annotated[list[Literal[STRATEGY_NAMES]], _check(len, "a non-empty list of " + ", ".join(STRATEGY_NAMES))]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(Section):
    root: str
    source: Literal["mirror", "official"]
    mirror: str
    manifest: str
    subset: Count


class ModelParams(Section):
    backbone: Literal["efficientnet_lite0", "mobilenet_v3_small"]
    pretrained: bool
    conv_head_for: TaskList
    last_block_for: TaskList | None = None  # None: the tasks not in conv_head_for (checkpoints before it)
    neck_channels: TaskChannels
    neck_kernel: Literal[1, 3]
    head_channels: TaskChannels
    head_kernel: TaskKernels = {"seg": 3, "det": 3, "cls": 3}  # absent from checkpoints written before it existed
    context_for: TaskList = []  # absent from checkpoints written before it existed
    isolated: TaskList = []     # tasks whose neck and head groups read only their own input group (ditto)

    @model_validator(mode="after")
    def _every_task_reads_stride_32(self):
        """Without a conv head (`conv_head_for: []`) every task reads the last block, whatever `last_block_for` says."""
        unread = [t for t in TASK_ORDER if t not in self.conv_head_for + self.last_block_readers()]
        if unread:
            raise ValueError(f"model.last_block_for: {', '.join(unread)} would read neither the last block nor the "
                             "conv head (list each task in last_block_for, conv_head_for or both)")
        return self

    def last_block_readers(self) -> list[str]:
        """The tasks whose stride-32 input includes the backbone's last block."""
        if not self.conv_head_for:
            return list(TASK_ORDER)
        if self.last_block_for is None:
            return [t for t in TASK_ORDER if t not in self.conv_head_for]
        return [t for t in TASK_ORDER if t in self.last_block_for]

    def architecture(self) -> dict:
        """What must match between a checkpoint and params.yaml (weights may come from either)."""
        return {**self.model_dump(exclude={"pretrained", "last_block_for"}), "last_block_for": self.last_block_readers()}


class TrainParams(Section):
    seed: Count
    device: Literal["auto", "cpu", "cuda"]
    weight_decay: NonNegative
    freeze_bn: bool
    threads: Count
    workers: Workers
    launcher: Launcher
    det_max_per_image: Annotated[int, Field(gt=0)]


class MemoryParams(Section):
    replay_per_task: ReplayCount
    fisher_samples: Count


class StrategyParams(Section):
    names: StrategyNames
    replay_per_step: ReplayCount
    replay_weight: NonNegative
    lwf_weight: NonNegative
    lwf_temperature: Positive
    lwf_replay_weight: NonNegative
    kd_weight: NonNegative
    kd_feature_weight: NonNegative
    kd_temperature: Positive
    ewc_lambda: NonNegative
    ewc_decay: Annotated[float, Field(ge=0, le=1)]


class StageParams(Section):
    epochs: Count
    image_size: ImageSize
    batch_size: Annotated[int, Field(gt=0)]
    lr: Positive
    trainable: Literal[TRAINABLE]
    backbone_lr_scale: NonNegative
    task_rows_lr_scale: NonNegative
    old_rows_lr_scale: NonNegative
    eval_every: Annotated[int, Field(gt=0)]
    imagenet_teacher: NonNegative = 0.0   # classification: distil the pretrained ImageNet classifier (weight)
    copy_paste: Probability = 0.0         # detection: share of training images given pasted objects

    @property
    def preserves_earlier_outputs(self) -> bool:
        """Only this task's own channel groups or rows train: no earlier task's outputs can change."""
        return self.trainable in PRESERVING


class ReferenceSettings(Section):
    """What a task's single-task reference changes in its stage's settings. `trainable` is required:
    the reference stages in dvc.yaml read every key of their stage but that one."""
    trainable: Literal[TRAINABLE]
    backbone_lr_scale: NonNegative | None = None


class ReferenceParams(Section):
    seed: Count = 0            # the references' own seed: train.seed varies the pipeline only
    seg: ReferenceSettings
    det: ReferenceSettings
    cls: ReferenceSettings


class EvaluateParams(Section):
    latency_runs: Annotated[int, Field(gt=0)]
    latency_size: Annotated[int, Field(gt=0)]
    threshold_rel_drop: Annotated[float, Field(ge=0, le=1)]


class ReportParams(Section):
    qualitative_images: Count


# Stage keys that only one task's stage may switch on: {key: (task, why elsewhere it must stay 0)}.
TASK_ONLY_KEYS = {
    "imagenet_teacher": ("cls", "only the classification stage has an ImageNet teacher"),
    "copy_paste": ("det", "only detection pastes objects (from its outlines)"),
}


class Params(Section):
    data: DataParams
    model: ModelParams
    train: TrainParams
    memory: MemoryParams
    strategy: StrategyParams
    stage1_seg: StageParams
    stage2_det: StageParams
    stage3_cls: StageParams
    reference: ReferenceParams
    evaluate: EvaluateParams
    report: ReportParams

    def stage(self, name: str) -> StageParams:
        return getattr(self, name)

    @model_validator(mode="after")
    def _task_only_keys_off_elsewhere(self):
        for name in STAGE_ORDER:
            for key, (task, why) in TASK_ONLY_KEYS.items():
                if getattr(self.stage(name), key) and STAGE_INFO[name].task != task:
                    raise ValueError(f"{name}.{key}: {why}; use 0")
        return self


assert set(STAGE_ORDER) <= set(Params.model_fields), "every pipeline stage needs its params section"
assert tuple(ReferenceParams.model_fields)[1:] == TASK_ORDER, "every task needs its reference settings"

_KIND = {"int_type": "int", "float_type": "int or float", "bool_type": "bool", "string_type": "str",
         "list_type": "list", "model_type": "a mapping", "dict_type": "a mapping"}
_UNION_TAGS = {"int", "str", "float", "bool"}


def describe(err: dict, path: str, schema: type[BaseModel] | None = None, top_level: str = "section") -> str:
    """One pydantic error as a sentence naming the file and the dotted key."""
    loc = [str(p) for p in err["loc"] if not isinstance(p, int) and "[" not in str(p) and p not in _UNION_TAGS]
    key, kind, value = ".".join(loc), err["type"], err["input"]
    level = "key" if len(loc) > 1 else top_level
    if kind == "extra_forbidden":
        known = _known(schema or Params, loc[:-1])
        return f"{path}: unknown {level} '{key}'" + (f" (known: {known})" if known else "")
    if kind == "missing":
        return f"{path}: missing {level} '{key}'"
    if kind in _KIND or kind == "is_instance_of":
        got = "a boolean" if isinstance(value, bool) else _short(value)
        return f"{path}: '{key}' must be {_KIND.get(kind) or err['ctx']['class']}, got {got}"
    hint = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    if _section(schema or Params, loc) is not None:  # a check across a section's keys: its message names them
        return f"{path}: {hint}"
    return f"{path}: '{key}' has an impossible value {_short(value)} ({_readable(hint)})"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _section(schema: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    """The params section (a model) at `loc`, or None when `loc` is a plain key."""
    model = schema
    for name in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or name not in model.model_fields:
            return None
        model = model.model_fields[name].annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _known(schema, section: list[str]) -> str:
    model = _section(schema, section)
    return ", ".join(model.model_fields) if model else ""


def _readable(hint: str) -> str:
    for words, sign in (("greater than or equal to ", "≥ "), ("less than or equal to ", "≤ "),
                        ("greater than ", "> "), ("less than ", "< ")):
        if hint.startswith(words):
            return "must be " + sign + hint.removeprefix(words)
    return hint


def validate(params: Any, path: str = "params.yaml") -> Params:
    """Check a whole params mapping; returns it as typed `Params`."""
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    try:
        return Params.model_validate(params)
    except ValidationError as err:
        problems = [describe(e, path) for e in err.errors()]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more) from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file."""
    return validate(read_yaml(path), str(path))


def deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override`'s leaves replacing its own (lists are replaced whole)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_profile(profile: str | Path, params_path: str | Path = "params.yaml") -> Params:
    """Merge a partial profile file (e.g. profiles/tiny.yaml) into params.yaml in place."""
    base = read_yaml(params_path)
    load_params(params_path)
    merged = deep_merge(base, read_yaml(profile) or {})
    params = validate(merged, str(profile))
    Path(params_path).write_text(yaml.safe_dump(merged, sort_keys=False))
    return params


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m onehead.config PROFILE.yaml   (merges it into params.yaml)")
    apply_profile(sys.argv[1])
    print(f"params.yaml updated with {sys.argv[1]}")
