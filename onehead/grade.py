"""The evaluate command: graders' scoring of any checkpoint (docs/spec.md §5), or the pipeline stage.

    python stages/evaluate.py --weights models/stage3_cls.pt --data_root data --tasks all [--split test]
    python stages/evaluate.py          # no arguments: the pipeline's evaluate stage
"""
from __future__ import annotations

import argparse
import sys

from .catalog import TASK_ORDER
from .checkpoint import load_checkpoint, model_from_checkpoint
from .cli import user_errors
from .data.datasets import available_tasks
from .engine import score_tasks
from .errors import CheckpointError, ConfigError, DataError
from .evaluation import run_evaluate
from .io import write_json
from .runtime import pick_device


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Score a checkpoint (grader mode, with --weights) or, without arguments, run the "
                    "pipeline's evaluate stage (final vs baseline, drops, params, latency).")
    parser.add_argument("--weights", help="checkpoint to score, e.g. models/stage3_cls.pt")
    parser.add_argument("--data_root", "--dataroot", dest="data_root", default=None,
                        help="folder in the layout of docs/spec.md §1 (default: data.root of params.yaml, else 'data')")
    parser.add_argument("--tasks", default="all", help="all, seg, det, cls or a comma list (default all)")
    parser.add_argument("--split", default="val", help="split folder to score, e.g. val or test (default val)")
    parser.add_argument("--out", default=None, help="JSON file to write (default eval_<split>.json)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return parser


def parse_tasks(spec: str) -> list[str]:
    """'all' or a comma list of seg/det/cls, in pipeline order."""
    if spec.strip() == "all":
        return list(TASK_ORDER)
    tasks = [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_ORDER]
    if unknown or not tasks:
        raise ConfigError(f"--tasks: unknown task(s) {unknown or spec!r}; use all, seg, det, cls or a comma list")
    return [t for t in TASK_ORDER if t in tasks]


def tasks_with_data(spec: str, root, split: str) -> list[str]:
    """The asked-for tasks; with `all`, those without data for `split` are skipped with a note."""
    tasks, present = parse_tasks(spec), available_tasks(root, split)
    if spec.strip() == "all":
        for t in (t for t in tasks if t not in present):
            print(f"evaluate: no {t} data for split '{split}' under {root}; skipped", file=sys.stderr)
        tasks = [t for t in tasks if t in present]
    elif missing := [t for t in tasks if t not in present]:
        raise DataError(f"{root}: no data for task(s) {missing} in split '{split}'")
    if not tasks:
        raise DataError(f"{root}: no task data found for split '{split}'")
    return tasks


def learned_tasks(tasks: list[str], spec: str, learned: list[str], weights) -> list[str]:
    """Only tasks the checkpoint has learned have meaningful scores: with `all` the others are
    skipped with a note; asked for by name they are an error naming what it has learned."""
    not_learned = [t for t in tasks if t not in learned]
    if not_learned and spec.strip() != "all":
        raise CheckpointError(f"{weights}: this checkpoint has not learned {', '.join(not_learned)} (it learned "
                              f"{', '.join(learned) or 'nothing'}), so its {', '.join(not_learned)} outputs are "
                              f"untrained and a score would mean nothing: use a later stage's checkpoint, or "
                              f"--tasks {','.join(learned) or 'all'}")
    for t in not_learned:
        print(f"evaluate: {weights} has not learned {t} (it learned {', '.join(learned)}); skipped", file=sys.stderr)
    return [t for t in tasks if t in learned]


def grade(args) -> None:
    ckpt = load_checkpoint(args.weights)
    root = args.data_root or "data"
    tasks = learned_tasks(tasks_with_data(args.tasks, root, args.split), args.tasks, ckpt.learned, args.weights)
    if not tasks:
        raise CheckpointError(f"{args.weights}: none of the tasks with data under {root} has been learned by this "
                              f"checkpoint (it learned {', '.join(ckpt.learned) or 'nothing'})")
    model = model_from_checkpoint(ckpt, args.weights)
    scores = score_tasks(model, tasks, ckpt.image_size, root, args.split, pick_device(args.device))
    print(f"{'task':<6}{'metric':<8}{'value':>8}   ({args.weights} on {root}, split {args.split})")
    for task, values in scores.items():
        for metric, value in values.items():
            print(f"{task:<6}{metric:<8}{value:>8.4f}")
    out = args.out or f"eval_{args.split}.json"
    write_json(out, {"weights": str(args.weights), "data_root": str(root), "split": args.split, **scores})
    print(f"written to {out}")


def main(argv=None) -> None:
    args = evaluate_parser().parse_args(argv)
    with user_errors("evaluate"):
        if args.weights:
            grade(args)
        else:
            run_evaluate()
