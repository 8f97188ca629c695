"""TTFNet-style detection: target encoding, losses and decoding."""
import math

import torch

from onehead.model.net import STRIDE
from onehead.tasks.det import box_loss, boxes_from_raw, cell_centres, decode, encode_targets, focal_loss


def _perfect_outputs(targets):
    """Raw head outputs that reproduce the targets exactly: peak logits, and at every weighted cell
    the log distances to the sides of its box."""
    heat = torch.where(targets["heatmap"] == 1, torch.tensor(10.0), torch.tensor(-10.0))
    h, w = heat.shape[-2:]
    xs, ys = cell_centres(h, w)
    box = targets["box"]
    dist = torch.stack([xs - box[:, 0], ys - box[:, 1], box[:, 2] - xs, box[:, 3] - ys], dim=1)
    return heat, (dist.clamp(min=1e-3) / STRIDE).log()


def test_encode_decode_round_trip_in_original_coordinates():
    size = 128
    boxes = [torch.tensor([[10.0, 20.0, 60.0, 90.0], [70.0, 8.0, 120.0, 40.0]]), torch.zeros(0, 4)]
    labels = [torch.tensor([2, 0]), torch.zeros(0, dtype=torch.long)]
    t = encode_targets(boxes, labels, num_classes=3, feat_hw=(size // STRIDE, size // STRIDE))
    assert (t["weight"][0] > 0).sum() > 2 and t["weight"][1].sum() == 0  # several cells regress each box
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


def test_regression_weights_sum_to_log_area_per_box():
    box = torch.tensor([[8.0, 8.0, 72.0, 56.0]])  # 64 × 48 px
    t = encode_targets([box], [torch.tensor([0])], 1, (16, 16))
    assert math.isclose(t["weight"][0].sum().item(), math.log(64 * 48), rel_tol=1e-5)
    assert t["weight"][0].argmax() == 4 * 16 + 5  # the centre cell (row 4, column 5) weighs most


def test_regression_area_spans_beta_of_the_box_around_its_centre():
    box = torch.tensor([[0.0, 0.0, 80.0, 40.0]])  # 10 × 5 cells, centre cell (column 5, row 2)
    t = encode_targets([box], [torch.tensor([0])], 1, (16, 16))
    rows, cols = t["weight"][0].nonzero(as_tuple=True)
    # beta 0.8: within 0.8 × 10 / 2 = 4 columns and 0.8 × 5 / 2 = 2 rows of the centre cell
    assert (cols.min().item(), cols.max().item()) == (1, 9)
    assert (rows.min().item(), rows.max().item()) == (0, 4)
    assert torch.equal(t["box"][0][:, rows, cols], box[0][:, None].expand(4, len(rows)))


def test_heatmap_gaussian_spreads_alpha_of_the_box_side():
    box = torch.tensor([[0.0, 0.0, 80.0, 40.0]])  # 10 × 5 cells, centre cell (column 5, row 2)
    heat = encode_targets([box], [torch.tensor([0])], 1, (16, 16))["heatmap"][0, 0]
    sigma_x, sigma_y = 0.8 * 10 / 6, 0.8 * 5 / 6  # alpha 0.8
    assert heat[2, 5] == 1
    assert math.isclose(heat[2, 7].item(), math.exp(-2 ** 2 / (2 * sigma_x ** 2)), rel_tol=1e-5)
    assert math.isclose(heat[3, 5].item(), math.exp(-1 / (2 * sigma_y ** 2)), rel_tol=1e-5)


def test_box_loss_is_zero_for_perfect_boxes_and_grows_with_error():
    t = encode_targets([torch.tensor([[16.0, 16.0, 80.0, 48.0]])], [torch.tensor([0])], 1, (16, 16))
    _, box = _perfect_outputs(t)
    assert box_loss(box, t["box"], t["weight"]).item() < 1e-4
    assert box_loss(box + 0.3, t["box"], t["weight"]).item() > 0.01
    corners = boxes_from_raw(box)[0, :, 3, 5]
    assert torch.allclose(corners, torch.tensor([16.0, 16.0, 80.0, 48.0]), atol=1e-2)


def test_decode_keeps_only_local_maxima():
    heat = torch.full((1, 1, 8, 8), -10.0)
    heat[0, 0, 3, 3], heat[0, 0, 3, 4] = 5.0, 4.0  # neighbour is not a peak
    box = torch.zeros(1, 4, 8, 8)
    dets = decode(heat, box, (64, 64), [(64, 64)], max_det=2)
    assert dets[0]["scores"][0] > 0.99 and dets[0]["scores"][1] < 0.01


def test_decode_drops_a_second_peak_on_the_same_object_of_the_same_class():
    heat = torch.full((1, 2, 8, 8), -10.0)
    heat[0, 0, 3, 3], heat[0, 0, 3, 5] = 5.0, 4.0  # two peaks of class 0, two cells apart ...
    heat[0, 1, 3, 5] = 3.0                        # ... and one of class 1 where the second is
    box = torch.full((1, 4, 8, 8), math.log(4.0))  # every cell: a box 4 strides to each side (64 px)
    kept = decode(heat, box, (64, 64), [(64, 64)], max_det=3)[0]
    assert kept["labels"].tolist() == [0, 1]  # IoU of the clamped class-0 boxes 0.75 > 0.7: the weaker goes
    everything = decode(heat, box, (64, 64), [(64, 64)], max_det=3, nms_iou=None)[0]
    assert everything["labels"].tolist() == [0, 0, 1]


def test_focal_loss_prefers_correct_heatmaps():
    t = encode_targets([torch.tensor([[16.0, 16.0, 48.0, 48.0]])], [torch.tensor([0])], 2, (8, 8))
    good, _ = _perfect_outputs(t)
    bad = -good
    assert focal_loss(good, t["heatmap"]) < 0.05 < focal_loss(bad, t["heatmap"])


def test_small_box_wins_a_shared_cell():
    boxes = [torch.tensor([[0.0, 0.0, 64.0, 64.0], [28.0, 28.0, 36.0, 36.0]])]
    t = encode_targets(boxes, [torch.tensor([0, 1])], 2, (8, 8))
    assert torch.equal(t["box"][0, :, 4, 4], torch.tensor([28.0, 28.0, 36.0, 36.0]))
