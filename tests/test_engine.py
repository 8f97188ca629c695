"""The training engine's scoring: it must not disturb the training run it is called from."""
import torch

from onehead.data.datasets import class_names
from onehead.engine import score_tasks
from onehead.model.net import build_model
from test_model import MODEL


def test_scoring_leaves_the_global_random_stream_untouched(data_root):
    """Evaluating every few epochs must not shift the augmentation draws that follow it, or `eval_every`
    would change what a stage learns."""
    model = build_model(MODEL, class_names(data_root))
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    scores = score_tasks(model, ["seg", "det", "cls"], {"seg": 64, "det": 64, "cls": 64}, data_root, "val", "cpu")
    assert set(scores) == {"seg", "det", "cls"} and 0 <= scores["cls"]["top1"] <= 1
    assert torch.equal(torch.rand(4), expected)
