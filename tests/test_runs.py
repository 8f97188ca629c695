"""What each training run trains: the pipeline stages the network of params.yaml, a single-task
reference the same network with its own task never isolated."""
from onehead.catalog import STAGE_INFO
from onehead.config import load_params
from onehead.stage import pipeline_run, reference_run

PARAMS = load_params("params.yaml")


def test_pipeline_stages_train_the_configured_network():
    isolated = PARAMS.model.model_copy(update={"isolated": ["det"]})
    params = PARAMS.model_copy(update={"model": isolated})
    assert all(pipeline_run(stage, params).model == isolated for stage in STAGE_INFO)


def test_a_reference_may_use_every_channel_for_its_task():
    """Alone, detection reads segmentation's groups too (and trains them); the other references
    keep the configured network, so stage 1 can still adopt the segmentation reference."""
    params = PARAMS.model_copy(update={"model": PARAMS.model.model_copy(update={"isolated": ["det"]})})
    assert reference_run("det", params).model.isolated == []
    assert reference_run("seg", params).model == params.model
    assert reference_run("cls", params).model == params.model
