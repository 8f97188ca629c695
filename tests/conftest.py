"""Shared fixtures: a small synthetic data root in the layout of docs/spec.md §1, a working folder whose params.yaml
points at one (for the trial commands), and paths to the mirror."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from onehead.data.datasets import class_names

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("ONEHEAD_MIRROR", REPO.parent / "shared" / "mini-datasets"))
VOC_PALETTE = [v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)]


def _jpeg(path: Path, size=(64, 48), seed=0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=90)


def _mask(path: Path, values, size=(64, 48)) -> None:
    arr = np.zeros((size[1], size[0]), dtype=np.uint8)
    for i, v in enumerate(values):
        arr[:, i * 8:(i + 1) * 8] = v
    im = Image.fromarray(arr, mode="P")
    im.putpalette(VOC_PALETTE)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def make_data_root(root: Path, n: int = 3) -> Path:
    """Three tiny datasets with `n` samples per split (2 classes for Imagenette)."""
    for split in ("train", "val"):
        for i in range(n):
            stem = f"2007_{split}{i:03d}"
            _jpeg(root / "mini_voc_seg" / split / "JPEGImages" / f"{stem}.jpg", seed=i)
            _mask(root / "mini_voc_seg" / split / "SegmentationClass" / f"{stem}.png", [0, 15, 255, 7 + i])
        images, anns = [], []
        for i in range(n):
            image_id = 1000 + i + (100 if split == "val" else 0)
            name = f"{image_id:012d}.jpg"
            _jpeg(root / "mini_coco_det" / split / "images" / name, size=(80, 60), seed=10 + i)
            images.append({"id": image_id, "file_name": name, "width": 80, "height": 60})
            anns.append({"id": image_id * 10, "image_id": image_id, "category_id": 1 if i % 2 else 18,
                         "bbox": [10.0, 12.0, 30.0, 20.0], "area": 600.0, "iscrowd": 0})
        cats = [{"id": 1, "name": "person", "supercategory": "person"},
                {"id": 18, "name": "dog", "supercategory": "animal"}]
        ann_path = root / "mini_coco_det" / "annotations" / f"instances_{split}.json"
        ann_path.parent.mkdir(parents=True, exist_ok=True)
        ann_path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
        for c, wnid in enumerate(("n01440764", "n02102040")):
            for i in range(n):
                _jpeg(root / "imagenette_160" / split / wnid / f"{wnid}_{split}{i}.JPEG", size=(50, 40), seed=20 + c * 10 + i)
    return root


def write_manifest(root: Path, path: Path) -> Path:
    lines = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        lines.append(f"{digest}  ./{f.relative_to(root).as_posix()}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def data_root(tmp_path) -> Path:
    return make_data_root(tmp_path / "data")


def require_mirror() -> Path:
    if not (MIRROR / "MANIFEST.sha256").is_file():
        pytest.skip(f"mirror not found at {MIRROR} (set ONEHEAD_MIRROR)")
    return MIRROR


def copy_working_tree(dest: Path) -> Path:
    """The working tree's tracked and new files, without pipeline outputs, in `dest` as a fresh git repo."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    for rel in listed:
        src = REPO / rel
        if src.is_file() and not rel.startswith(("data/", "models/", "metrics/", "plots/")) and rel != "dvc.lock":
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def run_main(capsys, entry, args) -> tuple[int, str, str]:
    """A command-line entry point run in-process: its exit code (0 on success), stdout and stderr."""
    try:
        entry([str(a) for a in args])
        code = 0
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """params.yaml pointing at a synthetic data root of 4 images per split, as the cwd."""
    data = make_data_root(tmp_path / "data", n=4)
    (data / "classes.json").write_text(json.dumps(class_names(data)))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(data)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    return tmp_path
