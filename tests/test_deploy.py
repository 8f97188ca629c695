"""The deployed network (BatchNorms folded into convolutions) computes what the trained one does."""
import pytest
import torch
from torch import nn

from onehead.config import ModelParams
from onehead.deploy import assert_same_outputs, fold_batchnorm
from onehead.model.layers import TaskBatchNorm2d
from onehead.model.net import build_model

CLASSES = {"seg": [str(i) for i in range(21)], "det": ["a", "b", "c"], "cls": ["x", "y"]}
PARAMS = ModelParams(backbone="efficientnet_lite0", pretrained=False, head="shared", channels=8, kernels=[3, 1],
                     context_for=["seg", "cls"])
PROGRESSIVE = PARAMS.model_copy(update={"head": "progressive", "channels": {"seg": 8, "det": 8, "cls": 4}})


def trained_looking_model(seed=0):
    """Random BatchNorm statistics and affine weights, so folding them is not a no-op."""
    torch.manual_seed(seed)
    model = build_model(PARAMS, CLASSES).eval()
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.3, 0.3)
        for weight in model.head.out_context.weights.values():  # the context columns start at zero
            weight.uniform_(-1.0, 1.0)
    return model


def test_folded_network_has_no_batchnorm_and_the_same_outputs():
    model = trained_looking_model()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, (nn.BatchNorm2d, TaskBatchNorm2d)) for m in folded.modules())
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert expected.abs().max() > 0.1  # a non-trivial output to compare
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_the_trained_model_is_left_untouched():
    model = trained_looking_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fold_batchnorm(model)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_the_progressive_head_folds_too():
    torch.manual_seed(0)
    model = build_model(PROGRESSIVE, CLASSES).eval()
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_var.uniform_(0.5, 2.0)
                bn.bias.uniform_(-0.3, 0.3)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, (nn.BatchNorm2d, TaskBatchNorm2d)) for m in folded.modules())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-4, rtol=1e-4)


def test_a_network_that_differs_is_caught():
    model, other = trained_looking_model(0), fold_batchnorm(trained_looking_model(1))
    with pytest.raises(AssertionError, match="differs"):
        assert_same_outputs(model, other, 64)
    assert assert_same_outputs(model, fold_batchnorm(model), 64) < 1e-3
