"""End to end on data of one's own: a 10-class mini COCO of other classes (category id 0 among
them), COCO images in the split folders and VOC in its devkit layout, through the manifest
command, the download stage and the tiny pipeline run as the README says, then `predict --json`."""
import contextlib
import io
import json
import os
import sys

import pytest

from conftest import copy_working_tree, make_data_root
from onehead.checkpoint import load_checkpoint
from test_manifest import OTHER_CLASSES, to_coco_flat_variant, to_voc_devkit_variant, use_other_coco_classes
from test_pipeline import run

pytestmark = pytest.mark.slow
GIT_ID = {f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
          for what, value in (("NAME", "test"), ("EMAIL", "test@example.com"))}


def copy_repo(dest):
    """The working tree as a fresh git repo with one commit."""
    copy_working_tree(dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "copy"], dest)
    return dest


def test_own_variant_data_runs_the_whole_pipeline(tmp_path, monkeypatch):
    for key, value in GIT_ID.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ONEHEAD_MIRROR", raising=False)
    mine = make_data_root(tmp_path / "mine", n=4)
    to_voc_devkit_variant(to_coco_flat_variant(use_other_coco_classes(mine)))
    repo = copy_repo(tmp_path / "repo")
    manifest = [sys.executable, "-m", "onehead.data.manifest", str(mine)]
    refused = run(manifest, repo, check=False)
    assert refused.returncode == 2 and "--convert" in refused.stderr
    converted = run(manifest + ["--convert"], repo).stdout
    assert f"dvc exp run -S data.mirror={mine} -S data.manifest={mine}/MANIFEST.sha256" in converted

    run([sys.executable, "-m", "onehead.config", "profiles/tiny.yaml"], repo)
    run(["dvc", "exp", "run", "-S", f"data.mirror={mine}", "-S", f"data.manifest={mine}/MANIFEST.sha256"], repo)

    ckpt = load_checkpoint(repo / "models" / "stage3_cls.pt")
    assert ckpt.classes["det"] == OTHER_CLASSES and ckpt.learned == ["seg", "det", "cls"]
    final = json.loads((repo / "metrics" / "evaluate.json").read_text())["final"]
    assert set(final) == {"miou", "map", "map50", "top1"}
    assert (repo / "report.md").is_file()

    val_images = sorted((repo / "data" / "mini_coco_det" / "val" / "images").glob("*.jpg"))
    run([sys.executable, "-m", "onehead.predict", *map(str, val_images), "--out", str(tmp_path / "pred"),
         "--json", str(tmp_path / "pred" / "p.json")], repo)
    result = json.loads((tmp_path / "pred" / "p.json").read_text())
    assert [c["id"] for c in result["categories"]] == list(range(10))
    detections = [d for entry in result["images"] for d in entry["detections"]]
    from pycocotools.coco import COCO
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(repo / "data" / "mini_coco_det" / "annotations" / "instances_val.json"))
        assert len(gt.loadRes(detections).getAnnIds()) == len(detections) > 0
    assert {d["category_id"] for d in detections} <= set(range(10))
    assert os.path.isfile(tmp_path / "pred" / result["images"][0]["segmentation_png"])
