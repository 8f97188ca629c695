"""Matplotlib figures of the report: loss curves per stage and the forgetting chart."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STAGES = ("stage1_seg", "stage2_det", "stage3_cls")
METRIC_LABEL = {"miou": "mIoU (seg)", "map": "AP@[.5:.95] (det)", "map50": "AP@0.5 (det)", "top1": "Top-1 (cls)"}
TASK_OF = {"miou": "seg", "map": "det", "map50": "det", "top1": "cls"}


def read_tsv(path: Path) -> list[dict[str, float]]:
    with open(path) as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh, delimiter="\t")]


def loss_curves(plots_dir: Path, out: Path) -> Path:
    """One panel per stage: every loss term against epoch, with the val metrics on a twin axis."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, stage in zip(axes, STAGES):
        rows = read_tsv(plots_dir / stage / "train.tsv")
        epochs = [r["epoch"] for r in rows]
        for key in rows[0]:
            if key != "epoch":
                ax.plot(epochs, [r.get(key) for r in rows], label=key, lw=2 if key == "loss" else 1)
        ax.set(title=stage, xlabel="epoch", ylabel="training loss", yscale="log")
        ax.legend(fontsize=7, loc="upper right")
        val = read_tsv(plots_dir / stage / "val.tsv")
        if val:
            twin = ax.twinx()
            for key in val[0]:
                if key != "epoch":
                    twin.plot([r["epoch"] for r in val], [r[key] for r in val], "--o", ms=3, label=key)
            twin.set_ylabel("val metric")
            twin.set_ylim(0, 1)
            twin.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def forgetting_chart(stage_metrics: dict[str, dict], out: Path) -> Path:
    """Each task's metric after each stage (a task appears once it has been learned)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for metric in ("miou", "map", "map50", "top1"):
        xs, ys = [], []
        for i, stage in enumerate(STAGES):
            task = TASK_OF[metric]
            if task in stage_metrics[stage]:
                xs.append(i)
                ys.append(stage_metrics[stage][task][metric])
        ax.plot(xs, ys, "-o", label=METRIC_LABEL[metric])
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(range(3), ["after stage 1\n(seg)", "after stage 2\n(det)", "after stage 3\n(cls)"])
    ax.set(ylabel="val metric", ylim=(0, 1.05), title="Each task's metric after each stage")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
