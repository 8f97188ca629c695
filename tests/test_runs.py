"""What each training run trains: the pipeline stages the network of params.yaml, a single-task
reference the same network with its own task never isolated."""
from onehead.catalog import STAGE_INFO
from onehead.config import load_params
from onehead.stage import pipeline_run, reference_run

DEFAULTS = load_params("params.yaml")
DET_ISOLATED = DEFAULTS.model_copy(update={"model": DEFAULTS.model.model_copy(update={"isolated": ["det"]})})


def test_pipeline_stages_train_the_configured_network():
    assert all(pipeline_run(stage, DET_ISOLATED).model == DET_ISOLATED.model for stage in STAGE_INFO)


def test_a_reference_may_use_every_channel_for_its_task():
    """Alone, detection reads segmentation's groups too (and trains them); the other references
    keep the configured network, so stage 1 can still adopt the segmentation reference."""
    assert reference_run("det", DET_ISOLATED).model.isolated == []
    assert reference_run("seg", DET_ISOLATED).model == DET_ISOLATED.model
    assert reference_run("cls", DET_ISOLATED).model == DET_ISOLATED.model
