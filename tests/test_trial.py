"""`python -m research.trial`: one stage outside the pipeline, on a fold, from another trial's checkpoint."""
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import yaml

from conftest import run_main
from onehead.checkpoint import load_checkpoint
from onehead.errors import ConfigError
from onehead.model.net import build_model
from research.trial import apply_overrides, fold_root
from research.trial import main as trial_main

TINY = ["stage1_seg.epochs=1", "stage1_seg.image_size=64", "stage1_seg.batch_size=2", "stage2_det.epochs=1",
        "stage2_det.image_size=64", "stage2_det.batch_size=2"]


def test_overrides_set_existing_keys_and_refuse_unknown_ones():
    params = apply_overrides({"stage2_det": {"lr": 0.002, "trainable": "own"}, "model": {"context_for": ["seg"]}},
                             ["stage2_det.lr=0.001", "model.context_for=[seg, cls]"])
    assert params == {"stage2_det": {"lr": 0.001, "trainable": "own"}, "model": {"context_for": ["seg", "cls"]}}
    with pytest.raises(ConfigError, match="no key 'stage2_det.lrate'"):
        apply_overrides({"stage2_det": {"lr": 0.002}}, ["stage2_det.lrate=0.1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({"stage2_det": {"lr": 0.002}}, ["stage2_det.lr"])


def test_fold_trials_chain_and_record_fold_and_val_scores(workdir, capsys):
    code, _, err = run_main(capsys, trial_main, ["s1", "stage1_seg", "--fold", "1", "--threads", "1", *TINY])
    assert code == 0, err
    code, _, err = run_main(capsys, trial_main, ["s2", "stage2_det", "--start", "s1", "--fold", "1",
                                                 "--threads", "1", *TINY, "stage2_det.lr=0.001"])
    assert code == 0, err

    s1, s2 = [json.loads(line) for line in (workdir / "trials" / "results.jsonl").read_text().splitlines()]
    assert (s1["name"], s1["fold"], s2["start"]) == ("s1", 1, "s1")
    assert set(s1["val"]) == {"seg"} and set(s2["val"]) == {"det"}
    assert 0 <= s1["metrics"]["seg"]["miou"] <= 1 and 0 <= s2["val"]["det"]["map50"] <= 1
    assert set(s2["metrics"]) >= {"seg", "det"}  # stage 2 scores every task learnt so far
    # the held-out quarter is the fold's val split: one of the 4 training images per task
    fold = workdir / "trials" / "folds" / "f1"
    assert len(list((fold / "mini_voc_seg" / "val" / "JPEGImages").iterdir())) == 1
    used = yaml.safe_load((workdir / "trials" / "s2" / "params.yaml").read_text())
    assert used["stage2_det"]["lr"] == 0.001 and used["data"]["root"] == str(fold.resolve())
    assert (workdir / "trials" / "s2" / "models" / "stage2_det.pt").is_file()


def test_bad_requests_are_clear_errors(workdir, capsys):
    code, _, err = run_main(capsys, trial_main, ["x", "stage2_det", "--fold", "0"])
    assert code == 2 and "stage2_det needs --start" in err
    code, _, err = run_main(capsys, trial_main, ["x", "stage2_det", "--start", "nothing"])
    assert code == 2 and "no checkpoint trials/nothing/models/stage1_seg.pt" in err
    code, _, err = run_main(capsys, trial_main, ["x", "stage9"])
    assert code == 2 and "choose one of stage1_seg" in err
    code, _, err = run_main(capsys, trial_main, ["x", "stage1_seg", "--fold", "0", "stage1_seg.lr=-1"])
    assert code == 2 and "stage1_seg.lr" in err
    assert not (workdir / "trials").exists()  # neither a trial folder nor a fold made for nothing


def test_a_fold_trial_without_the_val_split_fails_before_training(workdir, capsys):
    val_json = workdir / "data" / "mini_coco_det" / "annotations" / "instances_val.json"
    val_json.unlink()
    code, _, err = run_main(capsys, trial_main, ["x", "reference_det", "--fold", "0", "--threads", "1", *TINY])
    assert code == 2 and str(val_json) in err
    assert not (workdir / "trials").exists()  # no fold made, nothing trained


def test_trials_started_together_make_their_fold_once(workdir):
    """Two trials of one fold starting at the same moment: one writes the fold, the other waits and
    uses it (before the lock, the second failed renaming its copy onto the first's)."""
    with ThreadPoolExecutor(2) as pool:
        roots = list(pool.map(lambda _: fold_root(workdir / "data", 2, workdir / "trials"), range(2)))
    assert roots[0] == roots[1] == workdir / "trials" / "folds" / "f2"
    assert (roots[0] / "classes.json").is_file() and (roots[0] / "MANIFEST.sha256").is_file()
    assert [p.name for p in (workdir / "trials" / "folds").iterdir() if not p.name.startswith(".f2.lock")] == ["f2"]
