"""The strategy comparison reads `dvc exp show --json` and tabulates each run's drops."""
import json

import pytest

from onehead.compare import bar_chart, collect, only_baseline, table


def _evaluate(miou_drop):
    keys = ("miou", "map", "map50", "top1")
    return {"final": {k: 0.5 for k in keys}, "baseline": {k: 0.5 for k in keys},
            "drop_rel_pct": {"miou": miou_drop, "map": 1.0, "map50": None, "top1": 0.0},
            "drop_abs": {k: 0.0 for k in keys}, "pass": {"miou": miou_drop <= 5, "map": True, "top1": True,
                                                         "all": miou_drop <= 5}}


def _run(rev, name, strategy, miou_drop):
    return {"rev": rev, "name": name, "data": {
        "rev": rev, "params": {"params.yaml": {"data": {"strategy": {"names": strategy}, "train": {"seed": 0}}}},
        "metrics": {"metrics/evaluate.json": {"data": _evaluate(miou_drop)}}}}


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
    assert "| 30.00 |" in naive_row and naive_row.rstrip().endswith("False |")
    assert "n/a" in naive_row  # a None drop (zero baseline) is shown, not hidden
    png = bar_chart(runs, tmp_path / "c.png")
    assert png.stat().st_size > 5000


def test_only_baseline_keeps_one_commits_runs():
    names = {r["name"] for r in collect(only_baseline(EXP_JSON, "abc1234"))}
    assert names == {"main", "exp-naive", "exp-ewc"}
    with pytest.raises(SystemExit, match="no experiments based on commit fff0000"):
        only_baseline(EXP_JSON, "fff0000")
