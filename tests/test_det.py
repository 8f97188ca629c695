"""CenterNet target encoding, loss and decoding."""
import math

import torch

from onehead.model.net import STRIDE
from onehead.tasks.det import decode, encode_targets, focal_loss


def _perfect_outputs(targets):
    """Raw head outputs that reproduce the targets exactly (logits of heatmap and offsets)."""
    heat = torch.where(targets["heatmap"] == 1, torch.tensor(10.0), torch.tensor(-10.0))
    box = targets["box"].clone()
    box[:, :2] = torch.logit(box[:, :2].clamp(1e-4, 1 - 1e-4))
    return heat, box


def test_encode_decode_round_trip_in_original_coordinates():
    size = 128
    boxes = [torch.tensor([[10.0, 20.0, 60.0, 90.0], [70.0, 8.0, 120.0, 40.0]]), torch.zeros(0, 4)]
    labels = [torch.tensor([2, 0]), torch.zeros(0, dtype=torch.long)]
    t = encode_targets(boxes, labels, num_classes=3, feat_hw=(size // STRIDE, size // STRIDE))
    assert t["centre"][0].sum() == 2 and t["centre"][1].sum() == 0
    assert t["heatmap"][0, 2].max() == 1 and t["heatmap"][0, 1].max() == 0
    heat, box = _perfect_outputs(t)
    orig = [(256, 512), (256, 512)]  # original H, W: boxes scale by (4, 2) in x, y
    dets = decode(heat, box, (size, size), orig, max_det=2)
    got = sorted(zip(dets[0]["labels"].tolist(), dets[0]["boxes"].tolist()))
    expected = [(0, [280.0, 16.0, 480.0, 80.0]), (2, [40.0, 40.0, 240.0, 180.0])]
    for (gl, gb), (el, eb) in zip(got, expected):
        assert gl == el
        assert all(math.isclose(a, b, abs_tol=0.5) for a, b in zip(gb, eb)), (gb, eb)
    assert (dets[0]["scores"] > 0.99).all()


def test_decode_keeps_only_local_maxima():
    heat = torch.full((1, 1, 8, 8), -10.0)
    heat[0, 0, 3, 3], heat[0, 0, 3, 4] = 5.0, 4.0  # neighbour is not a peak
    box = torch.zeros(1, 4, 8, 8)
    dets = decode(heat, box, (64, 64), [(64, 64)], max_det=2)
    assert dets[0]["scores"][0] > 0.99 and dets[0]["scores"][1] < 0.01


def test_focal_loss_prefers_correct_heatmaps():
    t = encode_targets([torch.tensor([[16.0, 16.0, 48.0, 48.0]])], [torch.tensor([0])], 2, (8, 8))
    good, _ = _perfect_outputs(t)
    bad = -good
    assert focal_loss(good, t["heatmap"]) < 0.05 < focal_loss(bad, t["heatmap"])


def test_small_box_wins_a_shared_cell():
    boxes = [torch.tensor([[0.0, 0.0, 64.0, 64.0], [28.0, 28.0, 36.0, 36.0]])]
    t = encode_targets(boxes, [torch.tensor([0, 1])], 2, (8, 8))
    assert math.isclose(t["box"][0, 2, 4, 4].exp().item(), 1.0, rel_tol=1e-5)  # the 8-px box, 1 cell wide
