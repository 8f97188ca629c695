"""Turn DVC experiments into one strategy comparison: a markdown table and a bar chart of drops.

    dvc exp run --queue -S 'strategy.names=[naive]' -S 'strategy.names=[ewc]' ...   # or see README
    dvc queue start && dvc queue status
    python -m onehead.compare --out comparison.md --chart plots/comparison.png [--baseline HEAD]

Reads `dvc exp show --json` (every experiment and the workspace) and keeps the runs that
have a metrics/evaluate.json. Runs of one commit whose params differ only in `train.seed` are one
setting: for every setting run with two or more seeds a second table gives the mean ± sd over its seeds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path

import yaml

from .catalog import METRIC_LABEL, METRICS, STAGE_INFO, STAGE_ORDER, task_of_metric
from .report import markdown

# stages that write no metric this table reads (report.md and its figures): commits that differ only
# there ran the same pipeline
UNSCORED_STAGES = ("report",)
# the last stage's task has its baseline read after that stage: its drop is 0 by construction
FORGETTABLE = tuple(m for m in METRICS if task_of_metric(m) != STAGE_INFO[STAGE_ORDER[-1]].task)
# the params.yaml `strategy` keys each strategy reads (onehead/strategies/registry.py)
STRATEGY_KEYS = {"naive": (), "ewc": ("ewc_lambda", "ewc_decay"),
                 "lwf": ("lwf_weight", "lwf_temperature", "lwf_replay_weight"),
                 "replay": ("replay_per_step", "replay_weight"),
                 "kd": ("kd_weight", "kd_feature_weight", "kd_temperature", "lwf_replay_weight")}


def _runs(node, found: list, baseline: str) -> None:
    """Collect (name, params, evaluate metrics) from the nested `dvc exp show --json` output;
    `baseline`: the commit (or "workspace") the runs under `node` are based on."""
    if isinstance(node, list):
        for item in node:
            _runs(item, found, baseline)
        return
    if not isinstance(node, dict):
        return
    state = (node.get("executor") or {}).get("state")
    if state not in (None, "success"):  # queued or running: its metrics are not its own yet
        return
    data = node.get("data")
    if isinstance(data, dict) and "metrics" in data:
        metrics = next((v.get("data") for k, v in (data.get("metrics") or {}).items()
                        if k.endswith("evaluate.json") and isinstance(v, dict)), None)
        params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
        if metrics and "final" in metrics:
            rev = str(node.get("rev", "?"))
            name = node.get("name") or data.get("name") or (rev if rev == "workspace" else rev[:7])
            found.append({"name": name, "rev": str(data.get("rev", node.get("rev", ""))),
                          "strategy": strategy_of(params), "settings": strategy_settings(params),
                          "head": head_of(params),
                          "seed": params.get("train", {}).get("seed"), "baseline": baseline,
                          "setting": setting_of(baseline, params), "metrics": with_nulls_restored(metrics)})
    for value in node.values():
        if isinstance(value, (list, dict)):
            _runs(value, found, baseline)


def head_of(params: dict) -> str:
    """The head design of a run (`model.head`)."""
    return str((params.get("model") or {}).get("head", "?"))


def strategy_of(params: dict) -> str:
    """The strategies that ran: none in the progressive head, whose later stages train only their own groups."""
    if head_of(params) == "progressive":
        return "none (isolation)"
    return "+".join(params.get("strategy", {}).get("names", ["?"]))


def strategy_settings(params: dict) -> str:
    """The strategy keys the run's strategies read, e.g. "ewc_lambda 1, ewc_decay 1"; two runs of one
    strategy differ here."""
    if head_of(params) == "progressive":
        return ""
    section = params.get("strategy") or {}
    keys = dict.fromkeys(k for name in section.get("names", []) for k in STRATEGY_KEYS.get(name, ()))
    return ", ".join(f"{k} {section[k]:g}" for k in keys if isinstance(section.get(k), (int, float)))


def setting_of(baseline: str, params: dict) -> str:
    """The code (baseline commit) and params of a run without its seed: runs that differ only in
    the seed share it."""
    train = {k: v for k, v in (params.get("train") or {}).items() if k != "seed"}
    return baseline + json.dumps({**params, "train": train}, sort_keys=True)


def with_nulls_restored(metrics: dict) -> dict:
    """evaluate.json with its null values back: `dvc exp show` leaves out a metric that is null, e.g. the
    relative drop of a task whose baseline is 0."""
    return {**metrics, **{section: {m: (metrics.get(section) or {}).get(m) for m in METRICS}
                          for section in ("drop_rel_pct", "final_over_reference")}}


def collect(exp_json, code: str | None = None) -> list[dict]:
    """Every finished run in `exp_json`; `code` names the code of all of them when they come from
    several commits of the same code (else each run's own baseline commit does)."""
    found: list[dict] = []
    for entry in exp_json if isinstance(exp_json, list) else [exp_json]:
        baseline = code or (str(entry.get("rev", "?")) if isinstance(entry, dict) else "?")
        _runs(entry, found, baseline)
    unique = {}
    # the same run can appear under several keys, or as two commits of the same code with the same
    # scores (a re-run that differs only in its times)
    for run in found:
        scores = {k: run["metrics"].get(k) for k in ("final", "baseline", "drop_rel_pct")}
        same = json.dumps([run["setting"], run["seed"], scores], sort_keys=True) if code else None
        unique.setdefault(same or (run["name"], run["rev"]), run)
    return list(unique.values())


def only_baseline(exp_json: list, shas: list[str]) -> list:
    """The entries of `dvc exp show --json --all-commits` of the baseline commits `shas`."""
    kept = [entry for entry in exp_json if isinstance(entry, dict) and entry.get("rev") in shas]
    missing = sorted(set(shas) - {entry.get("rev") for entry in kept})
    if missing:
        raise SystemExit(f"compare: no experiments based on commit {', '.join(s[:7] for s in missing)}")
    return kept


def pipeline_inputs(sha: str) -> dict:
    """Every scoring stage's command, params and dependencies (with their hashes) in `dvc.lock` at commit
    `sha`, leaving out what the pipeline makes itself: its outputs and the stages' outputs used as inputs."""
    shown = subprocess.run(["git", "show", f"{sha}:dvc.lock"], capture_output=True, text=True)
    if shown.returncode != 0:
        raise SystemExit(f"compare: commit {sha[:7]} has no dvc.lock, so its pipeline cannot be compared "
                         "with another commit's (commit dvc.lock after `dvc repro`)")
    lock = yaml.safe_load(shown.stdout) or {}
    stages = lock.get("stages") or {}
    made = {out["path"] for stage in stages.values() for out in stage.get("outs") or []}
    return {name: {"cmd": stage.get("cmd"), "params": stage.get("params"),
                   "deps": [dep for dep in stage.get("deps") or [] if dep["path"] not in made]}
            for name, stage in stages.items() if name not in UNSCORED_STAGES}


def same_pipeline(shas: list[str]) -> None:
    """Stop unless the commits ran the same pipeline: same commands, dependencies and params in dvc.lock
    (they may differ in docs, tools like this one, the report, or re-recorded outputs)."""
    first = pipeline_inputs(shas[0])
    for sha in shas[1:]:
        theirs = pipeline_inputs(sha)
        changed = sorted(name for name in first.keys() | theirs.keys() if first.get(name) != theirs.get(name))
        if changed:
            raise SystemExit(f"compare: commits {shas[0][:7]} and {sha[:7]} differ in stages {', '.join(changed)}; "
                             "compare runs of one pipeline only")


def table(runs: list[dict]) -> str:
    columns = (["experiment", "head", "strategy", "strategy settings", "seed"]
               + [METRIC_LABEL[k] for k in METRICS]
               + [f"drop {METRIC_LABEL[k]} %" for k in FORGETTABLE] + ["pass all", "lowest final / reference"])
    rows = []
    for r in sorted(runs, key=lambda r: (r["strategy"], r["settings"], str(r["seed"]))):
        m = r["metrics"]
        f, d = m["final"], m["drop_rel_pct"]
        rows.append([r["name"], r["head"], r["strategy"], r["settings"], r["seed"],
                     *(f"{f[k]:.4f}" for k in METRICS),
                     *("n/a" if d[k] is None else f"{d[k]:.2f}" for k in FORGETTABLE), m["pass"]["all"],
                     lowest_over_reference(m)])
    return markdown.table(columns, rows)


def lowest_over_reference(metrics: dict) -> str:
    """The final furthest below its single-task reference, e.g. "0.08 (AP@0.5 (det))": a run can pass
    the drop criterion by never learning a task, and this column shows it."""
    ratios = {k: v for k, v in metrics["final_over_reference"].items() if v is not None}
    if not ratios:
        return "n/a"
    key = min(ratios, key=ratios.get)
    return f"{ratios[key]:.2f} ({METRIC_LABEL[key]})"


def _mean_sd(values: list) -> str:
    """"mean ± sample sd" of the values that exist (a drop is None when its baseline is 0)."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def seed_summary(runs: list[dict]) -> str:
    """Mean ± sd (sample sd) over the seeds of every setting run with two or more seeds: finals,
    relative drops, final / single-task reference, and how many seeds pass the 5 % criterion."""
    settings: dict[str, dict] = {}
    for r in sorted(runs, key=lambda r: str(r["seed"])):
        settings.setdefault(r["setting"], {}).setdefault(r["seed"], r)  # one run per seed
    columns = (["setting (runs)", "seeds"] + [METRIC_LABEL[k] for k in METRICS]
               + [f"drop {METRIC_LABEL[k]} %" for k in FORGETTABLE]
               + [f"{METRIC_LABEL[k]} / reference" for k in METRICS] + ["pass all"])
    rows = []
    for by_seed in settings.values():
        if len(by_seed) < 2:
            continue
        group = list(by_seed.values())
        metrics = [r["metrics"] for r in group]
        cells = ([_mean_sd([m["final"][k] for m in metrics]) for k in METRICS]
                 + [_mean_sd([m["drop_rel_pct"][k] for m in metrics]) for k in FORGETTABLE]
                 + [_mean_sd([m["final_over_reference"][k] for m in metrics]) for k in METRICS])
        passed = sum(bool(m["pass"]["all"]) for m in metrics)
        first = group[0]
        strategy = f"{first['strategy']} ({first['settings']})" if first["settings"] else first["strategy"]
        label = f"{strategy} @ {first['baseline'][:7]} ({', '.join(str(r['name']) for r in group)})"
        rows.append([label, ", ".join(str(s) for s in by_seed), *cells, f"{passed}/{len(group)}"])
    return markdown.table(columns, rows) if rows else ""


def bar_chart(runs: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = sorted(runs, key=lambda r: (r["strategy"], str(r["seed"])))
    labels = [f"{r['strategy']}\n{r['name']}" for r in runs]
    x = np.arange(len(runs))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(runs)), 4))
    width = 0.8 / len(FORGETTABLE)
    for i, key in enumerate(FORGETTABLE):
        values = [r["metrics"]["drop_rel_pct"][key] or 0 for r in runs]
        ax.bar(x + (i - (len(FORGETTABLE) - 1) / 2) * width, values, width, label=f"{METRIC_LABEL[key]} drop %")
    ax.axhline(5, color="red", ls="--", lw=1, label="5 % limit")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("relative drop after stage 3 (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def dvc_experiments() -> list:
    """`dvc exp show --json --all-commits`: every commit and the experiments based on it."""
    try:
        shown = subprocess.run(["dvc", "exp", "show", "--json", "--all-commits"], capture_output=True, text=True)
    except FileNotFoundError:
        raise SystemExit("compare: `dvc` is not on PATH (activate the environment it was installed in, "
                         "or pass a saved `dvc exp show --json` output with --json)") from None
    if shown.returncode != 0:
        raise SystemExit(f"compare: `dvc exp show` failed: {shown.stderr.strip()}")
    return json.loads(shown.stdout)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="a saved `dvc exp show --json` output (default: run it)")
    parser.add_argument("--out", default="comparison.md")
    parser.add_argument("--chart", default="plots/comparison.png")
    parser.add_argument("--baseline", nargs="+", metavar="REV",
                        help="only these commits and the experiments based on them (e.g. HEAD); several "
                             "commits must have run the same pipeline (same commands, code and params in dvc.lock)")
    args = parser.parse_args(argv)
    if args.json:
        exp_json = json.loads(Path(args.json).read_text())
    else:
        exp_json = dvc_experiments()
    code = None
    if args.baseline:
        shas = subprocess.run(["git", "rev-parse", *args.baseline], capture_output=True, text=True,
                              check=True).stdout.split()
        if len(shas) > 1:
            same_pipeline(shas)
            code = shas[0]
        exp_json = only_baseline(exp_json, shas)
    runs = collect(exp_json, code)
    if not runs:
        raise SystemExit("compare: no experiment with metrics/evaluate.json found (run `dvc exp run` first)")
    chart = bar_chart(runs, Path(args.chart))
    seeds = seed_summary(runs)
    seeds_md = f"\n## Mean ± sd over seeds\n\n{seeds}\n" if seeds else ""
    Path(args.out).write_text(f"# Strategy comparison\n\n{table(runs)}\n\n![drops]({chart.as_posix()})\n{seeds_md}")
    print(table(runs))
    if seeds:
        print(f"\nMean ± sd over seeds\n{seeds}")
    print(f"\nwritten {args.out} and {chart}")


if __name__ == "__main__":
    main()
