"""Qualitative grid on val images: seg overlay vs ground truth, boxes vs ground truth, cls top-3."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..data.datasets import build_dataset  # noqa: E402
from ..data.wordnet import readable_classes  # noqa: E402
from ..inference import SCORE_THRESHOLD as SCORE, predict_image  # noqa: E402
from .draw import save_png, show_boxes, show_predicted_boxes, show_segmentation, show_top3  # noqa: E402


def evenly_spaced(n_items: int, n: int) -> list[int]:
    return sorted({round(i * (n_items - 1) / max(n - 1, 1)) for i in range(min(n, n_items))})


def qualitative_grid(model, ckpt, data_root, n: int, out: Path) -> Path:
    classes = readable_classes(ckpt.classes)  # for people: WordNet ids become English names
    seg_set, det_set, cls_set = (build_dataset(t, data_root, "val") for t in ("seg", "det", "cls"))
    picks = {t: evenly_spaced(len(d), n) for t, d in (("seg", seg_set), ("det", det_set), ("cls", cls_set))}
    rows = max(len(p) for p in picks.values())
    fig, axes = plt.subplots(rows, 5, figsize=(17, 3.3 * rows), squeeze=False)
    for r in range(rows):
        for c in range(5):
            axes[r, c].axis("off")
        if r < len(picks["seg"]):
            image, target = seg_set.raw(picks["seg"][r])
            pred = predict_image(model, ckpt, image)
            show_segmentation(axes[r, 0], image, target["mask"].numpy(), classes["seg"], "seg truth")
            show_segmentation(axes[r, 1], image, pred["mask"], classes["seg"], "seg prediction")
        if r < len(picks["det"]):
            image, target = det_set.raw(picks["det"][r])
            pred = predict_image(model, ckpt, image)
            show_boxes(axes[r, 2], image, target, classes["det"], colour="orange", title="boxes truth")
            show_predicted_boxes(axes[r, 3], image, pred["dets"], classes["det"], SCORE,
                                 f"boxes predicted (score ≥ {SCORE})")
        if r < len(picks["cls"]):
            image, target = cls_set.raw(picks["cls"][r])
            pred = predict_image(model, ckpt, image)
            show_top3(axes[r, 4], image, pred["top3"], classes["cls"],
                      f"cls truth: {classes['cls'][target['label']]}", fontsize=8)
    fig.tight_layout()
    save_png(fig, out, dpi=80)
    return out
