"""report.md's tables and stage lines: one markdown helper, metric names from the catalog."""
from onehead.catalog import METRIC_LABEL, METRICS
from conftest import REPO
from onehead.config import load_params
import torch

from onehead.model.net import build_model
from onehead.report.build import resource_table, stage_summary, stage_table
from onehead.report.layers import layer_rows
from onehead.report.markdown import table
from test_model import CLASSES, MODEL, PROGRESSIVE


def test_layer_rows_describe_the_shared_layers_as_computed():
    torch.manual_seed(0)
    rows = {row[0]: row for row in layer_rows(build_model(MODEL, CLASSES))}
    assert rows["head.conv1"][1:3] == ["one 3×3 conv, 48 → 48 ch, groups = 1 + BatchNorm + ReLU", "every task"]
    assert rows["head.conv1"][3] == f"{48 * 48 * 9 + 2 * 48:,}"  # the conv and its BatchNorm's scale and shift
    assert rows["neck.lateral3"][1] == "one 1×1 conv, 1280 → 48 ch, groups = 1 (+ bias)"
    assert rows["head.out_conv [det]"][1:3] == ["1×1 conv rows, 48 ch → 14 ch", "det"]


def test_layer_rows_describe_the_progressive_groups():
    torch.manual_seed(0)
    rows = {row[0]: row for row in layer_rows(build_model(PROGRESSIVE, CLASSES))}
    assert rows["head.conv1 [det]"][1:3] == ["3×3 conv rows, 56 ch → 24 ch + BatchNorm + ReLU", "det"]  # seg 32 + det 24
    assert rows["head.conv1 [seg]"][1] == "3×3 conv rows, 32 ch → 32 ch + BatchNorm + ReLU"


def test_markdown_table_has_a_header_a_rule_and_one_line_per_row():
    assert table(["a", "b"], [[1, "x"], [2.5, None]]) == "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | None |"


def test_stage_table_names_metrics_from_the_catalog_and_marks_tasks_not_yet_learnt():
    stage = {"epochs": 3, "train_time_s": 12.5}
    metrics = {"stage1_seg": {**stage, "seg": {"miou": 0.5}, "peak_memory_gib": 2.5},
               "stage2_det": {**stage, "seg": {"miou": 0.5}, "det": {"map": 0.05, "map50": 0.2}},
               "stage3_cls": {**stage, "seg": {"miou": 0.5}, "det": {"map": 0.05, "map50": 0.2}, "cls": {"top1": 0.9}}}
    lines = stage_table(metrics).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["after", *(METRIC_LABEL[m] for m in METRICS), "epochs", "train time (s)", "peak memory (GiB)"]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in lines[2:]}
    assert rows["stage1_seg"] == ["0.5000", "—", "—", "—", "3", "12.5", "2.5"]
    assert rows["stage2_det"][-1] == "—"  # metrics written before peak memory was logged
    assert rows["stage2_det"][:4] == ["0.5000", "0.0500", "0.2000", "—"]
    assert rows["stage3_cls"][3] == "0.9000"


def evaluate_json(total_params: int = 1, cpu_ms: float = 90.0, peak: dict | None = None) -> dict:
    """The part of metrics/evaluate.json that the resources table reads."""
    return {"params": {"total": total_params, "backbone": 1, "neck": 0, "head": 0},
            "latency_ms": {"cpu_512": cpu_ms, "cuda_512": None},
            "train_time_s": {"stage1_seg": 1.0, "stage2_det": 2.0, "stage3_cls": 3.0, "total": 6.0, "references": 4.0},
            "peak_memory_gib": peak or {"max": 2.0}}


def test_resource_table_shows_peak_memory_and_a_dash_when_no_stage_logged_it():
    peak = {"stage1_seg": 2.48, "stage2_det": 1.65, "stage3_cls": 1.48, "max": 2.48}
    assert "| peak memory of a training stage | 2.48 GiB |" in resource_table(evaluate_json(peak=peak))
    unlogged = {"stage1_seg": None, "stage2_det": None, "stage3_cls": None, "max": None}
    assert "| peak memory of a training stage | — |" in resource_table(evaluate_json(peak=unlogged))


def test_resource_table_says_whether_params_and_latency_meet_the_spec():
    table = resource_table(evaluate_json(total_params=5_299_309, cpu_ms=149.5))
    assert "| 5,299,309 (within docs/spec.md §2's < 8 M) |" in table
    assert "| 149.5 ms (within docs/spec.md §2's ≤ 150 ms) |" in table
    table = resource_table(evaluate_json(total_params=8_000_000, cpu_ms=163.96))
    assert "| 163.96 ms (**over** docs/spec.md §2's ≤ 150 ms) |" in table
    assert "| 8,000,000 (**over** docs/spec.md §2's < 8 M) |" in table


def test_stage_summary_names_the_teacher_a_stage_distils():
    params = load_params(REPO / "params.yaml")
    cls = params.stage3_cls.model_copy(update={"imagenet_teacher": 2.5})
    assert stage_summary("stage3_cls", cls).endswith(
        f"{cls.image_size} px, batch {cls.batch_size}; distils Lite0's ImageNet classifier (weight 2.5)")
    assert "distils" not in stage_summary("stage2_det", params.stage2_det)


def test_stage_summary_names_copy_paste_when_a_stage_pastes_objects():
    params = load_params(REPO / "params.yaml")
    det = params.stage2_det.model_copy(update={"copy_paste": 0.5})
    assert stage_summary("stage2_det", det).endswith(f"batch {det.batch_size}; objects pasted into 50% of its images")
    assert "pasted" not in stage_summary("stage1_seg", params.stage1_seg)
