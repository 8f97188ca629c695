"""Drawing helpers: segmentation overlays, boxes with labels, classification top-3."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ..catalog import IGNORE_LABEL  # noqa: E402
from ..io import atomic_path  # noqa: E402


def label_colours(n: int) -> np.ndarray:
    """The PASCAL VOC colour map (bit-interleaved), n × 3 in [0, 1]."""
    colours = np.zeros((n, 3))
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours[i] = (r / 255, g / 255, b / 255)
    return colours


def to_numpy_image(image) -> np.ndarray:
    return image.permute(1, 2, 0).numpy() if hasattr(image, "permute") else np.asarray(image)


def show_segmentation(ax, image, mask: np.ndarray, names: list[str], title: str) -> None:
    """Image with the class mask blended over it; classes present listed in the title."""
    ax.imshow(to_numpy_image(image))
    colours = label_colours(len(names))
    rgba = np.zeros((*mask.shape, 4))
    valid = (mask != IGNORE_LABEL) & (mask != 0)
    rgba[valid, :3] = colours[mask[valid]]
    rgba[valid, 3] = 0.55
    ax.imshow(rgba)
    present = [names[c] for c in np.unique(mask) if c not in (0, IGNORE_LABEL) and c < len(names)]
    ax.set_title(f"{title}: {', '.join(present) or 'background'}", fontsize=8)
    ax.axis("off")


def show_boxes(ax, image, boxes: dict, names: list[str], colour: str = "lime", title: str = "") -> None:
    """`boxes`: `boxes` (x0, y0, x1, y1), `labels` and optionally `scores`, one row per box."""
    ax.imshow(to_numpy_image(image))
    labels, scores = boxes["labels"], boxes.get("scores")
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes["boxes"], dtype=float).reshape(-1, 4)):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color=colour, lw=1.5))
        text = names[int(labels[i])] + (f" {float(scores[i]):.2f}" if scores is not None else "")
        ax.text(x0, y0, text, fontsize=6, color="black", backgroundcolor=colour, va="bottom")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def top3_text(top3, names: list[str]) -> str:
    return "\n".join(f"{names[i]}: {p:.2f}" for i, p in top3)


def show_predicted_boxes(ax, image, dets: dict, names: list[str], score: float, title: str) -> None:
    """The detections scoring at least `score`, with class and score."""
    keep = dets["scores"] >= score
    show_boxes(ax, image, {k: dets[k][keep] for k in ("boxes", "labels", "scores")}, names, title=title)


def show_top3(ax, image, top3, names: list[str], title: str, fontsize: int = 9) -> None:
    ax.imshow(to_numpy_image(image))
    ax.set_title(title, fontsize=8)
    ax.text(0.02, 0.98, top3_text(top3, names), transform=ax.transAxes, va="top", fontsize=fontsize,
            bbox={"facecolor": "white", "alpha": 0.8})
    ax.axis("off")


def prediction_figure(image, pred: dict, classes: dict, score: float, title: str = ""):
    """One image, three panels: segmentation overlay, detected boxes, classification top-3."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
    show_segmentation(axes[0], image, pred["mask"], classes["seg"], "segmentation")
    show_predicted_boxes(axes[1], image, pred["dets"], classes["det"], score, f"detections (score ≥ {score})")
    show_top3(axes[2], image, pred["top3"], classes["cls"], "classification top-3")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_png(fig, target, dpi: int) -> None:
    """Write `fig` atomically as a PNG and free it."""
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
