"""Each DVC stage reads only the params it needs: a strategy comparison (`dvc exp run -S strategy...`)
re-runs stages 2 and 3 and leaves stage 1 and the single-task references cached."""
import yaml

from conftest import REPO

STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def reads(stage: str) -> list[str]:
    entry = STAGES[stage]
    return [p for p in (entry.get("do") or entry)["params"] if isinstance(p, str)]


def test_strategy_params_are_read_by_the_later_stages_only():
    assert "strategy" in reads("stage2_det") and "strategy" in reads("stage3_cls")
    for stage in ("stage1_seg", "reference"):
        assert not any(p.startswith("strategy") for p in reads(stage)), stage


def test_a_reference_reads_its_stage_settings_and_its_own_seed():
    assert "${item.stage}" in reads("reference") and "reference.seed" in reads("reference")
    assert "train" not in reads("reference")  # train.seed varies the pipeline only
