"""docs/spec.md §4 metrics on hand-computed cases and against pycocotools."""
import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from onehead.metrics import coco_map, confusion_matrix, miou_from_confusion, top1


def test_confusion_matrix_ignores_void_and_counts_rows_as_ground_truth():
    target = np.array([[0, 0, 1], [1, 255, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    conf = confusion_matrix(pred, target, 3)
    assert conf.sum() == 5  # the 255 pixel is skipped
    assert conf[0, 0] == 1 and conf[0, 1] == 1 and conf[1, 1] == 2 and conf[2, 0] == 1


def test_miou_hand_computed_and_absent_classes_left_out():
    # class 0: TP 1, FP 1 (pred 0 where gt 2), FN 1 -> 1/3; class 1: TP 2, FP 1, FN 0 -> 2/3
    # class 2: TP 0, FN 1 -> 0; class 3 absent from both -> left out (not counted as 1)
    target = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    miou, iou = miou_from_confusion(confusion_matrix(pred, target, 4))
    assert iou[0] == pytest.approx(1 / 3) and iou[1] == pytest.approx(2 / 3) and iou[2] == 0
    assert np.isnan(iou[3])
    assert miou == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)


def test_class_only_in_prediction_counts_as_zero():
    miou, iou = miou_from_confusion(confusion_matrix(np.array([0, 5]), np.array([0, 0]), 21))
    assert iou[5] == 0 and miou == pytest.approx((0.5 + 0) / 2)


def _coco(tmp_path):
    gt = {"images": [{"id": 1, "width": 100, "height": 100, "file_name": "a.jpg"},
                     {"id": 2, "width": 100, "height": 100, "file_name": "b.jpg"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0},
                          {"id": 2, "image_id": 2, "category_id": 5, "bbox": [50, 20, 30, 60], "area": 1800, "iscrowd": 0}],
          "categories": [{"id": 3, "name": "a"}, {"id": 5, "name": "b"}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_coco_map_perfect_detections_score_one(tmp_path):
    coco = _coco(tmp_path)
    dets = [{"image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 40], "score": 0.9},
            {"image_id": 2, "category_id": 5, "bbox": [50, 20, 30, 60], "score": 0.8}]
    assert coco_map(coco, dets) == {"map": pytest.approx(1.0), "map50": pytest.approx(1.0)}


def test_coco_map_matches_iou_thresholds(tmp_path):
    coco = _coco(tmp_path)
    # Box 1 shifted: IoU = 30*40 / (2*1600 - 1200) = 0.6 -> counts at 0.5..0.6 (3 of 10 thresholds)
    dets = [{"image_id": 1, "category_id": 3, "bbox": [20, 10, 40, 40], "score": 0.9},
            {"image_id": 2, "category_id": 5, "bbox": [0, 0, 10, 10], "score": 0.8}]  # a miss
    result = coco_map(coco, dets)
    assert result["map50"] == pytest.approx(0.5)      # class 3 AP 1, class 5 AP 0
    assert result["map"] == pytest.approx(0.5 * 3 / 10)


def test_coco_map_no_detections_is_zero(tmp_path):
    assert coco_map(_coco(tmp_path), []) == {"map": 0.0, "map50": 0.0}


def test_top1():
    assert top1(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
