"""README.md's commands run as written: own data, predictions, grading and comparing strategies, on
the tiny profile in a committed copy of the repository (placeholders DIR and /path/to/hidden get real
folders)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from test_pipeline import run, tiny_pipeline

pytestmark = pytest.mark.slow
SECTIONS = ("Your own data", "Predictions on your own images", "Grading on another split", "Comparing strategies")


def readme_commands(section: str) -> list[str]:
    """The indented command lines (python … / dvc …) of one README section."""
    text = (REPO / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in body.splitlines() if re.match(r"    (python|dvc) ", line)]


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(cwd),
           **{f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
              for what, value in (("NAME", "readme test"), ("EMAIL", "test@localhost"))}}
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"README command failed: {command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def wait_for_queue(cwd: Path, timeout_s: float = 1200) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        status = shell("dvc queue status", cwd).stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            assert "Failed" not in status, status
            return
        if "0 active" in status and not re.search(r"\bRunning\b", status):
            shell("dvc queue start -j 1", cwd)  # the worker can exit with experiments still queued
        time.sleep(5)
    raise AssertionError("queued experiments did not finish")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A committed copy of the working tree on the tiny profile, after one `dvc repro`."""
    dest = tiny_pipeline(tmp_path_factory.mktemp("readme"))
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"]):
        run(cmd, dest)
    return dest


def test_every_section_has_commands():
    assert all(readme_commands(section) for section in SECTIONS)


def test_own_data_commands(repo, tmp_path):
    own = tmp_path / "own"
    for folder in ("mini_voc_seg", "mini_coco_det", "imagenette_160"):
        shutil.copytree(repo / "data" / folder, own / folder)
    for command in readme_commands("Your own data"):
        if "--convert" not in command:  # the layout is already right: nothing to convert
            shell(command.replace("DIR", str(own)), repo)
    assert (own / "MANIFEST.sha256").is_file()
    assert json.loads(shell("dvc exp show --json", repo).stdout)  # the experiment ran and was recorded


def test_prediction_commands(repo):
    for command in readme_commands("Predictions on your own images"):
        shell(command, repo)
    images = sorted((repo / "data/mini_coco_det/val/images").glob("*.jpg"))
    assert images and all((repo / "predictions" / f"{image.stem}.png").is_file() for image in images)
    out = json.loads((repo / "predictions/val.json").read_text())
    assert len(out["images"]) == len(images) and out["learned"] == ["seg", "det", "cls"]


def test_grading_commands(repo, tmp_path):
    hidden = tmp_path / "hidden"
    for folder in ("mini_voc_seg", "mini_coco_det"):
        shutil.copytree(repo / "data" / folder, hidden / folder)
    (hidden / "mini_voc_seg" / "test").symlink_to(hidden / "mini_voc_seg" / "val")
    (hidden / "mini_coco_det" / "test").symlink_to(hidden / "mini_coco_det" / "val")
    coco = hidden / "mini_coco_det" / "annotations"
    shutil.copy(coco / "instances_val.json", coco / "instances_test.json")
    for command in readme_commands("Grading on another split"):
        shell(command.replace("/path/to/hidden", str(hidden)), repo)
    assert {"seg", "det", "cls"} <= set(json.loads((repo / "eval_val.json").read_text()))
    assert {"seg", "det"} <= set(json.loads((repo / "eval_test.json").read_text()))


def test_comparing_commands(repo):
    (repo / "comparison.md").unlink(missing_ok=True)  # the committed one: the command must write its own
    for command in readme_commands("Comparing strategies"):
        shell(command, repo)
        if command.startswith("dvc queue start"):
            wait_for_queue(repo)
    table = (repo / "comparison.md").read_text()
    assert all(name in table for name in ("naive", "ewc", "replay-lwf"))
    assert (repo / "plots/comparison.png").stat().st_size > 0
