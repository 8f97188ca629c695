"""What people and programs get from a checkpoint: readable class names and `predict --json`."""
import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from conftest import _jpeg, run_main
from onehead.checkpoint import TaskMemory, save_checkpoint
from onehead.data.datasets import class_names
from onehead.data.wordnet import imagenet_names, readable, readable_classes
from onehead.model.net import build_model
from onehead.predict import main as predict_main
from test_model import MODEL as ARCH


def test_wordnet_ids_read_as_english_and_other_names_pass_unchanged():
    assert readable("n03000684") == "chain saw" and readable("n01440764") == "tench"
    assert readable("n99999999") == "n99999999" and readable("person") == "person"
    names = imagenet_names()
    assert len(names) == 1000 and len(set(names.values())) == 1000  # the two shared lemmas are told apart
    assert readable("n02012849") == "crane (n02012849)"
    shown = readable_classes({"cls": ["n03000684", "mine"], "det": ["dog"]})
    assert shown == {"cls": ["chain saw", "mine"], "det": ["dog"]}


def save_checkpoint_of(path, data_root, learned):
    """An untrained (random head) checkpoint that claims to have learned `learned`: enough to check
    formats and messages, never scores."""
    classes = class_names(data_root)
    model = build_model(ARCH, classes)
    save_checkpoint(path, model, stage="stage3_cls", model_params=ARCH, classes=classes, learned=learned,
                    image_size={t: 64 for t in learned}, memory={t: TaskMemory(replay=[], fisher={}) for t in learned},
                    params={}, metrics={}, train_time_s={}, history={"train": [], "val": []}, world_size=1)
    return path


@pytest.fixture
def checkpoint(tmp_path, data_root):
    return save_checkpoint_of(tmp_path / "stage3_cls.pt", data_root, ["seg", "det", "cls"])


def test_predict_json_holds_coco_results_top3_and_a_palette_png(tmp_path, data_root, checkpoint, capsys):
    from pycocotools.coco import COCO

    val_image = next((data_root / "mini_coco_det" / "val" / "images").glob("*.jpg"))
    photo = tmp_path / "photos" / "photo.jpg"
    _jpeg(photo, size=(90, 70), seed=3)
    out_json = tmp_path / "pred" / "predictions.json"
    code, out, err = run_main(capsys, predict_main, ["--weights", checkpoint, "--data_root", data_root, "--out",
                                                tmp_path / "pred", "--json", out_json, val_image, photo])
    assert code == 0, err
    assert "class: tench" in out or "class: English springer" in out  # the data's wnids, read as names
    assert "has not learned" not in err
    result = json.loads(out_json.read_text())
    assert result["learned"] == ["seg", "det", "cls"]
    assert result["categories"] == [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]
    val_entry, photo_entry = result["images"]

    ann_file = data_root / "mini_coco_det" / "annotations" / "instances_val.json"
    known = {im["file_name"]: im["id"] for split in ("train", "val") for im in
             json.loads((ann_file.parent / f"instances_{split}.json").read_text())["images"]}
    assert val_entry["image_id"] == known[val_image.name]  # scores against the data's own annotation file
    assert photo_entry["image_id"] not in known.values()  # a photo of no annotation file: an id of none of theirs
    assert (photo_entry["width"], photo_entry["height"]) == (90, 70)

    detections = [d for entry in result["images"] for d in entry["detections"]]
    assert detections and {d["category_id"] for d in detections} <= {1, 18}
    for d in photo_entry["detections"]:
        x, y, w, h = d["bbox"]
        assert d["image_file"] == str(photo) and 0 <= x and x + w <= 90.01 and y + h <= 70.01 and w > 0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        loaded = gt.loadRes(val_entry["detections"])
    assert len(loaded.getAnnIds()) == len(val_entry["detections"])

    top = val_entry["classification"]  # top-3 of a 2-class dataset: both classes, all the probability
    assert {(t["class"], t["name"]) for t in top} == {("n01440764", "tench"), ("n02102040", "English springer")}
    assert top[0]["probability"] >= top[1]["probability"]
    assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-3)

    png = out_json.parent / photo_entry["segmentation_png"]
    with Image.open(png) as im:
        assert im.mode == "P" and im.size == (90, 70)
        assert im.getpalette()[:6] == [0, 0, 0, 128, 0, 0]  # VOC colours: background, aeroplane
        assert np.array(im).max() < 21
    assert (tmp_path / "pred" / "photo.png").is_file()


def test_predict_json_refuses_data_of_other_classes(tmp_path, data_root, checkpoint, capsys):
    ann = data_root / "mini_coco_det" / "annotations" / "instances_train.json"
    for path in ann.parent.glob("*.json"):
        data = json.loads(path.read_text())
        data["categories"][0]["name"] = "cyclist"
        path.write_text(json.dumps(data))
    photo = tmp_path / "photo.jpg"
    _jpeg(photo)
    code, _, err = run_main(capsys, predict_main, ["--weights", checkpoint, "--data_root", data_root, "--out",
                                              tmp_path / "pred", "--json", tmp_path / "p.json", photo])
    assert code == 2 and "instances_train.json: its categories ['cyclist', 'dog']" in err
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "pred").exists()
    code, _, err = run_main(capsys, predict_main, ["--weights", checkpoint, "--data_root", tmp_path / "none", "--json",
                                              tmp_path / "p.json", photo])
    assert code == 2 and "no instances_*.json" in err and "--data_root" in err


def test_predict_refuses_two_images_of_one_name(tmp_path, checkpoint, capsys):
    for folder in ("a", "b"):
        _jpeg(tmp_path / folder / "x.jpg")
    code, _, err = run_main(capsys, predict_main, ["--weights", checkpoint, "--out", tmp_path / "pred",
                                              tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg"])
    assert code == 2 and "b/x.jpg: same name as" in err and not (tmp_path / "pred").exists()
