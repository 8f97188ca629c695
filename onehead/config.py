"""Load and validate params.yaml: known keys only, right types, sensible ranges.

Every section is checked against a schema of (type, check) pairs; an unknown key, a wrong
type or an impossible value raises `ConfigError` naming the file and the dotted key.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import yaml

STAGES = ("stage1_seg", "stage2_det", "stage3_cls")
STAGE_TASK = {"stage1_seg": "seg", "stage2_det": "det", "stage3_cls": "cls"}
STRATEGIES = ("naive", "ewc", "lwf", "replay", "kd")
TRAINABLE = ("all", "neck_head", "head", "task_slice")


class ConfigError(ValueError):
    """A params file that cannot be used; the message names the file and key."""


def _positive(v):
    """must be > 0"""
    return v > 0


def _non_negative(v):
    """must be ≥ 0"""
    return v >= 0


def _fraction(v):
    """must lie in [0, 1]"""
    return 0 <= v <= 1


def _image_size(v):
    """a multiple of 32, at least 32"""
    return v >= 32 and v % 32 == 0


def _at_most_ten(v):
    """0–10: SPEC §3 allows at most 10 replayed images per earlier task"""
    return 0 <= v <= 10


def _strategy_names(v):
    """a non-empty list of naive, ewc, lwf, replay, kd"""
    return len(v) > 0 and all(n in STRATEGIES for n in v)


def _auto_or_count(v):
    """'auto' or a count ≥ 0"""
    return v == "auto" or (isinstance(v, int) and v >= 0)


def _launcher(v):
    """'python' or a torchrun command, e.g. 'torchrun --nproc_per_node 2'"""
    return v.split()[:1] in (["python"], ["torchrun"])


def _one_of(*choices) -> Callable[[Any], bool]:
    check = lambda v: v in choices  # noqa: E731
    check.__doc__ = f"one of {list(choices)}"
    return check


NUM = (int, float)
STAGE_SCHEMA = {
    "epochs": (int, _non_negative),
    "image_size": (int, _image_size),
    "batch_size": (int, _positive),
    "lr": (NUM, _positive),
    "trainable": (str, _one_of(*TRAINABLE)),
    "backbone_lr_scale": (NUM, _non_negative),
    "task_rows_lr_scale": (NUM, _non_negative),
    "old_rows_lr_scale": (NUM, _non_negative),
    "eval_every": (int, _positive),
}
SCHEMA: dict[str, dict[str, tuple]] = {
    "data": {
        "root": (str, None),
        "source": (str, _one_of("mirror", "official")),
        "mirror": (str, None),
        "manifest": (str, None),
        "subset": (int, _non_negative),
    },
    "model": {
        "backbone": (str, _one_of("efficientnet_lite0", "mobilenet_v3_small")),
        "pretrained": (bool, None),
        "neck_channels": (int, _positive),
        "head_channels": (int, _positive),
    },
    "train": {
        "seed": (int, _non_negative),
        "device": (str, _one_of("auto", "cpu", "cuda")),
        "weight_decay": (NUM, _non_negative),
        "freeze_bn": (bool, None),
        "threads": (int, _non_negative),
        "workers": ((int, str), _auto_or_count),
        "launcher": (str, _launcher),
        "det_max_per_image": (int, _positive),
    },
    "memory": {
        "replay_per_task": (int, _at_most_ten),
        "fisher_samples": (int, _non_negative),
    },
    "strategy": {
        "names": (list, _strategy_names),
        "replay_per_step": (int, _at_most_ten),
        "replay_weight": (NUM, _non_negative),
        "lwf_weight": (NUM, _non_negative),
        "lwf_temperature": (NUM, _positive),
        "lwf_replay_weight": (NUM, _non_negative),
        "kd_weight": (NUM, _non_negative),
        "kd_feature_weight": (NUM, _non_negative),
        "ewc_lambda": (NUM, _non_negative),
        "ewc_decay": (NUM, _fraction),
    },
    "evaluate": {
        "latency_runs": (int, _positive),
        "latency_size": (int, _positive),
        "threshold_rel_drop": (NUM, _fraction),
    },
    "report": {
        "qualitative_images": (int, _non_negative),
    },
    **{stage: STAGE_SCHEMA for stage in STAGES},
}


def _check_section(path: str, name: str, section: Any) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: section '{name}' must be a mapping, got {type(section).__name__}")
    schema = SCHEMA[name]
    for key, value in section.items():
        if key not in schema:
            raise ConfigError(f"{path}: unknown key '{name}.{key}' (known: {', '.join(schema)})")
        kind, check = schema[key]
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"{path}: '{name}.{key}' must be {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise ConfigError(f"{path}: '{name}.{key}' must be {_kind_name(kind)}, got {value!r}")
        if check is not None and not check(value):
            hint = f" ({check.__doc__})" if check.__doc__ else ""
            raise ConfigError(f"{path}: '{name}.{key}' has an impossible value {value!r}{hint}")
    missing = [k for k in schema if k not in section]
    if missing:
        raise ConfigError(f"{path}: section '{name}' lacks key(s) {', '.join(missing)}")


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def validate(params: Any, path: str = "params.yaml") -> dict:
    """Check a whole params mapping; returns it unchanged."""
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    for name in params:
        if name not in SCHEMA:
            raise ConfigError(f"{path}: unknown section '{name}' (known: {', '.join(SCHEMA)})")
    for name in SCHEMA:
        if name not in params:
            raise ConfigError(f"{path}: missing section '{name}'")
        _check_section(path, name, params[name])
    return params


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read and validate a params file."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return validate(params, str(path))


def deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override`'s leaves replacing its own (lists are replaced whole)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_profile(profile: str | Path, params_path: str | Path = "params.yaml") -> dict:
    """Merge a partial profile file (e.g. profiles/tiny.yaml) into params.yaml in place."""
    base = load_params(params_path)
    override = yaml.safe_load(Path(profile).read_text()) or {}
    merged = validate(deep_merge(base, override), str(profile))
    Path(params_path).write_text(yaml.safe_dump(merged, sort_keys=False))
    return merged


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m onehead.config PROFILE.yaml   (merges it into params.yaml)")
    apply_profile(sys.argv[1])
    print(f"params.yaml updated with {sys.argv[1]}")
