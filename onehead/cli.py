"""Entry points of the stage scripts: argument handling and clear, non-zero exits on bad input."""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

from . import config
from .checkpoint import CheckpointError
from .data.fetch import DataError
from .model.backbone import MissingWeightsError

USER_ERRORS = (config.ConfigError, DataError, CheckpointError, MissingWeightsError, FileNotFoundError)


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def user_errors(what: str):
    """Print `error: …` instead of a traceback for problems with the user's inputs; exit 2.

    SIGTERM is turned into KeyboardInterrupt so temporary files are cleaned up as on Ctrl-C;
    SIGINT is handled even when inherited as ignored (commands started in the background).
    """
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        print(f"{what}: interrupted; previous outputs left as they were", file=sys.stderr)
        sys.exit(130)
    except USER_ERRORS as err:
        if os.environ.get("ONEHEAD_TRACEBACK"):
            raise
        print(f"{what}: error: {err}", file=sys.stderr)
        sys.exit(2)


def main_stage(stage: str) -> None:
    from .stage import run_stage

    with user_errors(stage):
        run_stage(stage)


def main_download() -> None:
    from .data import class_names
    from .data.fetch import download
    from .io import write_json

    with user_errors("download"):
        params = config.load_params()["data"]
        mirror = os.environ.get("ONEHEAD_MIRROR") or params["mirror"]
        root = Path(params["root"])
        files = download(root, params["manifest"], params["source"], mirror, params["subset"])
        write_json(root / "classes.json", class_names(root))
        print(f"download: {len(files)} files verified into {root}/ (source: {params['source']})")


def evaluate_parser():
    import argparse

    parser = argparse.ArgumentParser(
        description="Score a checkpoint (grader mode, with --weights) or, without arguments, run the "
                    "pipeline's evaluate stage (final vs baseline, drops, params, latency).")
    parser.add_argument("--weights", help="checkpoint to score, e.g. models/stage3_cls.pt")
    parser.add_argument("--data_root", "--dataroot", dest="data_root", default=None,
                        help="folder in the SPEC layout (default: data.root of params.yaml, else 'data')")
    parser.add_argument("--tasks", default="all", help="all, seg, det, cls or a comma list (default all)")
    parser.add_argument("--split", default="val", help="split folder to score, e.g. val or test (default val)")
    parser.add_argument("--out", default=None, help="JSON file to write (default eval_<split>.json)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    return parser


def main_evaluate(argv=None) -> None:
    args = evaluate_parser().parse_args(argv)
    with user_errors("evaluate"):
        if args.weights:
            grade(args)
        else:
            from .stage_evaluate import run_evaluate

            run_evaluate()


def grade(args) -> None:
    from .checkpoint import load_checkpoint, model_from_checkpoint
    from .evaluation import available_tasks, parse_tasks, score_checkpoint
    from .io import write_json
    from .runtime import pick_device

    try:
        tasks = parse_tasks(args.tasks)
    except ValueError as err:
        raise config.ConfigError(str(err)) from None
    root = args.data_root or "data"
    present = available_tasks(root, args.split)
    if args.tasks.strip() == "all":
        skipped = [t for t in tasks if t not in present]
        tasks = [t for t in tasks if t in present]
        for t in skipped:
            print(f"evaluate: no {t} data for split '{args.split}' under {root}; skipped", file=sys.stderr)
    elif missing := [t for t in tasks if t not in present]:
        raise DataError(f"{root}: no data for task(s) {missing} in split '{args.split}'")
    if not tasks:
        raise DataError(f"{root}: no task data found for split '{args.split}'")
    ckpt = load_checkpoint(args.weights)
    not_learned = [t for t in tasks if t not in ckpt["learned"]]
    if not_learned:
        print(f"evaluate: checkpoint has not been trained on {not_learned} yet; scores are untrained outputs",
              file=sys.stderr)
        for t in not_learned:
            ckpt["image_size"].setdefault(t, max(ckpt["image_size"].values()))
    model = model_from_checkpoint(ckpt, args.weights)
    scores = score_checkpoint(model, ckpt, root, tasks, args.split, pick_device(args.device))
    print(f"{'task':<6}{'metric':<8}{'value':>8}   ({args.weights} on {root}, split {args.split})")
    for task, values in scores.items():
        for metric, value in values.items():
            print(f"{task:<6}{metric:<8}{value:>8.4f}")
    out = args.out or f"eval_{args.split}.json"
    write_json(out, {"weights": str(args.weights), "data_root": str(root), "split": args.split, **scores})
    print(f"written to {out}")


def main_report() -> None:
    from .report.build import build_report

    with user_errors("report"):
        print(f"report: wrote {build_report()}")
