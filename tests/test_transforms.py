"""Eval transforms: dense tasks see the whole image, classification its centre at true proportions."""
from types import SimpleNamespace

import torch

from onehead.data.transforms import eval_transform
from onehead.inference import predict_image
from onehead.model.head import ChannelLayout


def wide_image_with_red_left_edge() -> torch.Tensor:
    """100 × 200 px, black but for a red band over the left quarter."""
    image = torch.zeros(3, 100, 200, dtype=torch.uint8)
    image[0, :, :50] = 255
    return image


def test_classification_is_scored_on_the_centre_crop_and_dense_tasks_on_the_whole_image():
    image = wide_image_with_red_left_edge()
    cls_view = eval_transform("cls", 64)(image)
    assert cls_view.shape == (3, 64, 64) and cls_view.dtype == torch.float32
    # shorter side 100 → 73 px (64 / 0.875), width 146; the centre 64 columns miss the band (0–36 px)
    assert cls_view[0].max() < 0.01
    for task in ("seg", "det"):
        whole = eval_transform(task, 64)(image)
        assert whole.shape == (3, 64, 64)
        assert whole[0, :, :15].min() > 0.99 and whole[0, :, 17:].max() < 0.01  # squeezed: band = first 16 cols


class RedMeter(torch.nn.Module):
    """Stands in for the network: its class scores grow with the red in the image it is shown."""

    def __init__(self, layout: ChannelLayout):
        super().__init__()
        self.layout = layout

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(images.shape[0], self.layout.total, images.shape[-2] // 8, images.shape[-1] // 8)
        cls = self.layout.slices["cls"]
        red = images[:, 0].mean(dim=(1, 2))
        out[:, cls] = (red[:, None] * torch.arange(cls.stop - cls.start))[:, :, None, None]
        return out


def test_predict_classifies_the_centre_crop():
    ckpt = SimpleNamespace(image_size={"seg": 64, "det": 64, "cls": 64})
    top3 = predict_image(RedMeter(ChannelLayout(det_classes=2, seg_classes=3, cls_classes=4)), ckpt,
                         wide_image_with_red_left_edge())["top3"]
    assert [p for _, p in top3] == [0.25] * 3  # no red in the centre: every class equally likely
