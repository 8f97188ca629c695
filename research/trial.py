"""The trial command: one training stage outside the pipeline, to compare settings before adopting one.

    python -m research.trial NAME STAGE [--start TRIAL|CKPT] [--fold K] [--threads N] [key=value ...]

STAGE is a pipeline stage (`stage1_seg`, `stage2_det`, `stage3_cls`) or a single-task reference
(`reference_seg`, `reference_det`, `reference_cls`). The stage trains with params.yaml plus the
`key=value` overrides (dotted keys, YAML values: `stage2_det.lr=0.001`), from the previous stage's
checkpoint of another trial (`--start s1_f0`) or of a file (`--start models/stage1_seg.pt`).
With `--fold K` it trains on fold K of the training sets (`research.folds`, made once under
`trials/folds/`) and is scored on the held-out quarter, then also on the real val split.

Each trial writes `trials/NAME/` (its params.yaml, checkpoint, metrics and loss curves) and
appends one JSON line to `trials/results.jsonl`: name, stage, fold, start, overrides, seconds,
the stage's metrics and, for fold trials, `val`. Two trials that differ in one setting and start
from the same checkpoint are a clean pair; the fold tables of docs/experiments were made this way.
The pipeline's outputs are left alone: nothing here is a DVC stage.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import shutil
import time
from pathlib import Path

import torch
import yaml

from onehead.catalog import STAGE_INFO, TASK_ORDER, reference_name
from onehead.checkpoint import load_checkpoint
from onehead.cli import user_errors
from onehead.config import read_yaml, validate
from onehead.data.datasets import build_dataset
from onehead.errors import ConfigError

REFERENCES = {reference_name(task): task for task in TASK_ORDER}
STAGES = (*STAGE_INFO, *REFERENCES)


def parse_override(item: str) -> tuple[str, object]:
    """`a.b=value` → ("a.b", value parsed as YAML)."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {item!r}: expected key=value, e.g. stage2_det.lr=0.001")
    return key, yaml.safe_load(value)


def apply_overrides(params: dict, overrides: list[str]) -> dict:
    """`params` with each override set; a key that params.yaml lacks is an error, not a new key."""
    for item in overrides:
        key, value = parse_override(item)
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"override {item!r}: params.yaml has no key {key!r}")
        node[leaf] = value
    return params


def fold_root(data_root: Path, fold: int, trials: Path) -> Path:
    """Fold `fold` of `data_root`'s training sets as a data folder (made on first use)."""
    from research.folds import make_fold
    root = trials / "folds" / f"f{fold}"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".f{fold}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # trials started together: one makes the fold, the others wait for it
        if not (root / "classes.json").is_file():
            if root.exists():  # an interrupted earlier attempt
                shutil.rmtree(root)
            make_fold(data_root, root, fold)
            shutil.copyfile(data_root / "classes.json", root / "classes.json")
    return root


def previous_stage(stage: str) -> str | None:
    """The pipeline stage whose checkpoint `stage` starts from (None: the pretrained network)."""
    return STAGE_INFO[stage].previous if stage in STAGE_INFO else None


def previous_checkpoint(stage: str, start: str, trials: Path) -> tuple[str, Path]:
    """The name and file of the checkpoint `stage` starts from: a trial's, or a .pt file."""
    previous = previous_stage(stage)
    if previous is None:
        raise ConfigError(f"--start: {stage} trains from the pretrained network, not from a checkpoint")
    path = Path(start) if start.endswith(".pt") else trials / start / "models" / f"{previous}.pt"
    if not path.is_file():
        raise ConfigError(f"--start {start}: no checkpoint {path}")
    return previous, path


def run_trial(name: str, stage: str, start: str | None, fold: int | None, threads: int, overrides: list[str],
              params_path: Path = Path("params.yaml"), trials: Path = Path("trials")) -> dict:
    """Train `stage` as trial `name`; returns the record appended to `trials/results.jsonl`."""
    from onehead.engine import score_tasks
    from onehead.config import load_params
    from onehead.stage import OutputDirs, pipeline_run, reference_run, run_stage
    from onehead.strategies.registry import build_strategy
    params, previous = trial_params(stage, start, threads, overrides, params_path, trials)
    data_root = Path(params["data"]["root"]).resolve()
    if fold is not None:  # a fold trial is scored on val after training: a missing val split fails now
        build_dataset(REFERENCES.get(stage) or STAGE_INFO[stage].task, data_root, "val")
    params["data"]["root"] = str(fold_root(data_root, fold, trials).resolve() if fold is not None else data_root)
    dirs = make_trial_dir(trials / name, params, previous)

    began = time.time()
    settings = load_params(trials / name / "params.yaml")
    outputs = OutputDirs(dirs["models"], dirs["metrics"], dirs["plots"])
    if stage in REFERENCES:
        metrics = run_stage(reference_run(REFERENCES[stage], settings), settings, dirs=outputs)
    else:
        metrics = run_stage(pipeline_run(stage, settings), settings, build_strategy(settings.strategy), outputs)
    record = {"name": name, "stage": stage, "fold": fold, "start": start, "overrides": overrides,
              "seconds": round(time.time() - began), "metrics": metrics}
    if fold is not None:
        record["val"] = score_val(dirs["models"] / f"{stage}.pt", data_root, params, score_tasks)
    with open(trials / "results.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def trial_params(stage: str, start: str | None, threads: int, overrides: list[str], params_path: Path,
                 trials: Path) -> tuple[dict, tuple[str, Path] | None]:
    """The checked params of a trial and the checkpoint it starts from; nothing is written yet."""
    if stage not in STAGES:
        raise ConfigError(f"stage {stage!r}: choose one of {', '.join(STAGES)}")
    params = apply_overrides(read_yaml(params_path), overrides)
    params["train"]["threads"] = threads
    validate(params, "params.yaml with the overrides")
    previous = previous_checkpoint(stage, start, trials) if start else None
    if previous is None and previous_stage(stage) is not None:
        raise ConfigError(f"{stage} needs --start: the trial or checkpoint of the stage before it")
    return params, previous


def make_trial_dir(run: Path, params: dict, previous: tuple[str, Path] | None) -> dict[str, Path]:
    """A fresh `run` folder with the trial's params.yaml and a copy of its start checkpoint."""
    if run.exists():
        shutil.rmtree(run)
    dirs = {d: run / d for d in ("models", "metrics", "plots")}
    for d in dirs.values():
        d.mkdir(parents=True)
    (run / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if previous:
        shutil.copyfile(previous[1], dirs["models"] / f"{previous[0]}.pt")
    return dirs


def score_val(checkpoint: Path, data_root: Path, params: dict, score_tasks) -> dict:
    """The checkpoint's last task scored on the real val split (a fold trial's second opinion)."""
    from onehead.checkpoint import model_from_checkpoint
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt, checkpoint).eval()
    return score_tasks(model, [ckpt.learned[-1]], ckpt.image_size, data_root, "val", torch.device("cpu"),
                       params["train"]["det_max_per_image"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the trial's folder under --trials")
    parser.add_argument("stage", help=f"one of {', '.join(STAGES)}")
    parser.add_argument("--start", help="trial name or .pt file of the previous stage's checkpoint")
    parser.add_argument("--fold", type=int, help="train on fold K of the training sets (0–3)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--trials", type=Path, default=Path("trials"))
    parser.add_argument("overrides", nargs="*", help="dotted params keys: stage2_det.lr=0.001")
    args = parser.parse_intermixed_args(argv)
    with user_errors("trial"):
        record = run_trial(args.name, args.stage, args.start, args.fold, args.threads, args.overrides,
                           args.params, args.trials)
    shown = {k: record[k] for k in ("metrics", "val") if k in record}
    print(json.dumps({"name": record["name"], "seconds": record["seconds"], **shown}, indent=1))


if __name__ == "__main__":
    main()
