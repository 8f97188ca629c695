"""The strategy comparison reads `dvc exp show --json` and tabulates each run's drops."""
import json

import pytest

from onehead.compare import (STRATEGY_KEYS, bar_chart, collect, head_of, main, only_baseline, same_pipeline,
                             seed_summary, strategy_of, strategy_settings, table)
from onehead.config import STRATEGY_NAMES, StrategyParams
from test_pipeline import run


def _evaluate(miou_drop, miou=0.5):
    keys = ("miou", "map", "map50", "top1")
    return {"final": {k: miou if k == "miou" else 0.5 for k in keys}, "baseline": {k: 0.5 for k in keys},
            "final_over_reference": {"miou": miou / 0.6, "map": 0.9, "map50": 1.1, "top1": None},
            "drop_rel_pct": {"miou": miou_drop, "map": 1.0, "map50": None, "top1": 0.0},
            "drop_abs": {k: 0.0 for k in keys}, "pass": {"miou": miou_drop <= 5, "map": True, "top1": True,
                                                         "all": miou_drop <= 5}}


def _run(rev, name, strategy, miou_drop, seed=0, miou=0.5, lr=0.002):
    params = {"strategy": {"names": strategy}, "train": {"seed": seed}, "stage1_seg": {"lr": lr}}
    return {"rev": rev, "name": name, "data": {
        "rev": rev, "params": {"params.yaml": {"data": params}},
        "metrics": {"metrics/evaluate.json": {"data": _evaluate(miou_drop, miou)}}}}


EXP_JSON = [
    {**_run("workspace", None, ["replay", "lwf"], 2.0), "experiments": None},
    {**_run("abc1234", "main", ["replay", "lwf"], 2.0), "experiments": [
        {"revs": [_run("def5678", "exp-naive", ["naive"], 30.0)], "name": "exp-naive"},
        {"revs": [_run("9876543", "exp-ewc", ["ewc"], 12.5)], "name": "exp-ewc",
         "executor": {"state": "success"}},
        {"revs": [_run("5555555", "exp-kd", ["kd"], 2.0)], "name": "exp-kd", "executor": {"state": "running"}}]},
]


def test_collect_finds_workspace_commit_and_finished_experiments():
    runs = collect(json.loads(json.dumps(EXP_JSON)))
    assert sorted(r["name"] for r in runs) == ["exp-ewc", "exp-naive", "main", "workspace"]
    assert {r["strategy"] for r in runs} == {"naive", "ewc", "replay+lwf"}


def test_table_and_chart(tmp_path):
    runs = collect(EXP_JSON)
    md = table(runs)
    naive_row = next(line for line in md.splitlines() if "exp-naive" in line)
    assert "| 30.00 |" in naive_row and "| False |" in naive_row
    assert "n/a" in naive_row  # a None drop (zero baseline) is shown, not hidden
    assert naive_row.rstrip().endswith("| 0.83 (mIoU (seg)) |")  # 0.5 / 0.6 is the lowest ratio
    header, separator = md.splitlines()[:2]
    assert "| drop mIoU (seg) % |" in header and "drop Top-1" not in header  # cls is learnt last
    assert header.count("|") == separator.count("|") == naive_row.count("|")
    png = bar_chart(runs, tmp_path / "c.png")
    assert png.stat().st_size > 5000


def test_only_baseline_keeps_one_commits_runs():
    names = {r["name"] for r in collect(only_baseline(EXP_JSON, ["abc1234"]))}
    assert names == {"main", "exp-naive", "exp-ewc"}
    with pytest.raises(SystemExit, match="no experiments based on commit fff0000"):
        only_baseline(EXP_JSON, ["abc1234", "fff0000"])


def _retimed(run):
    """The same run measured again: other times, the same scores."""
    metrics = run["data"]["metrics"]["metrics/evaluate.json"]["data"]
    metrics["train_time_s"] = {"total": 999.0}
    return run


def test_two_commits_of_one_code_are_one_baseline():
    """A commit and its successor of the same code: their own runs (same scores, other times) are one
    row, and seeds run on either commit pool into one setting."""
    twin = [{**_run("abc1234", "main", ["replay"], 1.0, seed=0), "experiments": [
                {"revs": [_run("1111111", "seed1", ["replay"], 3.0, seed=1)], "name": "seed1"}]},
            {**_retimed(_run("bcd2345", "docs", ["replay"], 1.0, seed=0)), "experiments": [
                {"revs": [_run("2222222", "seed2", ["replay"], 8.0, seed=2)], "name": "seed2"}]}]
    runs = collect(only_baseline(twin, ["abc1234", "bcd2345"]), code="abc1234")
    assert sorted(r["name"] for r in runs) == ["main", "seed1", "seed2"]
    assert "| 0, 1, 2 |" in seed_summary(runs)
    assert len(collect(twin)) == 4  # without a common code every commit is its own baseline


SEEDS_JSON = [
    {**_run("abc1234", "main", ["replay"], 1.0, seed=0, miou=0.50), "experiments": [
        {"revs": [_run("1111111", "seed1", ["replay"], 3.0, seed=1, miou=0.52)], "name": "seed1"},
        {"revs": [_run("2222222", "seed2", ["replay"], 8.0, seed=2, miou=0.54)], "name": "seed2"},
        {"revs": [_run("3333333", "lr4", ["replay"], 0.0, seed=1, miou=0.10, lr=0.004)], "name": "lr4"}]},
    # the same params on other code (another commit) are another setting
    {**_run("fff0000", "old", ["replay"], 0.0, seed=1, miou=0.90), "experiments": None},
]


def test_seed_summary_pools_only_runs_that_differ_in_the_seed():
    summary = seed_summary(collect(SEEDS_JSON))
    rows = [line for line in summary.splitlines() if line.startswith("| replay")]
    assert len(rows) == 1  # lr4 and the other commit's run have one seed each: no row
    row = rows[0]
    assert "(main, seed1, seed2)" in row and "| 0, 1, 2 |" in row
    assert "| 0.5200 ± 0.0200 |" in row  # mIoU 0.50 / 0.52 / 0.54: sample sd 0.02
    assert "| 4.0000 ± 3.6056 |" in row  # mIoU drops 1, 3, 8
    assert row.rstrip().endswith("| 2/3 |")  # the 8 % drop fails the 5 % criterion
    assert "| n/a |" in row  # no final_over_reference in these metrics: shown as missing
    assert seed_summary(collect(EXP_JSON)) == ""  # one seed per setting: nothing to pool


def test_a_run_of_the_progressive_head_ran_no_strategy():
    progressive = {"strategy": {"names": ["replay", "lwf"]}, "model": {"head": "progressive"}}
    shared = {**progressive, "model": {"head": "shared"}}
    runs = collect([{**_run("abc1234", "main", ["replay", "lwf"], 0.0), "experiments": None}])
    assert strategy_of(progressive) == "none (isolation)" and head_of(progressive) == "progressive"
    assert strategy_of(shared) == "replay+lwf" and head_of(shared) == "shared"
    assert runs[0]["strategy"] == "replay+lwf"  # params without the model section: the listed strategies
    row = next(line for line in table(runs).splitlines() if "| main |" in line)
    assert "| ? | replay+lwf |" in row


def test_commits_of_different_code_are_refused(tmp_path, monkeypatch):
    def commit(path, text):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
        run(["git", "add", "-A"], tmp_path)
        run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", path], tmp_path)
        return run(["git", "rev-parse", "HEAD"], tmp_path).stdout.strip()

    def lock(model_md5, report_md5, report_code="ccc"):
        return (f"schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n    - path: model.py\n"
                f"      md5: {model_md5}\n    outs:\n    - path: model.pt\n      md5: {report_md5}\n"
                f"  report:\n    cmd: python report.py\n    deps:\n    - path: model.pt\n      md5: {report_md5}\n"
                f"    - path: report.py\n      md5: {report_code}\n")

    run(["git", "init", "-q"], tmp_path)
    monkeypatch.chdir(tmp_path)
    unlocked = commit("README.md", "no pipeline run yet\n")
    first = commit("dvc.lock", lock("aaa", "111"))
    docs = commit("docs/notes.md", "more words\n")
    rerun = commit("dvc.lock", lock("aaa", "222"))  # the same pipeline, its outputs recorded again
    same_pipeline([first, docs, rerun])
    same_pipeline([first, commit("dvc.lock", lock("aaa", "111", report_code="ddd"))])  # only the report changed
    code = commit("dvc.lock", lock("bbb", "222"))
    with pytest.raises(SystemExit, match="differ in stages train"):
        same_pipeline([first, docs, code])
    with pytest.raises(SystemExit, match=f"commit {unlocked[:7]} has no dvc.lock"):
        same_pipeline([unlocked, first])


def test_the_settings_column_names_each_strategys_own_keys():
    assert tuple(STRATEGY_KEYS) == STRATEGY_NAMES
    read = {key for keys in STRATEGY_KEYS.values() for key in keys}
    assert read == set(StrategyParams.model_fields) - {"names"}  # a new strategy key must be listed
    section = {"ewc_lambda": 1.0, "ewc_decay": 1.0, "lwf_weight": 10.0, "lwf_temperature": 2.0,
               "lwf_replay_weight": 0.0, "replay_per_step": 10, "replay_weight": 1.0}
    ewc = strategy_settings({"strategy": {"names": ["ewc"], **section}})
    assert ewc == "ewc_lambda 1, ewc_decay 1"
    both = strategy_settings({"strategy": {"names": ["replay", "lwf"], **section}})
    assert both == "replay_per_step 10, replay_weight 1, lwf_weight 10, lwf_temperature 2, lwf_replay_weight 0"
    assert strategy_settings({"strategy": {"names": ["naive"], **section}}) == ""
    assert strategy_settings({"strategy": {"names": ["ewc"], **section}, "model": {"head": "progressive"}}) == ""


def test_without_dvc_on_path_the_message_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dvc
    with pytest.raises(SystemExit, match="`dvc` is not on PATH"):
        main(["--out", str(tmp_path / "c.md"), "--chart", str(tmp_path / "c.png")])
    assert not (tmp_path / "c.md").exists()


def test_a_null_drop_that_dvc_left_out_is_shown_as_na(tmp_path):
    exp = json.loads(json.dumps(EXP_JSON[1]))
    del exp["data"]["metrics"]["metrics/evaluate.json"]["data"]["drop_rel_pct"]["map"]  # as dvc exp show gives it
    runs = collect([exp], code="abc1234")
    row = next(line for line in table(runs).splitlines() if "| main |" in line)
    assert row.count("n/a") == 2  # AP and AP@0.5
    assert bar_chart(runs, tmp_path / "c.png").stat().st_size > 5000
