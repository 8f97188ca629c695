"""Bad data is refused with a message naming the file and the problem."""
import json
import re

import numpy as np
import pytest
import yaml
from PIL import Image

from onehead.data.download import main as main_download
from onehead.errors import DataError
from onehead.data.validate import validate_data_root
from conftest import REPO, _mask, write_manifest


def test_clean_root_passes(data_root):
    validate_data_root(data_root)


def _ann(data_root, split="train"):
    path = data_root / "mini_coco_det" / "annotations" / f"instances_{split}.json"
    return path, json.loads(path.read_text())


def _break_truncated_jpeg(root):
    path = next((root / "mini_voc_seg" / "train" / "JPEGImages").glob("*.jpg"))
    path.write_bytes(path.read_bytes()[:200])
    return path.name, "not a readable image"


def _break_non_image(root):
    path = root / "imagenette_160" / "train" / "n01440764" / "notes.JPEG"
    path.write_text("hello")
    return "notes.JPEG", "not a readable image"


def _break_mask_values(root):
    path = next((root / "mini_voc_seg" / "val" / "SegmentationClass").glob("*.png"))
    _mask(path, [0, 42])
    return path.name, r"mask values \[42\]"


def _break_mask_size(root):
    path = next((root / "mini_voc_seg" / "train" / "SegmentationClass").glob("*.png"))
    _mask(path, [0, 1], size=(32, 32))
    return path.name, "differs from its image size"


def _break_mask_mode(root):
    path = next((root / "mini_voc_seg" / "train" / "SegmentationClass").glob("*.png"))
    Image.fromarray(np.zeros((48, 64, 3), dtype=np.uint8)).save(path)
    return path.name, "palette"


def _break_coco_keys(root):
    path, data = _ann(root)
    del data["categories"]
    path.write_text(json.dumps(data))
    return path.name, "lacks key"


def _break_negative_bbox(root):
    path, data = _ann(root)
    data["annotations"][0]["bbox"][2] = -5
    path.write_text(json.dumps(data))
    return path.name, "non-positive size"


def _break_unknown_category(root):
    path, data = _ann(root)
    data["annotations"][0]["category_id"] = 99
    path.write_text(json.dumps(data))
    return path.name, "category_id 99 not in categories"


def _break_repeated_annotation_id(root):
    path, data = _ann(root)
    data["annotations"][1]["id"] = data["annotations"][0]["id"]
    path.write_text(json.dumps(data))
    return path.name, f"'annotations' repeats id {data['annotations'][0]['id']}"


def _break_image_without_id(root):
    path, data = _ann(root, "val")
    del data["images"][0]["id"]
    path.write_text(json.dumps(data))
    return path.name, "an entry of 'images' lacks 'id'"


def _break_repeated_image_id(root):
    path, data = _ann(root, "val")
    data["images"][1]["id"] = data["images"][0]["id"]
    path.write_text(json.dumps(data))
    return path.name, f"'images' repeats id {data['images'][0]['id']}"


def _break_missing_image_ref(root):
    path, data = _ann(root)
    data["annotations"][0]["image_id"] = 424242
    path.write_text(json.dumps(data))
    return path.name, "missing image id 424242"


def _break_missing_image_file(root):
    path, data = _ann(root, "val")
    (root / "mini_coco_det" / "val" / "images" / data["images"][0]["file_name"]).unlink()
    return path.name, "not found"


def _break_malformed_json(root):
    path, _ = _ann(root)
    path.write_text("{not json")
    return path.name, "malformed JSON"


def _break_empty_class(root):
    (root / "imagenette_160" / "val" / "n99999999").mkdir()
    return "n99999999", "empty class folder"


def _break_unexpected_folder(root):
    folder = root / "imagenette_160" / "train" / "n12345678"
    folder.mkdir()
    (root / "imagenette_160" / "train" / "n01440764" / "n01440764_train0.JPEG").rename(folder / "x.JPEG")
    return "n12345678", "class folders differ"


def _break_stray_file(root):
    (root / "imagenette_160" / "val" / "README.txt").write_text("x")
    return "README.txt", "unexpected file"


BREAKERS = [_break_truncated_jpeg, _break_non_image, _break_mask_values, _break_mask_size, _break_mask_mode,
            _break_coco_keys, _break_negative_bbox, _break_unknown_category, _break_repeated_annotation_id,
            _break_image_without_id, _break_repeated_image_id, _break_missing_image_ref,
            _break_missing_image_file, _break_malformed_json, _break_empty_class, _break_unexpected_folder,
            _break_stray_file]


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda f: f.__name__.removeprefix("_break_"))
def test_bad_data_is_named(data_root, breaker):
    name, problem = breaker(data_root)
    with pytest.raises(DataError, match=problem) as err:
        validate_data_root(data_root)
    assert name in str(err.value)


# an empty folder holds no manifest file, so it never reaches the download's output
FILE_BREAKERS = [b for b in BREAKERS if b is not _break_empty_class]


@pytest.mark.parametrize("breaker", FILE_BREAKERS, ids=lambda f: f.__name__.removeprefix("_break_"))
def test_download_stage_exits_2_and_writes_nothing(tmp_path, data_root, breaker, monkeypatch, capsys):
    """The same cases through the download stage's CLI: exit 2, `error:` naming the file, no data/."""
    name, problem = breaker(data_root)
    manifest = write_manifest(data_root, tmp_path / "MANIFEST.sha256")  # hashes match: validation must catch it
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(root=str(tmp_path / "out"), mirror=str(data_root), manifest=str(manifest),
                          source="mirror", subset=0)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ONEHEAD_MIRROR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main_download()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("download: error:") and name in err and re.search(problem, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MANIFEST.sha256", "data", "params.yaml"]
