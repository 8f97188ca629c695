"""The docs/spec.md §4 metrics: confusion-matrix mIoU, pycocotools COCOeval mAP, top-1 accuracy."""
from __future__ import annotations

import contextlib
import io

import numpy as np

from .catalog import IGNORE_LABEL


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore: int = IGNORE_LABEL) -> np.ndarray:
    """num_classes² counts: rows = ground truth, columns = prediction; `ignore` pixels skipped."""
    keep = target != ignore
    t, p = target[keep].astype(np.int64), pred[keep].astype(np.int64)
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def miou_from_confusion(conf: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean IoU over classes present in ground truth or prediction; per-class IoU (NaN if absent)."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    present = union > 0
    iou = np.full(len(conf), np.nan)
    iou[present] = tp[present] / union[present]
    return (float(iou[present].mean()) if present.any() else 0.0), iou


def coco_map(coco_gt, detections: list[dict], image_ids: list[int] | None = None) -> dict[str, float]:
    """COCOeval (bbox, maxDets 100) on detections in COCO result format.

    Returns AP@[.5:.95] as `map` and AP@0.5 as `map50`; 0 when there are no detections.
    """
    from pycocotools.cocoeval import COCOeval

    if not detections:
        return {"map": 0.0, "map50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(detections)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if image_ids is not None:
            ev.params.imgIds = list(image_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # COCOeval reports -1 where no ground truth exists; count that as 0.
    return {"map": max(float(ev.stats[0]), 0.0), "map50": max(float(ev.stats[1]), 0.0)}


def top1(pred: np.ndarray, target: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(target)).mean()) if len(target) else 0.0
