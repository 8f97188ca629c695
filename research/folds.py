"""The folds command: one held-out fold of the training sets, as a data folder of its own.

    python -m research.folds OUT --fold K [--folds 4] [--source data]

Decisions taken on the 60 val images alone do not carry over to unseen images (issue 10), so
settings are compared on folds of the *training* sets. OUT gets the layout of docs/spec.md §1 whose
`train` split is every training image of SOURCE with index % FOLDS ≠ K and whose `val` split is
the held-out rest; SOURCE's own val split is left out. Indices follow the datasets' own order
(sorted VOC ids, sorted COCO image ids, Imagenette class by class), so each Imagenette class
keeps the same share in both parts. Files are copied, OUT is validated and gets its manifest,
and the whole pipeline then runs on the fold with the usual own-data switch:

    dvc exp run -S data.mirror=OUT -S data.manifest=OUT/MANIFEST.sha256

Its metrics are the held-out fold's scores; `dvc exp show` puts folds and settings side by side.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from onehead.cli import user_errors
from onehead.errors import ConfigError, DataError
from onehead.io import read_json, write_json
from onehead.data.coco import CocoDetection
from onehead.data.fetch import CLS, COCO_ANN, DET, SEG, restrict_coco
from onehead.data.imagenette import ImageFolderClassification
from onehead.data.manifest import make_manifest, summary
from onehead.data.validate import validate_data_root
from onehead.data.voc import VocSegmentation


def split_of(index: int, fold: int, folds: int) -> str:
    """Where training image `index` goes in fold `fold`: its held-out `val`, or `train`."""
    return "val" if index % folds == fold else "train"


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def copy_segmentation(source: Path, out: Path, fold: int, folds: int) -> None:
    data = VocSegmentation(source, "train")
    for i, stem in enumerate(data.ids):
        split = out / SEG / split_of(i, fold, folds)
        _copy(data.root / "JPEGImages" / f"{stem}.jpg", split / "JPEGImages" / f"{stem}.jpg")
        _copy(data.mask_path(i), split / "SegmentationClass" / f"{stem}.png")


def copy_detection(source: Path, out: Path, fold: int, folds: int) -> None:
    data = CocoDetection(source, "train")
    names = {"train": set(), "val": set()}
    for i, image_id in enumerate(data.image_ids):
        name = data.coco.imgs[image_id]["file_name"]
        split = split_of(i, fold, folds)
        names[split].add(name)
        _copy(data.image_dir / name, out / DET / split / "images" / name)
    annotations = read_json(data.ann_file, "COCO annotation file")
    for split, kept in names.items():
        write_json(out / COCO_ANN.format(split=split), restrict_coco(annotations, kept))


def copy_classification(source: Path, out: Path, fold: int, folds: int) -> None:
    data = ImageFolderClassification(source, "train")
    for i, (path, label) in enumerate(data.samples):
        _copy(path, out / CLS / split_of(i, fold, folds) / data.class_names[label] / path.name)


def make_fold(source: Path, out: Path, fold: int, folds: int = 4) -> Path:
    """Write fold `fold` of `folds` of `source`'s training sets to `out` (which must not exist yet)
    with its manifest; returns the manifest's path. Nothing is left at `out` on failure."""
    if folds < 2 or not 0 <= fold < folds:
        raise ConfigError(f"fold must be 0…{folds - 1} of folds ≥ 2, got fold {fold} of {folds}")
    if out.exists():
        raise DataError(f"{out}: already exists; choose a new folder or remove it")
    validate_data_root(source)  # errors name the user's files, not the staging copies
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for copy in (copy_segmentation, copy_detection, copy_classification):
            copy(source, staging, fold, folds)
        make_manifest(staging)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "MANIFEST.sha256"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m research.folds",
        description="Write one held-out fold of the training sets as a data folder with its manifest.")
    parser.add_argument("out", help="new folder for the fold")
    parser.add_argument("--fold", type=int, required=True, help="which fold is held out (0-based)")
    parser.add_argument("--folds", type=int, default=4, help="number of folds (default 4)")
    parser.add_argument("--source", default="data", help="data folder in the layout of docs/spec.md §1 (default: data, "
                        "the download stage's output)")
    args = parser.parse_args(argv)
    with user_errors("folds"):
        out = Path(args.out).resolve()
        manifest = make_fold(Path(args.source), out, args.fold, args.folds)
        print(f"folds: fold {args.fold} of {args.folds} of {args.source}'s training sets written to {out}")
        print(summary(out, manifest))


if __name__ == "__main__":
    main()
