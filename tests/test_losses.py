"""The soft Jaccard loss of segmentation against its one-hot definition and hand-made cases."""
import torch
import torch.nn.functional as F

from onehead.losses import soft_jaccard

IGNORE = 255


def one_hot_jaccard(logits, target):
    """The textbook formula over one-hot masks, for comparison."""
    valid = (target != IGNORE)[:, None]
    prob = logits.softmax(1) * valid
    onehot = F.one_hot(torch.where(valid[:, 0], target, 0), logits.shape[1]).permute(0, 3, 1, 2) * valid
    inter = (prob * onehot).sum((0, 2, 3))
    union = (prob + onehot).sum((0, 2, 3)) - inter
    present = onehot.sum((0, 2, 3)) > 0
    return 1 - (inter[present] / union[present]).mean()


def test_soft_jaccard_equals_the_one_hot_formula():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 6, 7, generator=gen)
    target = torch.randint(0, 4, (2, 6, 7), generator=gen)  # class 4 absent: not averaged
    target[0, :2] = IGNORE
    assert torch.allclose(soft_jaccard(logits, target, IGNORE), one_hot_jaccard(logits, target), atol=1e-6)


def test_soft_jaccard_is_zero_when_right_and_one_when_wrong():
    target = torch.tensor([[[0, 1], [1, IGNORE]]])
    right = 50.0 * F.one_hot(target.clamp_max(2), 3).permute(0, 3, 1, 2).float()
    assert soft_jaccard(right, target, IGNORE) < 1e-6
    wrong = 50.0 * F.one_hot((target + 1) % 3, 3).permute(0, 3, 1, 2).float()
    wrong[0, :, 1, 1] = right[0, :, 1, 1]  # the ignored pixel may say anything
    assert soft_jaccard(wrong, target, IGNORE) > 1 - 1e-6


def test_soft_jaccard_weighs_classes_not_pixels():
    """A missed small class costs as much as a missed large one (cross-entropy disagrees)."""
    target = torch.zeros(1, 10, 10, dtype=torch.long)
    target[0, 0, 0] = 1
    miss_small = 50.0 * F.one_hot(torch.zeros_like(target), 2).permute(0, 3, 1, 2).float()
    loss = soft_jaccard(miss_small, target, IGNORE)
    assert abs(loss.item() - (1 - (99 / 100) / 2)) < 1e-4
    assert F.cross_entropy(miss_small, target) < 0.6


def test_soft_jaccard_of_only_ignored_pixels_is_zero_with_a_gradient():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = soft_jaccard(logits, torch.full((1, 4, 4), IGNORE), IGNORE)
    loss.backward()
    assert loss.item() == 0 and logits.grad is not None
