"""metrics/evaluate.json and metrics/reference.json from the stage and reference metrics (DESIGN §4)."""
import numpy as np
import pytest
import torch
from PIL import Image

from onehead.evaluation import latency_image, reference_summary, summarise

STAGES = {"stage1_seg": {"seg": {"miou": 0.60}, "train_time_s": 100.0, "peak_memory_gib": 2.5},
          "stage2_det": {"seg": {"miou": 0.60}, "det": {"map": 0.10, "map50": 0.25}, "train_time_s": 200.0,
                         "peak_memory_gib": 2.9},
          "stage3_cls": {"seg": {"miou": 0.58}, "det": {"map": 0.09, "map50": 0.26}, "cls": {"top1": 0.95},
                         "train_time_s": 50.0}}
REFERENCES = {"seg": {"seg": {"miou": 0.60}, "train_time_s": 100.0},
              "det": {"det": {"map": 0.12, "map50": 0.25}, "train_time_s": 210.0},
              "cls": {"cls": {"top1": 0.0}, "train_time_s": 40.0}}
FINAL = {"miou": 0.58, "map": 0.09, "map50": 0.26, "top1": 0.95}


def test_reference_summary_has_the_design_schema():
    ref = reference_summary(REFERENCES)
    assert ref == {"seg": {"miou": 0.60}, "det": {"map": 0.12, "map50": 0.25}, "cls": {"top1": 0.0},
                   "train_time_s": {"seg": 100.0, "det": 210.0, "cls": 40.0}}


def test_summary_drops_pass_and_final_over_reference():
    s = summarise(FINAL, STAGES, reference_summary(REFERENCES), {"total": 1}, {"cpu_512": 1.0}, 0.05)
    assert s["baseline"] == {"miou": 0.60, "map": 0.10, "map50": 0.25, "top1": 0.95}
    assert s["drop_rel_pct"]["miou"] == pytest.approx(3.3333, abs=1e-4)
    assert s["drop_rel_pct"]["map50"] == pytest.approx(-4.0)  # a gain is a negative drop
    assert s["pass"] == {"miou": True, "map": False, "top1": True, "all": False}  # AP lost 10 %
    assert s["reference"] == {"miou": 0.60, "map": 0.12, "map50": 0.25, "top1": 0.0}
    assert s["final_over_reference"] == {"miou": pytest.approx(0.9667, abs=1e-4), "map": 0.75, "map50": 1.04,
                                         "top1": None}  # no ratio against a zero reference
    assert s["train_time_s"] == {"stage1_seg": 100.0, "stage2_det": 200.0, "stage3_cls": 50.0, "total": 350.0,
                                 "references": 350.0}
    # stage 3's metrics predate the memory log: shown as absent, not as 0
    assert s["peak_memory_gib"] == {"stage1_seg": 2.5, "stage2_det": 2.9, "stage3_cls": None, "max": 2.9}


def test_latency_is_timed_on_the_first_val_photograph_squeezed_to_the_size(data_root):
    first = sorted((data_root / "mini_voc_seg/val/JPEGImages").glob("*.jpg"))[0]
    image = latency_image(data_root, 64)
    assert image.shape == (3, 64, 64) and image.dtype == torch.uint8
    expected = np.asarray(Image.open(first).convert("RGB").resize((64, 64), Image.BILINEAR)).transpose(2, 0, 1)
    assert np.abs(image.numpy().astype(int) - expected).mean() < 3  # the photograph, not noise
