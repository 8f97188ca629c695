"""The reference stages read every key of their stage's settings except those the reference
sets itself, so changing what a pipeline stage trains (a strategy comparison) leaves them cached."""
import pydantic
import pytest
import yaml

from conftest import REPO
from onehead.config import ReferenceSettings, StageParams

REFERENCE = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["reference"]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
OWN_KEYS = {name for name, field in ReferenceSettings.model_fields.items() if field.is_required()}


def stage_keys_read() -> set[str]:
    prefix = "${item.stage}."
    return {p[len(prefix):] for p in REFERENCE["do"]["params"] if isinstance(p, str) and p.startswith(prefix)}


def test_a_reference_reads_its_stage_keys_but_its_own():
    assert OWN_KEYS == {"trainable"}
    assert "${item.stage}" not in REFERENCE["do"]["params"]  # the whole group would include `trainable`
    assert stage_keys_read() == set(StageParams.model_fields) - OWN_KEYS


@pytest.mark.parametrize("task", ["seg", "det", "cls"])
def test_every_key_a_reference_reads_is_in_params(task):
    stage = REFERENCE["foreach"][task]["stage"]
    assert stage_keys_read() <= set(PARAMS[stage]), f"dvc needs every listed key in params.yaml's {stage}"
    assert PARAMS["reference"][task]["trainable"]


def test_a_reference_must_name_what_it_trains():
    with pytest.raises(pydantic.ValidationError, match="trainable"):
        ReferenceSettings.model_validate({"backbone_lr_scale": 0.1})
