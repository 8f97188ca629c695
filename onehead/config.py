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


def _is_width(value) -> bool:
    """A channel count > 0, or one per task (the progressive head's task groups)."""
    widths = list(value.values()) if isinstance(value, dict) else [value]
    keys_ok = not isinstance(value, dict) or set(value) == set(TASK_ORDER)
    return keys_ok and all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths)


Channels = Annotated[int | dict[str, int],
                     _check(_is_width, f"a width > 0, or one per task ({', '.join(TASK_ORDER)}) for the progressive head"),
                     AfterValidator(lambda v: {t: v[t] for t in TASK_ORDER} if isinstance(v, dict) else v)]
HIDDEN_LAYERS = 2  # the head's hidden layers (its third layer is the 1×1 output)


TaskList = Annotated[list[Literal[TASK_ORDER]], _check(lambda v: len(set(v)) == len(v), "each task once")]
StrategyNames = Annotated[list[Literal[STRATEGY_NAMES]], _check(len, "a non-empty list of " + ", ".join(STRATEGY_NAMES))]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(Section):
    root: str
    source: Literal["auto", "mirror", "official"]
    mirror: str
    manifest: str
    subset: Count


class ModelParams(Section):
    backbone: Literal["efficientnet_lite0", "mobilenet_v3_small"]
    pretrained: bool
    head: Literal["shared", "progressive"]
    channels: Channels
    kernels: Annotated[list[Literal[1, 3]], _check(lambda v: len(v) == HIDDEN_LAYERS, "one kernel size per hidden layer, e.g. [3, 1]")]
    context_for: TaskList

    @model_validator(mode="after")
    def _channels_fit_the_head(self):
        if self.head == "shared" and not isinstance(self.channels, int):
            raise ValueError("model.channels: the shared head has one width for all tasks, e.g. 256")
        if self.head == "progressive" and isinstance(self.channels, int):
            raise ValueError("model.channels: the progressive head has one width per task, "
                             "e.g. {seg: 128, det: 192, cls: 64}")
        return self

    def architecture(self) -> dict:
        """What must match between a checkpoint and params.yaml (weights may come from either)."""
        return self.model_dump(exclude={"pretrained"})


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
    task_rows_lr_scale: NonNegative
    eval_every: Annotated[int, Field(gt=0)]
    imagenet_teacher: NonNegative  # classification: distil the pretrained ImageNet classifier (weight)
    copy_paste: Probability        # detection: share of training images given pasted objects


class ReferenceParams(Section):
    seed: Count                # the references' own seed: train.seed varies the pipeline only


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
