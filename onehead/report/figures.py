"""Matplotlib figures of the report: loss curves per stage and the forgetting chart."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ..catalog import METRIC_LABEL, METRICS, STAGE_INFO, STAGE_ORDER, task_of_metric  # noqa: E402
from .draw import save_png  # noqa: E402


def read_tsv(path: Path) -> list[dict[str, float]]:
    with open(path) as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh, delimiter="\t")]


def loss_curves(plots_dir: Path, out: Path) -> Path:
    """One panel per stage: every loss term against epoch, with the val metrics on a twin axis."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, stage in zip(axes, STAGE_ORDER):
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
    save_png(fig, out, dpi=110)
    return out


def forgetting_chart(stage_metrics: dict[str, dict], out: Path) -> Path:
    """Each task's metric after each stage (a task appears once it has been learned)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for metric in METRICS:
        xs, ys = [], []
        for i, stage in enumerate(STAGE_ORDER):
            task = task_of_metric(metric)
            if task in stage_metrics[stage]:
                xs.append(i)
                ys.append(stage_metrics[stage][task][metric])
        ax.plot(xs, ys, "-o", label=METRIC_LABEL[metric])
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(range(len(STAGE_ORDER)), [f"after stage {i + 1}\n({STAGE_INFO[s].task})"
                                            for i, s in enumerate(STAGE_ORDER)])
    ax.set(ylabel="val metric", ylim=(0, 1.05), title="Each task's metric after each stage")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, out, dpi=110)
    return out


def widths(channels: int | dict[str, int]) -> str:
    """A layer's width: '256 ch, shared' or its task groups, e.g. 'seg 128 | det 192 | cls 64'."""
    if isinstance(channels, int):
        return f"{channels} ch, shared"
    return " | ".join(f"{t} {c}" for t, c in channels.items())


def context_line(tasks: list[str]) -> str:
    """The diagram's note of which output rows read the image context."""
    return f"({'/'.join(tasks)} rows + pooled C5)\n" if tasks else ""


def architecture_diagram(params, layout, counts: dict, out: Path) -> Path:
    """Boxes and arrows: backbone → FPN layer → one 3-layer head → one tensor sliced per task.
    `params` is the `config.ModelParams` of the network."""
    fig, ax = plt.subplots(figsize=(12, 3.6))
    ax.set(xlim=(0, 12), ylim=(0, 4))
    ax.axis("off")
    width = 1.6
    kernels = "/".join(f"{k}×{k}" for k in params.kernels)
    blocks = [
        (0.1, "input\n[0,1] RGB", "#eeeeee"),
        (2.2, f"backbone\n{params.backbone}\nC3/C4/C5 (s8/16/32)\n{counts['backbone'] / 1e6:.2f} M", "#cfe2f3"),
        (4.3, f"neck: 1 FPN layer\n1×1 laterals → s8\n1×1 conv-BN-ReLU\n{widths(params.channels)}\n"
              f"{counts['neck'] / 1e6:.2f} M", "#d9ead3"),
        (6.4, f"head (3 layers)\n{kernels} conv-BN-ReLU\n{widths(params.channels)}\n1×1 conv → {layout.total} ch\n"
              f"{context_line(params.context_for)}"
              f"{counts['head'] / 1e6:.2f} M", "#fce5cd"),
    ]
    for x, text, colour in blocks:
        ax.add_patch(Rectangle((x, 1.0), width, 2.0, facecolor=colour, edgecolor="black"))
        ax.text(x + width / 2, 2.0, text, ha="center", va="center", fontsize=8)
    for (x0, _, _), (x1, _, _) in zip(blocks, blocks[1:] + [(8.5, "", "")]):
        ax.annotate("", xy=(x1, 2.0), xytext=(x0 + width, 2.0), arrowprops={"arrowstyle": "->"})
    outputs = [(3.1, f"seg: {layout.seg_classes} logits → upsample → mask", "#d9d2e9"),
               (2.0, f"det: {layout.det_classes} heatmap + 4 box → peaks → boxes", "#f4cccc"),
               (0.9, f"cls: {layout.cls_classes} → global mean → logits", "#fff2cc")]
    for y, text, colour in outputs:
        ax.add_patch(Rectangle((8.5, y - 0.35), 3.4, 0.7, facecolor=colour, edgecolor="black"))
        ax.text(10.2, y, text, ha="center", va="center", fontsize=7.5)
    design = ("every hidden layer one dense convolution shared by all tasks" if params.head == "shared" else
              "progressive head: channels grouped by task, each group reading the groups learnt before it")
    ax.set_title(f"One network, one head — {counts['total'] / 1e6:.2f} M parameters; {design}", fontsize=9)
    fig.tight_layout()
    save_png(fig, out, dpi=110)
    return out
