"""Segmentation: the guided filter of decoding aligns a region's edge with the image's; the loss's label smoothing."""
import numpy as np
import torch
import torch.nn.functional as F

from onehead.model.head import ChannelLayout
from onehead.tasks import seg

LAYOUT = ChannelLayout(det_classes=1, seg_classes=2, cls_classes=2)


def two_region_case(size=128, edge=76, stride=8):
    """An image dark left of column `edge`, bright right of it, and head scores at stride 8 whose
    class-1 side starts at the middle cell instead: between the two, only the image knows the answer."""
    image = torch.full((3, size, size), 40, dtype=torch.uint8)
    image[:, :, edge:] = 210
    cells = size // stride
    out = torch.zeros(1, LAYOUT.total, cells, cells)
    ramp = torch.linspace(-4, 4, cells)  # class 1 more likely to the right, even at half the width
    out[0, LAYOUT.slices["seg"].start + 1] = ramp.expand(cells, cells)
    truth = np.zeros((size, size), dtype=np.int64)
    truth[:, edge:] = 1
    return out, image, truth


def test_guided_decoding_follows_the_image_edge_where_bilinear_upsampling_cannot():
    out, image, truth = two_region_case()
    bilinear = F.interpolate(out[:, LAYOUT.slices["seg"]], size=truth.shape, mode="bilinear",
                             align_corners=False)[0].argmax(0).numpy()
    guided = seg.predict(out, LAYOUT, image)
    assert guided.shape == truth.shape
    bilinear_error, guided_error = (bilinear != truth).mean(), (guided != truth).mean()
    assert bilinear_error > 0.08                  # the coarse scores alone put the edge 12 columns off
    assert guided_error < bilinear_error / 2      # the filter moves it most of the way to the image's edge


def test_guided_decoding_keeps_a_uniform_prediction_on_a_plain_image():
    out = torch.zeros(1, LAYOUT.total, 8, 8)
    out[0, LAYOUT.slices["seg"].start + 1] = 3.0
    image = torch.full((3, 60, 90), 128, dtype=torch.uint8)
    assert (seg.predict(out, LAYOUT, image) == 1).all()


def confident_loss(margin: float) -> float:
    """Segmentation's cross-entropy term for a mask of class 1 that the head scores `margin` above class 0."""
    out = torch.zeros(1, LAYOUT.total, 4, 4)
    out[0, LAYOUT.slices["seg"].start + 1] = margin
    batch = {"image": torch.zeros(1, 3, 32, 32), "mask": torch.ones(1, 32, 32, dtype=torch.long)}
    return float(seg.loss(out, batch, LAYOUT)["seg_ce"])


def test_label_smoothing_penalises_overconfident_right_answers():
    # Plain cross-entropy keeps falling as the right class's margin grows; smoothed, it has a finite
    # best margin, so a far more confident right answer costs more than a moderately confident one.
    assert confident_loss(30.0) > confident_loss(3.0) > 0.0
    assert confident_loss(30.0) > 0.5 * seg.LABEL_SMOOTHING * 30.0 * 0.9   # ≈ (ε/2)·margin for 2 classes
