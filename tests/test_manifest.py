"""`python -m onehead.data.manifest DIR`: your own data folder, its variant layouts, and bad folders."""
import json
import re
import shutil

import pytest

from conftest import make_data_root, run_main
from onehead.data.datasets import class_names
from onehead.data.fetch import download, read_manifest
from onehead.data.manifest import main as manifest_main
from test_validate import _break_mask_values, _break_truncated_jpeg, _break_unknown_category

OTHER_CLASSES = ["cat", "car", "kite", "apple", "chair", "clock", "vase", "boat", "horse", "pizza"]


def use_other_coco_classes(root):
    """A 10-class mini COCO of other classes, category ids 0–9 (0 is a valid COCO id)."""
    for split in ("train", "val"):
        path = root / "mini_coco_det" / "annotations" / f"instances_{split}.json"
        data = json.loads(path.read_text())
        data["categories"] = [{"id": i, "name": name, "supercategory": "thing"} for i, name in enumerate(OTHER_CLASSES)]
        for k, ann in enumerate(data["annotations"]):
            ann["category_id"] = k % 3  # ids 0, 1, 2 occur
        path.write_text(json.dumps(data))
    return root


def to_coco_flat_variant(root):
    """COCO images directly in train/ and val/ instead of train/images/ and val/images/."""
    for split in ("train", "val"):
        images = root / "mini_coco_det" / split / "images"
        for f in images.iterdir():
            f.rename(images.parent / f.name)
        images.rmdir()
    return root


def to_voc_devkit_variant(root):
    """VOC as one JPEGImages/ + SegmentationClass/ with ImageSets/Segmentation/{train,val}.txt."""
    seg = root / "mini_voc_seg"
    (seg / "ImageSets" / "Segmentation").mkdir(parents=True)
    for split in ("train", "val"):
        ids = []
        for kind in ("JPEGImages", "SegmentationClass"):
            (seg / kind).mkdir(exist_ok=True)
            for f in sorted((seg / split / kind).iterdir()):
                f.rename(seg / kind / f.name)
                ids.append(f.stem)
        (seg / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(sorted(set(ids))) + "\n")
        shutil.rmtree(seg / split)
    return root


def listing(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def run_manifest(capsys, *args):
    """The command's exit code (0 on success), stdout and stderr."""
    return run_main(capsys, manifest_main, args)


def test_spec_layout_gets_a_manifest_the_download_stage_accepts(tmp_path, capsys):
    root = make_data_root(tmp_path / "mine")
    code, out, _ = run_manifest(capsys, root)
    assert code == 0
    manifest = root / "MANIFEST.sha256"
    assert f"dvc exp run -S data.mirror={root} -S data.manifest={manifest}" in out
    files = download(tmp_path / "data", manifest, "mirror", str(root))
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p != manifest)
    assert sorted(files) == on_disk == sorted(read_manifest(manifest))


def test_other_coco_classes_with_id_0_keep_their_names_and_ids(tmp_path, capsys):
    root = use_other_coco_classes(make_data_root(tmp_path / "mine"))
    code, out, _ = run_manifest(capsys, root)
    assert code == 0 and "detection: 10 classes (cat, car, kite" in out
    download(tmp_path / "data", root / "MANIFEST.sha256", "mirror", str(root))
    assert class_names(tmp_path / "data")["det"] == OTHER_CLASSES
    ann = json.loads((tmp_path / "data" / "mini_coco_det" / "annotations" / "instances_val.json").read_text())
    assert {a["category_id"] for a in ann["annotations"]} == {0, 1, 2}


@pytest.mark.parametrize("variant, moved_from, moved_to", [
    (to_coco_flat_variant, "mini_coco_det/train/", "mini_coco_det/train/images/"),
    (to_voc_devkit_variant, "mini_voc_seg/JPEGImages/", "mini_voc_seg/train/JPEGImages/"),
], ids=["coco_images_in_split_folder", "voc_devkit_lists"])
def test_variant_layout_is_reported_then_converted_on_request(tmp_path, capsys, variant, moved_from, moved_to):
    root = variant(make_data_root(tmp_path / "mine"))
    before = listing(root)
    code, _, err = run_manifest(capsys, root)
    assert code == 2 and err.startswith("manifest: error:")
    assert f"from {root}/{moved_from} to {root}/{moved_to}" in err and "--convert" in err, err
    assert listing(root) == before  # nothing moved, no manifest written

    code, out, _ = run_manifest(capsys, root, "--convert")
    assert code == 0 and f"to {root}/{moved_to}" in out
    download(tmp_path / "data", root / "MANIFEST.sha256", "mirror", str(root))
    reference = make_data_root(tmp_path / "reference")
    assert listing(tmp_path / "data") == listing(reference)
    assert run_manifest(capsys, root)[0] == 0  # converted: a second run has nothing to move


def _no_lists(root):
    (root / "mini_voc_seg" / "ImageSets" / "Segmentation" / "val.txt").unlink()
    return "val.txt", "missing; a VOC folder with one JPEGImages/ needs the lists"


def _id_in_both_lists(root):
    lists = root / "mini_voc_seg" / "ImageSets" / "Segmentation"
    (lists / "val.txt").write_text((lists / "val.txt").read_text() + "2007_train000\n")
    return "Segmentation", r"1 id\(s\) in both train.txt and val.txt, e.g. 2007_train000"


def _listed_image_missing(root):
    (root / "mini_voc_seg" / "SegmentationClass" / "2007_val001.png").unlink()
    return "val.txt", "lists 2007_val001, but .*2007_val001.png is missing"


@pytest.mark.parametrize("breaker", [_no_lists, _id_in_both_lists, _listed_image_missing],
                         ids=lambda f: f.__name__.strip("_"))
def test_broken_voc_devkit_variant_is_named(tmp_path, capsys, breaker):
    root = to_voc_devkit_variant(make_data_root(tmp_path / "mine"))
    name, problem = breaker(root)
    before = listing(root)
    code, _, err = run_manifest(capsys, root, "--convert")
    assert code == 2 and name in err and re.search(problem, err), err
    assert listing(root) == before


@pytest.mark.parametrize("breaker", [_break_truncated_jpeg, _break_mask_values, _break_unknown_category],
                         ids=lambda f: f.__name__.removeprefix("_break_"))
def test_bad_content_is_named_with_the_download_stage_messages(tmp_path, capsys, breaker):
    root = make_data_root(tmp_path / "mine")
    name, problem = breaker(root)
    code, _, err = run_manifest(capsys, root)
    assert code == 2 and err.startswith("manifest: error:") and name in err
    assert re.search(problem, err), err
    assert not (root / "MANIFEST.sha256").exists()


def test_missing_folders_are_named(tmp_path, capsys):
    code, _, err = run_manifest(capsys, tmp_path / "nowhere")
    assert code == 2 and "nowhere: folder not found" in err
    root = make_data_root(tmp_path / "mine")
    shutil.rmtree(root / "imagenette_160")
    code, _, err = run_manifest(capsys, root)
    assert code == 2 and "no imagenette_160/ folder" in err and "Your own data" in err


def test_read_only_folder_is_a_clear_error(tmp_path, capsys, monkeypatch):
    root = make_data_root(tmp_path / "mine")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr("onehead.io.tempfile.mkstemp", refuse)
    code, _, err = run_manifest(capsys, root)
    assert code == 2 and "MANIFEST.sha256: cannot write the manifest (Permission denied)" in err
