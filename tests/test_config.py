"""params.yaml validation: unknown keys, wrong types and impossible values name the key."""
import copy

import pytest
import yaml

from onehead.config import apply_profile, deep_merge, load_params, validate
from onehead.errors import ConfigError
from conftest import REPO

DEFAULT = yaml.safe_load((REPO / "params.yaml").read_text())


def _with(section, key, value):
    params = copy.deepcopy(DEFAULT)
    params[section][key] = value
    return params


def test_default_params_and_tiny_profile_are_valid():
    validate(DEFAULT)
    validate(deep_merge(DEFAULT, yaml.safe_load((REPO / "profiles" / "tiny.yaml").read_text())))


@pytest.mark.parametrize("section,key,value,words", [
    ("stage1_seg", "epochs", "ten", "'stage1_seg.epochs' must be int"),
    ("stage2_det", "lr", -0.1, "'stage2_det.lr' has an impossible value"),
    ("stage1_seg", "image_size", 300, "'stage1_seg.image_size' has an impossible value"),
    ("memory", "replay_per_task", 11, "'memory.replay_per_task' has an impossible value"),
    ("strategy", "names", ["ewc", "magic"], "'strategy.names' has an impossible value"),
    ("model", "pretrained", "yes", "'model.pretrained' must be bool"),
    ("stage1_seg", "batch_size", True, "'stage1_seg.batch_size' must be int, got a boolean"),
    ("train", "learning_rate", 0.1, "unknown key 'train.learning_rate'"),
    ("train", "workers", "many", "'train.workers' has an impossible value 'many' ('auto' or a count"),
    ("train", "launcher", "mpirun -n 2", "'train.launcher' has an impossible value"),
    ("model", "kernels", [3, 5], "'model.kernels' has an impossible value"),
    ("model", "kernels", [3], "'model.kernels' has an impossible value"),
    ("model", "head", "towers", "'model.head' has an impossible value 'towers'"),
    ("model", "channels", 0, "'model.channels' has an impossible value 0"),
])
def test_bad_values_are_named(section, key, value, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(".", r"\.")):
        validate(_with(section, key, value), "params.yaml")


def test_checks_across_keys_name_the_key_not_the_section():
    params = _with("stage1_seg", "imagenet_teacher", 1.0)
    with pytest.raises(ConfigError, match=r"^params\.yaml: stage1_seg\.imagenet_teacher: only the classification "
                                          r"stage has an ImageNet teacher; use 0$"):
        validate(params, "params.yaml")


def test_the_channels_must_fit_the_head():
    with pytest.raises(ConfigError, match=r"^params\.yaml: model\.channels: the shared head has one width"):
        validate(_with("model", "channels", {"seg": 8, "det": 8, "cls": 8}), "params.yaml")
    progressive = _with("model", "head", "progressive")
    with pytest.raises(ConfigError, match=r"^params\.yaml: model\.channels: the progressive head has one width per task"):
        validate(progressive, "params.yaml")
    progressive["model"]["channels"] = {"seg": 8, "det": 8}
    with pytest.raises(ConfigError, match=r"'model\.channels' has an impossible value \{'seg': 8, 'det': 8\}"):
        validate(progressive, "params.yaml")
    progressive["model"]["channels"] = {"cls": 4, "seg": 8, "det": 8}
    assert list(validate(progressive).model.channels) == ["seg", "det", "cls"]  # task order


def test_missing_and_unknown_sections(tmp_path):
    params = copy.deepcopy(DEFAULT)
    del params["strategy"]
    with pytest.raises(ConfigError, match="missing section 'strategy'"):
        validate(params)
    params = copy.deepcopy(DEFAULT)
    params["extra"] = {}
    with pytest.raises(ConfigError, match="unknown section 'extra'"):
        validate(params)


def test_load_reports_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_apply_profile_merges_leaves(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(DEFAULT))
    profile = tmp_path / "p.yaml"
    profile.write_text("stage1_seg: {epochs: 2}\n")
    merged = apply_profile(profile, params)
    assert merged.stage1_seg.epochs == 2
    assert merged.stage1_seg.lr == DEFAULT["stage1_seg"]["lr"]
    assert load_params(params) == merged
