"""What each training run trains: the pipeline stages and the single-task references the network of
params.yaml; a reference has its own seed, so the yardsticks stay put while the pipeline's seed varies."""
from onehead.catalog import STAGE_INFO
from onehead.config import load_params
from onehead.stage import pipeline_run, reference_run

DEFAULTS = load_params("params.yaml")
SEED_3 = DEFAULTS.model_copy(update={"train": DEFAULTS.train.model_copy(update={"seed": 3})})


def test_pipeline_stages_and_references_train_the_configured_network():
    assert all(pipeline_run(stage, DEFAULTS).model == DEFAULTS.model for stage in STAGE_INFO)
    assert all(reference_run(task, DEFAULTS).model == DEFAULTS.model for task in ("seg", "det", "cls"))


def test_a_reference_keeps_its_own_seed():
    assert pipeline_run("stage2_det", SEED_3).seed == 3
    assert reference_run("det", SEED_3).seed == DEFAULTS.reference.seed == 0
    assert reference_run("det", SEED_3).settings == SEED_3.stage2_det
