"""Copy-paste for detection: which objects may be pasted, what a pasted object covers, and the boxes left."""
from __future__ import annotations

import json

import pytest
import torch

from onehead.data import copy_paste
from onehead.data.copy_paste import CopyPaste, ObjectBank, Piece, mask_box, paste_objects, place
from onehead.data.datasets import build_dataset, build_training_set
from onehead.data.transforms import train_transform
from tests.conftest import make_data_root


def _polygon_root(tmp_path):
    """Two 80 × 60 training images: a person rectangle, a dog too small to paste and a crowd in the
    first; a dog triangle in the second."""
    root = make_data_root(tmp_path / "data", n=2)
    ann_path = root / "mini_coco_det" / "annotations" / "instances_train.json"
    coco = json.loads(ann_path.read_text())
    coco["annotations"] = [
        {"id": 1, "image_id": 1000, "category_id": 1, "bbox": [10.0, 12.0, 30.0, 20.0], "area": 600.0, "iscrowd": 0,
         "segmentation": [[10, 12, 40, 12, 40, 32, 10, 32]]},
        {"id": 2, "image_id": 1000, "category_id": 18, "bbox": [50.0, 40.0, 8.0, 8.0], "area": 64.0, "iscrowd": 0,
         "segmentation": [[50, 40, 58, 40, 58, 48, 50, 48]]},
        {"id": 3, "image_id": 1000, "category_id": 1, "bbox": [0.0, 0.0, 20.0, 20.0], "area": 400.0, "iscrowd": 1,
         "segmentation": {"counts": [0, 400], "size": [60, 80]}},
        {"id": 4, "image_id": 1001, "category_id": 18, "bbox": [40.0, 20.0, 20.0, 20.0], "area": 200.0, "iscrowd": 0,
         "segmentation": [[40, 20, 60, 40, 40, 40]]},
    ]
    ann_path.write_text(json.dumps(coco))
    return root


def test_the_bank_holds_outlined_objects_large_enough_and_cuts_them_along_the_outline(tmp_path):
    dataset = build_dataset("det", _polygon_root(tmp_path), "train")
    bank = ObjectBank(dataset)
    objects = {label: [(index, ann["id"]) for index, ann in held] for label, held in bank.by_label.items()}
    assert objects == {0: [(0, 1)], 1: [(1, 4)]}  # not the 8-px dog, not the crowd
    piece = bank.cut(*bank.by_label[1][0])
    assert piece.label == 1 and piece.mask.shape == (20, 20)
    assert 150 < int(piece.mask.sum()) < 300  # a triangle of 200 px², not its box
    assert piece.mask[-1].all() and not piece.mask[0, -1]
    image, _ = dataset.raw(1)
    assert torch.equal(piece.pixels, image[:, 20:40, 40:60].as_subclass(torch.Tensor))


def _box_masks(boxes, height=60, width=80):
    masks = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes):
        mask[y0:y1, x0:x1] = True
    return masks


def test_pasting_covers_the_pixels_shrinks_half_hidden_boxes_and_drops_hidden_objects(monkeypatch):
    from torchvision import tv_tensors
    boxes = [[10, 12, 40, 32], [50, 10, 70, 30]]
    target = {"boxes": tv_tensors.BoundingBoxes(torch.tensor(boxes, dtype=torch.float32), format="XYXY",
                                                canvas_size=(60, 80)),
              "labels": torch.tensor([0, 1])}
    covers = iter([(0, 25), (45, 80)])  # the columns each piece covers, all rows

    def fake_place(piece, height, width):
        x0, x1 = next(covers)
        mask = torch.zeros(height, width, dtype=torch.bool)
        mask[:, x0:x1] = True
        return torch.full((3, height, width), 200, dtype=torch.uint8), mask
    monkeypatch.setattr(copy_paste, "place", fake_place)
    pieces = [Piece(torch.zeros(3, 1, 1, dtype=torch.uint8), torch.ones(1, 1, dtype=torch.bool), label) for label in (1, 0)]
    image, out = paste_objects(torch.zeros(3, 60, 80, dtype=torch.uint8), target, _box_masks(boxes), pieces)
    assert (image[:, :, :25] == 200).all() and (image[:, :, 25:45] == 0).all() and (image[:, :, 45:] == 200).all()
    # the person keeps its right half (50 % visible); the second object is hidden whole and dropped
    assert out["boxes"].tolist() == [[25, 12, 40, 32], [0, 0, 25, 60], [45, 0, 80, 60]]
    assert out["labels"].tolist() == [0, 1, 0]
    assert out["boxes"].canvas_size == (60, 80)


def test_an_object_hidden_past_the_visible_share_is_dropped(monkeypatch):
    from torchvision import tv_tensors
    target = {"boxes": tv_tensors.BoundingBoxes(torch.tensor([[0.0, 0.0, 10.0, 10.0]]), format="XYXY",
                                                canvas_size=(60, 80)), "labels": torch.tensor([0])}
    mask = torch.zeros(60, 80, dtype=torch.bool)
    mask[:, :8] = True  # 80 % of the object
    monkeypatch.setattr(copy_paste, "place", lambda piece, h, w: (torch.zeros(3, h, w, dtype=torch.uint8), mask))
    piece = Piece(torch.zeros(3, 1, 1, dtype=torch.uint8), torch.ones(1, 1, dtype=torch.bool), 1)
    _, out = paste_objects(torch.zeros(3, 60, 80, dtype=torch.uint8), target, _box_masks([[0, 0, 10, 10]]), [piece])
    assert out["labels"].tolist() == [1]


def test_a_placed_piece_is_rescaled_within_bounds_and_fits_the_canvas():
    torch.manual_seed(0)
    small = Piece(torch.full((3, 10, 20), 7, dtype=torch.uint8), torch.ones(10, 20, dtype=torch.bool), 0)
    for _ in range(20):
        pixels, mask = place(small, 60, 80)
        x0, y0, x1, y1 = mask_box(mask)
        assert 5 <= y1 - y0 <= 15 and 10 <= x1 - x0 <= 30  # the random factor within SCALE
        assert (pixels[:, mask] == 7).all() and (pixels[:, ~mask] == 0).all()
    big = Piece(torch.ones(3, 120, 200, dtype=torch.uint8), torch.ones(120, 200, dtype=torch.bool), 0)
    pixels, mask = place(big, 60, 80)
    assert mask.shape == (60, 80) and mask.any()
    x0, y0, x1, y1 = mask_box(mask)
    assert x1 - x0 <= 80 and y1 - y0 <= 60 and (x1 - x0 == 80 or y1 - y0 == 60)  # shrunk just to fit


def test_copy_paste_training_set_pastes_reproducibly_and_not_at_probability_zero(tmp_path):
    root = _polygon_root(tmp_path)
    plain = build_dataset("det", root, "train")
    never = build_training_set("det", root, None, copy_paste=0.0)
    assert not isinstance(never, CopyPaste) and torch.equal(never[0]["image"], plain[0]["image"])

    def sample(seed):
        torch.manual_seed(seed)
        return build_training_set("det", root, None, copy_paste=1.0)[0]
    first, again = sample(3), sample(3)
    assert not torch.equal(first["image"], plain[0]["image"])  # something was pasted
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["boxes"], again["boxes"])
    boxes = first["boxes"]
    assert len(boxes) >= 1 and (boxes[:, 2:] <= torch.tensor([80, 60])).all() and (boxes[:, :2] >= 0).all()
    with_transform = build_training_set("det", root, train_transform("det", 64), copy_paste=1.0)[1]
    assert with_transform["image"].shape == (3, 64, 64) and with_transform["image"].dtype == torch.float32


def test_copy_paste_is_for_detection_only():
    from onehead.config import validate
    from onehead.errors import ConfigError
    from tests.test_config import _with
    with pytest.raises(ConfigError, match=r"stage1_seg\.copy_paste: only detection pastes objects"):
        validate(_with("stage1_seg", "copy_paste", 0.5), "params.yaml")


def test_an_unreadable_outline_is_named_with_its_file_and_annotation(tmp_path):
    from onehead.errors import DataError
    root = _polygon_root(tmp_path)
    ann_path = root / "mini_coco_det" / "annotations" / "instances_train.json"
    coco = json.loads(ann_path.read_text())
    coco["annotations"][0]["segmentation"] = [[10, 12]]  # one point: no polygon
    ann_path.write_text(json.dumps(coco))
    with pytest.raises(DataError, match=r"instances_train\.json: annotation 1: unreadable segmentation"):
        build_dataset("det", root, "train").object_masks(0)
