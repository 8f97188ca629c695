"""`python -m research.pooled`: one score over the held-out quarters of fold trials (segmentation's
confusion matrices summed, detection's boxes in one COCOeval)."""
import numpy as np
import pytest

from conftest import run_main
from onehead.metrics import miou_from_confusion
from research.pooled import main as pooled_main
from research.pooled import merged_coco, pool, pooled_scores, trial_records
from research.trial import main as trial_main

TINY = ["stage1_seg.epochs=1", "stage1_seg.image_size=64", "stage1_seg.batch_size=2"]
LABELLED_PIXELS = 64 * 48 - 8 * 48  # a synthetic mask: 64 × 48, one 8-pixel stripe is 255 (ignored)


def test_four_folds_score_every_training_image_once(workdir, capsys):
    for k in range(4):
        code, _, err = run_main(capsys, trial_main, [f"a{k}", "stage1_seg", "--fold", k, "--threads", 1, *TINY])
        assert code == 0, err
    names = [f"a{k}" for k in range(4)]
    score = pool(names, workdir / "trials", workdir / "data")
    # 4 training images, each held out by exactly one fold; val: 4 images scored by each of 4 models
    assert score.held_out.sum() == 4 * LABELLED_PIXELS
    assert score.val.sum() == 4 * 4 * LABELLED_PIXELS
    # one trial pooled alone is the mIoU the trial recorded for its held-out quarter
    records = trial_records(workdir / "trials")
    alone = pool(["a2"], workdir / "trials", workdir / "data")
    assert np.isclose(miou_from_confusion(alone.held_out)[0], records[2]["metrics"]["seg"]["miou"])
    assert np.isclose(miou_from_confusion(alone.val)[0], records[2]["val"]["seg"]["miou"])

    code, out, err = run_main(capsys, pooled_main, [*names[:2], "--vs", *names[2:]])
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("| a")]
    assert rows[0].startswith("| a0, a1 |") and rows[1].startswith("| a2, a3 |")
    # classes by name; none that no image has and no model predicts
    assert "| person |" in out and "| aeroplane |" not in out


def test_trials_that_cannot_be_pooled_are_clear_errors(workdir, capsys):
    code, _, err = run_main(capsys, pooled_main, ["missing"])
    assert code == 2 and "trial 'missing': not in trials/results.jsonl" in err
    code, _, err = run_main(capsys, trial_main, ["whole", "stage1_seg", "--threads", 1, *TINY])
    assert code == 0, err
    code, _, err = run_main(capsys, pooled_main, ["whole"])
    assert code == 2 and "pooling needs fold trials" in err
    with open(workdir / "trials" / "results.jsonl", "a") as f:
        f.write("{not json\n")
    code, _, err = run_main(capsys, pooled_main, ["whole"])
    assert code == 2 and "results.jsonl, line 2: not JSON" in err


DET_TINY = [*TINY, "stage2_det.epochs=1", "stage2_det.image_size=64", "stage2_det.batch_size=2"]


def fold_pair(capsys, workdir, prefix: str, stage: str, start: str, overrides: list[str]) -> dict:
    """Trials PREFIX0 and PREFIX1 of `stage` on folds 0 and 1, from trial `start`; every record by name."""
    for k in (0, 1):
        code, _, err = run_main(capsys, trial_main, [f"{prefix}{k}", stage, "--start", start, "--fold", k,
                                                     "--threads", 1, *overrides])
        assert code == 0, err
    return {r["name"]: r for r in trial_records(workdir / "trials")}


def test_detection_trials_pool_into_one_cocoeval(workdir, capsys):
    code, _, err = run_main(capsys, trial_main, ["s1", "stage1_seg", "--threads", 1, *DET_TINY])
    assert code == 0, err
    records = fold_pair(capsys, workdir, "d", "stage2_det", "s1", DET_TINY)
    # one trial pooled alone scores what the trial recorded on its held-out quarter and on val
    alone = pool(["d1"], workdir / "trials", workdir / "data")
    assert alone.task == "det"
    assert pooled_scores("det", alone.held_out) == pytest.approx(records["d1"]["metrics"]["det"])
    assert pooled_scores("det", alone.val) == pytest.approx(records["d1"]["val"]["det"])
    # the same model twice: its val images count twice, each copy with its own boxes
    twice = pool(["d1", "d1"], workdir / "trials", workdir / "data")
    merged, boxes = merged_coco(twice.val)
    assert len(merged.imgs) == 2 * len(alone.val[0][1]) and len(boxes) == 2 * len(alone.val[0][2])

    code, out, err = run_main(capsys, pooled_main, ["d0", "--vs", "d1"])
    assert code == 0, err
    assert "| d0 | " in out and "pooled held-out AP / AP@0.5" in out
    # --task seg: the same trials' segmentation (after stage 2), on the held-out quarter of their fold
    seg_after = pool(["d1"], workdir / "trials", workdir / "data", task="seg")
    assert seg_after.task == "seg" and seg_after.val.sum() == 4 * LABELLED_PIXELS
    code, _, err = run_main(capsys, pooled_main, ["s1", "--task", "det"])
    assert code == 2 and "pooling needs fold trials" in err
    # a segmentation fold trial beside a detection one: each is scored on its own last task, so the
    # group mixes tasks and is refused (not silently scored on the first trial's task)
    code, _, err = run_main(capsys, trial_main, ["a0", "stage1_seg", "--fold", 0, "--threads", 1, *DET_TINY])
    assert code == 0, err
    code, _, err = run_main(capsys, pooled_main, ["a0", "d1"])
    assert code == 2 and "learnt different last tasks" in err


def one_image_coco(box: list[float]):
    """A COCO ground truth of one image (id 7) holding one object at `box` (x, y, w, h)."""
    from pycocotools.coco import COCO
    coco = COCO()
    coco.dataset = {"images": [{"id": 7, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "cat"}],
                    "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": box, "iscrowd": 0,
                                     "area": box[2] * box[3]}]}
    coco.createIndex()
    return coco


def test_merged_images_keep_their_own_objects_and_boxes():
    """Two models on the same image: one finds the object, the other nothing. Pooled, they are two
    images with one object each, one found: recall 1/2 at precision 1, AP 51/101 (COCO's 101 recall
    points up to 0.5). Had the copies shared an image, the miss would not count."""
    found = {"image_id": 7, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9}
    parts = [(one_image_coco([10, 10, 30, 30]), [7], [found]), (one_image_coco([10, 10, 30, 30]), [7], [])]
    merged, boxes = merged_coco(parts)
    assert sorted(merged.imgs) == [1, 2] and len(merged.anns) == 2 and len(set(merged.anns)) == 2
    assert [b["image_id"] for b in boxes] == [1]
    assert pooled_scores("det", parts) == pytest.approx({"map": 51 / 101, "map50": 51 / 101})
    assert pooled_scores("det", parts[:1]) == pytest.approx({"map": 1.0, "map50": 1.0})


CLS_TINY = [*DET_TINY, "stage3_cls.epochs=1", "stage3_cls.image_size=64", "stage3_cls.batch_size=2"]


def test_classification_trials_pool_correct_images(workdir, capsys):
    for name, stage, start in (("s1", "stage1_seg", []), ("s2", "stage2_det", ["--start", "s1"])):
        code, _, err = run_main(capsys, trial_main, [name, stage, *start, "--threads", 1, *CLS_TINY])
        assert code == 0, err
    records = fold_pair(capsys, workdir, "c", "stage3_cls", "s2", CLS_TINY)
    # one trial pooled alone scores the Top-1 the trial recorded on its held-out quarter and on val
    alone = pool(["c1"], workdir / "trials", workdir / "data")
    assert alone.task == "cls"
    assert pooled_scores("cls", alone.held_out)["top1"] == pytest.approx(records["c1"]["metrics"]["cls"]["top1"])
    assert pooled_scores("cls", alone.val)["top1"] == pytest.approx(records["c1"]["val"]["cls"]["top1"])
    # 8 training images (2 classes × 4): each fold holds out 2; val's 8 images count once per model
    both = pool(["c0", "c1"], workdir / "trials", workdir / "data")
    assert both.held_out[1] == 4 and both.val[1] == 16
    correct = sum(round(records[n]["metrics"]["cls"]["top1"] * 2) for n in ("c0", "c1"))
    assert pooled_scores("cls", both.held_out) == {"top1": correct / 4, "correct": correct, "images": 4}

    code, out, err = run_main(capsys, pooled_main, ["c0", "--vs", "c1"])
    assert code == 0, err
    assert "pooled held-out Top-1" in out and f"| c0 | {records['c0']['metrics']['cls']['top1']:.4f} (" in out
