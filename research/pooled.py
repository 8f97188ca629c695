"""Pooled scores of fold trials: one score over all their held-out images.

    python -m research.pooled TRIAL ... [--vs TRIAL ...] [--task seg|det|cls] [--trials trials] [--data data]

One object moves a 60-image mIoU by several points, about the size of a good lever. The four fold
trials of one setting (`python -m research.trial NAME stage1_seg --fold K`, K = 0..3) hold out every
training image once, so their confusion matrices, summed, score the setting on all 240 training
images at once; the same four models on val give a second pooled score. `--vs` pools a second
setting's trials the same way and lists the classes whose IoU moved most between the two.
Detection trials (stage 2) are pooled alike: every trial's boxes on its held-out quarter go into one
COCOeval (AP, AP@0.5), and the val images each model scored count as images of their own.
Classification trials (stage 3) count correct images: Top-1 over all held-out images, and over val
once per model. Each trial is scored on the task its checkpoint learnt last, or on `--task`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from onehead.cli import user_errors
from onehead.errors import ConfigError
from onehead.metrics import coco_map, miou_from_confusion
from onehead.runtime import progress

SHOWN_CLASSES = 6  # classes listed with --vs: those whose held-out IoU moved most


@dataclass
class PooledScore:
    """A group of trials pooled on their held-out quarters and on val: segmentation's summed confusion
    matrices, classification's summed [correct, images], or detection's (ground truth, image ids,
    boxes) of each trial and data root."""
    trials: list[str]
    task: str
    held_out: np.ndarray | list[tuple]
    val: np.ndarray | list[tuple]


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


def trial_checkpoint(trials: Path, name: str, records: list[dict]) -> tuple[Path, Path, int]:
    """The checkpoint fold trial `name` trained, the data folder of its fold and its boxes per image
    (`records`: `trial_records`)."""
    record = next((r for r in reversed(records) if r.get("name") == name), None)
    if record is None:
        raise ConfigError(f"trial {name!r}: not in {trials / 'results.jsonl'}")
    if record.get("fold") is None:
        raise ConfigError(f"trial {name!r} trained on the whole training set: pooling needs fold trials (--fold K)")
    checkpoint = trials / name / "models" / f"{record['stage']}.pt"
    params = yaml.safe_load((trials / name / "params.yaml").read_text())
    return checkpoint, Path(params["data"]["root"]), params["train"]["det_max_per_image"]


@torch.no_grad()
def trial_parts(name: str, checkpoint: Path, data_roots: list[Path], max_det: int, task: str | None = None,
                device=torch.device("cpu")) -> tuple[str, list]:
    """The task scored (`task`, default the one trial `name` learnt last) and, for each data root's val
    split, what pooling needs of it: segmentation's confusion matrix (`seg.confusion`), classification's
    [correct, images] or detection's (COCO ground truth, image ids, boxes), computed as the stages
    score them; one checkpoint load."""
    from onehead.checkpoint import load_checkpoint, model_from_checkpoint
    from onehead.data.datasets import build_dataset
    from onehead.data.transforms import eval_transform
    from onehead.engine import eval_loader
    from onehead.tasks import cls, det, seg
    ckpt = load_checkpoint(checkpoint)
    task = task or ckpt.learned[-1]
    if task not in ckpt.learned:
        raise ConfigError(f"{checkpoint}: has not learnt {task} (learned: {', '.join(ckpt.learned)})")
    model = model_from_checkpoint(ckpt, checkpoint).eval().to(device)
    parts = []
    for root in data_roots:
        dataset = build_dataset(task, root, "val", eval_transform(task, ckpt.image_size[task]))
        loader = eval_loader(dataset, f"eval {name}")
        if task == "seg":
            parts.append(seg.confusion(model, loader, dataset, device))
        elif task == "cls":
            correct = round(cls.evaluate(model, loader, dataset, device)["top1"] * len(dataset))
            parts.append(np.array([correct, len(dataset)]))
        else:
            parts.append((dataset.coco, dataset.image_ids, det.detections(model, loader, dataset, device, max_det)))
    return task, parts


def pool(names: list[str], trials: Path, val_root: Path, task: str | None = None) -> PooledScore:
    """Each trial scored on its held-out quarter and on `val_root`'s val split, pooled per split
    (`task`: as `trial_parts`)."""
    held_out, val, scored, records = [], [], set(), trial_records(trials)
    for name in progress(names, "scoring trials"):
        checkpoint, fold_root, max_det = trial_checkpoint(trials, name, records)
        trial_task, (on_fold, on_val) = trial_parts(name, checkpoint, [fold_root, val_root], max_det, task)
        held_out, val, scored = held_out + [on_fold], val + [on_val], scored | {trial_task}
    if len(scored) > 1:
        raise ConfigError(f"trials {', '.join(names)}: learnt different last tasks; choose one with --task")
    scored_task = scored.pop()
    if scored_task in ("seg", "cls"):
        return PooledScore(names, scored_task, sum(held_out), sum(val))
    return PooledScore(names, scored_task, held_out, val)


def merged_coco(parts: list[tuple]):
    """One COCO ground truth and one list of boxes from (ground truth, image ids, boxes) parts. Each
    part's images get ids of their own, so two models' boxes on the same val image are two images."""
    from pycocotools.coco import COCO
    images, annotations, boxes = [], [], []
    for coco, image_ids, results in parts:
        new_id = {old: len(images) + n + 1 for n, old in enumerate(image_ids)}
        images += [{**coco.imgs[old], "id": new_id[old]} for old in image_ids]
        objects = [ann for old in image_ids for ann in coco.imgToAnns[old]]
        annotations += [{**ann, "id": len(annotations) + n + 1, "image_id": new_id[ann["image_id"]]}
                        for n, ann in enumerate(objects)]
        boxes += [{**b, "image_id": new_id[b["image_id"]]} for b in results]
    merged = COCO()
    merged.dataset = {"images": images, "annotations": annotations, "categories": list(parts[0][0].cats.values())}
    with contextlib.redirect_stdout(io.StringIO()):
        merged.createIndex()
    return merged, boxes


def pooled_scores(task: str, pooled: np.ndarray | list[tuple]) -> dict:
    """Segmentation: mIoU and per-class IoU of a summed confusion; classification: Top-1 of summed
    [correct, images]; detection: COCOeval AP and AP@0.5."""
    if task == "seg":
        miou, per_class = miou_from_confusion(pooled)
        return {"miou": miou, "per_class": per_class}
    if task == "cls":
        correct, images = (int(n) for n in pooled)
        return {"top1": correct / images, "correct": correct, "images": images}
    merged, boxes = merged_coco(pooled)
    return coco_map(merged, boxes, sorted(merged.imgs))


SCORE_NAMES = {"seg": "mIoU", "det": "AP / AP@0.5", "cls": "Top-1"}  # the columns of `summary`'s table


def score_text(task: str, score: dict) -> str:
    """One pooled score as a table cell; Top-1 with its counts, e.g. "0.9833 (118/120)" (one image is a
    visible step)."""
    if task == "det":
        return f"{score['map']:.4f} / {score['map50']:.4f}"
    if task == "cls":
        return f"{score['top1']:.4f} ({score['correct']}/{score['images']})"
    return f"{score['miou']:.4f}"


def summary(scores: list[PooledScore], class_names: list[str]) -> str:
    """A table of pooled scores; for two segmentation groups also the classes whose held-out IoU moved most."""
    task = scores[0].task
    held = [pooled_scores(task, s.held_out) for s in scores]
    val = [pooled_scores(task, s.val) for s in scores]
    name = SCORE_NAMES[task]
    lines = [f"| trials | pooled held-out {name} | pooled val {name} |", "|---|---|---|"]
    lines += [f"| {', '.join(s.trials)} | {score_text(task, h)} | {score_text(task, v)} |"
              for s, h, v in zip(scores, held, val)]
    if task == "seg" and len(scores) == 2:
        a_held, b_held = (h["per_class"] for h in held)
        a_val, b_val = (v["per_class"] for v in val)
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
    parser.add_argument("--task", choices=("seg", "det", "cls"),
                        help="the task scored (default: the one each trial learnt last)")
    parser.add_argument("--data", type=Path, help="data folder with the real val split (default: params.yaml's)")
    args = parser.parse_args(argv)
    with user_errors("pooled"):
        val_root = args.data or Path(yaml.safe_load(Path("params.yaml").read_text())["data"]["root"])
        groups = [args.names] + ([args.vs] if args.vs else [])
        scores = [pool(names, args.trials, val_root, args.task) for names in groups]
        if len({s.task for s in scores}) > 1:
            raise ConfigError("--vs: both groups must be trials of the same task")
        names = json.loads((val_root / "classes.json").read_text())["seg"]
        print(summary(scores, names))


if __name__ == "__main__":
    main()
