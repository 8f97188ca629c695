"""`python -m onehead.pooled`: one confusion matrix over the held-out quarters of four fold trials."""
import numpy as np

from conftest import run_main
from onehead.metrics import miou_from_confusion
from onehead.pooled import main as pooled_main
from onehead.pooled import pool, trial_records
from onehead.trial import main as trial_main

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
