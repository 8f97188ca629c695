"""End to end: the tiny profile through `dvc repro`, caching, determinism and the grader CLI."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import copy_working_tree, require_mirror
from onehead.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow
SCHEMA = {"final", "baseline", "drop_rel_pct", "drop_abs", "pass", "params", "latency_ms", "train_time_s",
          "reference", "final_over_reference", "peak_memory_gib"}


def run(cmd, cwd, check=True):
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def set_param(workdir, section, key, value):
    path = workdir / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def tiny_pipeline(dest: Path) -> Path:
    """A copy of the working tree in `dest` with the tiny profile applied and `dvc repro` run once."""
    mirror = require_mirror()
    copy_working_tree(dest)
    run([sys.executable, "-m", "onehead.config", "profiles/tiny.yaml"], dest)
    set_param(dest, "data", "mirror", str(mirror))
    run(["dvc", "repro"], dest)
    return dest


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tiny_pipeline(tmp_path_factory.mktemp("repo"))


def read(workdir, rel):
    return json.loads((workdir / rel).read_text())


def test_repro_writes_every_output(workdir):
    for rel in ("models/stage1_seg.pt", "models/stage2_det.pt", "models/stage3_cls.pt", "report.md",
                "plots/report/loss_curves.png", "plots/report/forgetting.png", "dvc.lock"):
        assert (workdir / rel).is_file(), rel
    s1, s2, s3 = (read(workdir, f"metrics/{s}.json") for s in ("stage1_seg", "stage2_det", "stage3_cls"))
    assert set(s1) == {"stage", "seg", "train_time_s", "epochs", "peak_memory_gib"}
    # a tiny run still loads torch and the pretrained network: well over 0.2 GiB, far under 4
    assert all(0.2 < s["peak_memory_gib"] < 4 for s in (s1, s2, s3))
    assert set(s2) >= {"seg", "det"} and set(s3) >= {"seg", "det", "cls"}
    ev = read(workdir, "metrics/evaluate.json")
    assert set(ev) == SCHEMA
    # the evaluate stage re-scores the last checkpoint: it must agree with stage 3's own numbers
    assert ev["final"]["miou"] == pytest.approx(s3["seg"]["miou"]) and ev["final"]["top1"] == s3["cls"]["top1"]
    assert ev["baseline"]["miou"] == s1["seg"]["miou"] and ev["baseline"]["map"] == s2["det"]["map"]
    assert ev["params"]["total"] < 8_000_000 and ev["latency_ms"]["cpu_512"] > 0
    report = (workdir / "report.md").read_text()
    for link in ("plots/report/loss_curves.png", "plots/report/forgetting.png"):
        assert f"]({link})" in report


def test_dvc_metrics_and_plots_commands_work(workdir):
    shown = run(["dvc", "metrics", "show", "--json"], workdir).stdout
    assert "evaluate.json" in shown and "stage1_seg.json" in shown
    run(["dvc", "plots", "show", "-o", "plots_html"], workdir)
    assert (workdir / "plots_html" / "index.html").is_file()


def test_strategy_change_reruns_stage2_onward_only(workdir):
    assert "up to date" in run(["dvc", "status"], workdir).stdout
    set_param(workdir, "strategy", "names", ["ewc"])
    status = run(["dvc", "status"], workdir).stdout
    assert "stage2_det" in status and "stage3_cls" in status
    assert "stage1_seg" not in status and "download" not in status
    out = run(["dvc", "repro"], workdir).stdout
    assert "Stage 'stage1_seg' didn't change, skipping" in out
    assert "Running stage 'stage2_det'" in out


def test_same_seed_same_metrics_other_seed_differs(workdir):
    first = (workdir / "metrics/stage1_seg.json").read_text()
    run(["dvc", "repro", "-f", "-s", "stage1_seg"], workdir)
    assert json.loads((workdir / "metrics/stage1_seg.json").read_text())["seg"] == json.loads(first)["seg"]
    set_param(workdir, "train", "seed", 1)
    status = run(["dvc", "status"], workdir).stdout
    assert "stage1_seg" in status and "reference@" not in status  # the references keep their own seed
    run(["dvc", "repro", "-s", "stage1_seg"], workdir)
    assert json.loads((workdir / "metrics/stage1_seg.json").read_text())["seg"] != json.loads(first)["seg"]
    set_param(workdir, "train", "seed", 0)
    run(["dvc", "repro"], workdir)


def test_grader_cli_on_full_and_single_task_roots(workdir, tmp_path):
    cli = [sys.executable, "stages/evaluate.py", "--weights", "models/stage3_cls.pt"]
    out = tmp_path / "all.json"
    printed = run(cli + ["--dataroot", "data", "--tasks", "all", "--out", str(out)], workdir).stdout
    scores = json.loads(out.read_text())
    assert {"seg", "det", "cls"} <= set(scores) and "miou" in printed
    stage3 = read(workdir, "metrics/stage3_cls.json")
    assert scores["cls"]["top1"] == stage3["cls"]["top1"]
    only_seg = tmp_path / "only_seg"
    shutil.copytree(workdir / "data" / "mini_voc_seg", only_seg / "mini_voc_seg")
    (only_seg / "mini_voc_seg" / "test").symlink_to(only_seg / "mini_voc_seg" / "val")
    proc = run(cli + ["--data_root", str(only_seg), "--split", "test", "--out", str(tmp_path / "s.json")], workdir)
    assert set(json.loads((tmp_path / "s.json").read_text())) == {"weights", "data_root", "split", "seg"}
    assert "no det data" in proc.stderr
    bad = run(cli + ["--data_root", str(only_seg), "--tasks", "det"], workdir, check=False)
    assert bad.returncode == 2 and "no data for task(s) ['det']" in bad.stderr
    bad = run(cli + ["--tasks", "depth"], workdir, check=False)
    assert bad.returncode == 2 and "unknown task" in bad.stderr


def test_predict_draws_one_png_per_image(workdir, tmp_path):
    images = sorted((workdir / "data" / "mini_coco_det" / "val" / "images").glob("*.jpg"))[:2]
    proc = run([sys.executable, "-m", "onehead.predict", "--weights", "models/stage3_cls.pt",
                *map(str, images), "--out", str(tmp_path / "pred")], workdir)
    from PIL import Image
    for img in images:
        png = tmp_path / "pred" / f"{img.stem}.png"
        with Image.open(png) as im:
            assert im.size[0] > 600 and im.size[1] > 200
    assert proc.stdout.count("class:") == 2
    bad = run([sys.executable, "-m", "onehead.predict", "--weights", "models/nope.pt", str(images[0])], workdir,
              check=False)
    assert bad.returncode == 2 and "checkpoint not found" in bad.stderr


def test_interrupted_stage_leaves_previous_outputs_intact(workdir):
    import signal
    import time

    ckpt = workdir / "models" / "stage1_seg.pt"
    before = ckpt.read_bytes()
    metrics_before = (workdir / "metrics" / "stage1_seg.json").read_text()
    set_param(workdir, "stage1_seg", "epochs", 200)
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc = subprocess.Popen([sys.executable, "stages/stage1_seg.py"], cwd=workdir, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env={**os.environ, "PYTHONPATH": str(workdir)})
            line = proc.stdout.readline()  # first epoch done: now mid-training
            assert "epoch 1/200" in line, line + proc.stderr.read()
            time.sleep(0.3)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 130 and "interrupted" in err
            assert ckpt.read_bytes() == before
            assert (workdir / "metrics" / "stage1_seg.json").read_text() == metrics_before
            assert not list((workdir / "models").glob(".*tmp")) and not list((workdir / "metrics").glob(".*tmp"))
    finally:
        set_param(workdir, "stage1_seg", "epochs", 1)
    out = run(["dvc", "repro"], workdir).stdout
    assert "didn't change, skipping" in out


def test_torchrun_two_processes_train_stage1_in_line_with_one(workdir, tmp_path):
    """DDP on CPU (gloo) through the pipeline's own launcher param; rank 0 alone writes."""
    dest = tmp_path / "ddp"
    shutil.copytree(workdir, dest, symlinks=True)
    set_param(dest, "stage1_seg", "epochs", 4)
    set_param(dest, "stage1_seg", "eval_every", 4)
    single = run([sys.executable, "stages/stage1_seg.py"], dest)
    one = read(dest, "metrics/stage1_seg.json")
    one_loss = (dest / "plots/stage1_seg/train.tsv").read_text().splitlines()

    set_param(dest, "train", "launcher", "torchrun --nproc_per_node 2")
    proc = run(["dvc", "repro", "-s", "stage1_seg"], dest)
    assert "torchrun --nproc_per_node 2 stages/stage1_seg.py" in proc.stdout
    assert proc.stdout.count("[stage1_seg] done") == 1 and single.stdout.count("[stage1_seg] done") == 1
    two = read(dest, "metrics/stage1_seg.json")
    two_loss = (dest / "plots/stage1_seg/train.tsv").read_text().splitlines()
    assert load_checkpoint(dest / "models/stage1_seg.pt").world_size == 2
    # same global batch and schedule: the loss falls alike and the scores stay close
    first, last = (float(two_loss[i].split("\t")[1]) for i in (1, -1))
    assert last < 0.8 * first
    assert last == pytest.approx(float(one_loss[-1].split("\t")[1]), rel=0.25)
    assert two["seg"]["miou"] == pytest.approx(one["seg"]["miou"], abs=0.02)
    assert not list((dest / "models").glob(".*tmp")) and not list((dest / "metrics").glob(".*tmp"))


@pytest.mark.parametrize("before_stage, stage, later", [("stage1_seg", "stage2_det", "cls"), ("stage2_det", "stage3_cls", None)])
def test_later_stages_train_the_shared_layers_and_keep_their_statistics(workdir, before_stage, stage, later):
    """The default head is shared: stages 2 and 3 move the hidden layers every task reads (the strategy
    is what protects the earlier tasks), never the backbone, the shared BatchNorm statistics
    (`train.freeze_bn`) or the rows of a task not learnt yet."""
    before = load_checkpoint(workdir / f"models/{before_stage}.pt").model
    after = load_checkpoint(workdir / f"models/{stage}.pt").model
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert {"neck.fuse.weight", "head.conv1.weight", "head.conv2.weight"} <= changed
    assert not any(k.startswith("backbone.") or "running_" in k for k in changed)
    assert later is None or not any(k.endswith(f".{later}") for k in changed)


def test_stage1_adopts_the_identical_seg_reference(workdir):
    """Stage 1 with the reference's settings and seed is that run: its weights are the reference's."""
    ref = load_checkpoint(workdir / "models/reference_seg.pt").model
    stage1 = load_checkpoint(workdir / "models/stage1_seg.pt").model
    assert all(torch.equal(ref[k], stage1[k]) for k in ref) and ref.keys() == stage1.keys()
    stage1, ref = read(workdir, "metrics/stage1_seg.json"), read(workdir, "metrics/reference_seg.json")
    assert stage1["seg"] == ref["seg"]
    assert stage1["peak_memory_gib"] == ref["peak_memory_gib"]  # the training run's, not the adopting one's
