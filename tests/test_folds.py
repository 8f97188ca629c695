"""`python -m research.folds OUT --fold K`: a held-out fold of the training sets as a data folder."""
import json

from conftest import _mask, make_data_root, run_main
from onehead.data.fetch import download, read_manifest
from research.folds import main as folds_main


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_fold_holds_out_every_kth_training_image_of_each_task(tmp_path, capsys):
    source = make_data_root(tmp_path / "data", n=8)
    out = tmp_path / "fold1"
    code, stdout, _ = run_main(capsys, folds_main, [out, "--fold", 1, "--source", source])
    assert code == 0 and f"-S data.mirror={out} -S data.manifest={out / 'MANIFEST.sha256'}" in stdout

    voc = names(source / "mini_voc_seg" / "train" / "JPEGImages")
    assert names(out / "mini_voc_seg" / "val" / "JPEGImages") == [voc[1], voc[5]]
    assert names(out / "mini_voc_seg" / "train" / "JPEGImages") == [s for i, s in enumerate(voc) if i % 4 != 1]
    assert names(out / "mini_voc_seg" / "val" / "SegmentationClass") == [voc[1][:-4] + ".png", voc[5][:-4] + ".png"]

    coco = {split: json.loads((out / "mini_coco_det" / "annotations" / f"instances_{split}.json").read_text())
            for split in ("train", "val")}
    assert [im["id"] for im in coco["val"]["images"]] == [1001, 1005]  # sorted ids 1000…1007, index 1 and 5
    assert {a["image_id"] for a in coco["val"]["annotations"]} == {1001, 1005}
    assert len(coco["train"]["images"]) == 6 and len(coco["train"]["annotations"]) == 6
    assert names(out / "mini_coco_det" / "val" / "images") == ["000000001001.jpg", "000000001005.jpg"]

    for wnid in ("n01440764", "n02102040"):  # Imagenette: every class keeps the same share
        train = names(source / "imagenette_160" / "train" / wnid)
        assert names(out / "imagenette_160" / "val" / wnid) == [train[1], train[5]]
        assert len(names(out / "imagenette_160" / "train" / wnid)) == 6
    images = [p.name for p in out.rglob("*") if p.suffix in (".jpg", ".JPEG", ".png")]
    assert len(images) == 8 * 2 + 8 + 16 and not any("_val" in n or n.startswith("0000000011") for n in images)


def test_the_download_stage_accepts_the_fold(tmp_path, capsys):
    source = make_data_root(tmp_path / "data", n=4)
    out = tmp_path / "fold0"
    assert run_main(capsys, folds_main, [out, "--fold", 0, "--source", source])[0] == 0
    files = download(tmp_path / "fold_data", out / "MANIFEST.sha256", "mirror", str(out))
    assert sorted(files) == sorted(read_manifest(out / "MANIFEST.sha256"))
    assert len(names(tmp_path / "fold_data" / "mini_voc_seg" / "val" / "JPEGImages")) == 1


def test_bad_requests_are_clear_errors_and_leave_nothing(tmp_path, capsys):
    source = make_data_root(tmp_path / "data", n=4)
    code, _, err = run_main(capsys, folds_main, [tmp_path / "f", "--fold", 4, "--source", source])
    assert code == 2 and "fold must be 0…3" in err and not (tmp_path / "f").exists()

    (tmp_path / "taken").mkdir()
    code, _, err = run_main(capsys, folds_main, [tmp_path / "taken", "--fold", 0, "--source", source])
    assert code == 2 and "taken: already exists" in err

    bad_mask = sorted((source / "mini_voc_seg" / "train" / "SegmentationClass").glob("*.png"))[2]
    _mask(bad_mask, [0, 42])
    code, _, err = run_main(capsys, folds_main, [tmp_path / "f", "--fold", 0, "--source", source])
    assert code == 2 and f"{bad_mask}: mask values [42]" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "taken"]  # no fold, no staging folder
