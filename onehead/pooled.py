"""Pooled segmentation scores of fold trials: one confusion matrix over all their held-out images.

    python -m onehead.pooled TRIAL ... [--vs TRIAL ...] [--trials trials] [--data data]

One object moves a 60-image mIoU by several points, about the size of a good lever. The four fold
trials of one setting (`python -m onehead.trial NAME stage1_seg --fold K`, K = 0..3) hold out every
training image once, so their confusion matrices, summed, score the setting on all 240 training
images at once; the same four models on val give a second pooled score. `--vs` pools a second
setting's trials the same way and lists the classes whose IoU moved most between the two.
Each trial is scored with the segmentation of its own checkpoint (the last stage it trained).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from .cli import user_errors
from .errors import ConfigError
from .metrics import miou_from_confusion
from .runtime import progress

SHOWN_CLASSES = 6  # classes listed with --vs: those whose held-out IoU moved most


@dataclass
class PooledScore:
    """Summed confusion matrices of a group of trials: on their held-out quarters and on val."""
    trials: list[str]
    held_out: np.ndarray
    val: np.ndarray


def trial_records(trials: Path) -> list[dict]:
    """The lines of `trials/results.jsonl` (none when no trial ran yet)."""
    path = trials / "results.jsonl"
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            if line.strip():
                records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}, line {number}: not JSON ({err.msg})") from None
    return records


def trial_checkpoint(trials: Path, name: str, records: list[dict]) -> tuple[Path, Path]:
    """The checkpoint fold trial `name` trained and the data folder of its fold (`records`: `trial_records`)."""
    record = next((r for r in reversed(records) if r.get("name") == name), None)
    if record is None:
        raise ConfigError(f"trial {name!r}: not in {trials / 'results.jsonl'}")
    if record.get("fold") is None:
        raise ConfigError(f"trial {name!r} trained on the whole training set: pooling needs fold trials (--fold K)")
    checkpoint = trials / name / "models" / f"{record['stage']}.pt"
    params = yaml.safe_load((trials / name / "params.yaml").read_text())
    return checkpoint, Path(params["data"]["root"])


@torch.no_grad()
def seg_confusions(name: str, checkpoint: Path, data_roots: list[Path], device=torch.device("cpu")) -> list[np.ndarray]:
    """Trial `name`'s segmentation confusion matrix on each data root's val split, computed as every
    stage scores segmentation (`seg.confusion`, in the same batches); the checkpoint is loaded once."""
    from .checkpoint import load_checkpoint, model_from_checkpoint
    from .data.datasets import build_dataset
    from .data.transforms import eval_transform
    from .engine import eval_loader
    from .tasks import seg
    ckpt = load_checkpoint(checkpoint)
    if "seg" not in ckpt.learned:
        raise ConfigError(f"{checkpoint}: has not learnt segmentation (learned: {', '.join(ckpt.learned)})")
    model = model_from_checkpoint(ckpt, checkpoint).eval().to(device)
    confusions = []
    for root in data_roots:
        dataset = build_dataset("seg", root, "val", eval_transform("seg", ckpt.image_size["seg"]))
        confusions.append(seg.confusion(model, eval_loader(dataset, f"eval {name}"), dataset, device))
    return confusions


def pool(names: list[str], trials: Path, val_root: Path) -> PooledScore:
    """Sum each trial's confusion on its held-out quarter and on `val_root`'s val split."""
    held_out, val, records = 0, 0, trial_records(trials)
    for name in progress(names, "scoring trials"):
        checkpoint, fold_root = trial_checkpoint(trials, name, records)
        on_fold, on_val = seg_confusions(name, checkpoint, [fold_root, val_root])
        held_out, val = held_out + on_fold, val + on_val
    return PooledScore(names, held_out, val)


def summary(scores: list[PooledScore], class_names: list[str]) -> str:
    """A table of pooled mIoUs, and with two groups the classes whose held-out IoU moved most."""
    held = [miou_from_confusion(s.held_out) for s in scores]  # (mIoU, per-class IoU) of each group
    val = [miou_from_confusion(s.val) for s in scores]
    lines = ["| trials | pooled held-out mIoU | pooled val mIoU |", "|---|---|---|"]
    for s, (held_miou, _), (val_miou, _) in zip(scores, held, val):
        lines.append(f"| {', '.join(s.trials)} | {held_miou:.4f} | {val_miou:.4f} |")
    if len(scores) == 2:
        (_, a_held), (_, b_held) = held
        (_, a_val), (_, b_val) = val
        scored = ~(np.isnan(a_held) & np.isnan(b_held))  # a class neither group's held-out images have or predict: no row
        change = np.abs(np.nan_to_num(b_held) - np.nan_to_num(a_held))
        moved = [c for c in np.argsort(-change, kind="stable") if scored[c]][:SHOWN_CLASSES]
        lines += ["", "| class | held-out IoU | val IoU |", "|---|---|---|"]
        lines += [f"| {class_names[c]} | {a_held[c]:.3f} → {b_held[c]:.3f} | {a_val[c]:.3f} → {b_val[c]:.3f} |"
                  for c in moved]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", metavar="TRIAL", help="fold trials of one setting")
    parser.add_argument("--vs", nargs="+", default=[], metavar="TRIAL", help="fold trials of a second setting")
    parser.add_argument("--trials", type=Path, default=Path("trials"))
    parser.add_argument("--data", type=Path, help="data folder with the real val split (default: params.yaml's)")
    args = parser.parse_args(argv)
    with user_errors("pooled"):
        val_root = args.data or Path(yaml.safe_load(Path("params.yaml").read_text())["data"]["root"])
        groups = [args.names] + ([args.vs] if args.vs else [])
        scores = [pool(names, args.trials, val_root) for names in groups]
        names = json.loads((val_root / "classes.json").read_text())["seg"]
        print(summary(scores, names))


if __name__ == "__main__":
    main()
