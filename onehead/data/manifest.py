"""The manifest command: make a folder of your own data the pipeline's mirror.

    python -m onehead.data.manifest DIR [--convert]

DIR must hold the three datasets in the layout of docs/spec.md §1. Their content is validated with the
download stage's own checks (same messages), then DIR/MANIFEST.sha256 lists every file of the
layout with its SHA-256, and the whole pipeline runs on the folder:

    dvc exp run -S data.mirror=DIR -S data.manifest=DIR/MANIFEST.sha256

A folder in one of the common variant layouts (`variants`) is left as it is: the command stops
(exit 2) and prints what to move where. With --convert it makes exactly those moves first.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..catalog import TASK_INFO
from ..cli import user_errors
from ..errors import DataError
from ..io import read_json, write_text
from .datasets import class_names
from .fetch import CLS, DET, SEG, sha256_of
from .validate import validate_data_root
from .variants import SPLITS, apply_moves, describe_moves, plan_moves
from .wordnet import readable

MANIFEST_NAME = "MANIFEST.sha256"


def check_folders(root: Path) -> None:
    """`root` exists and holds the three dataset folders."""
    if not root.is_dir():
        raise DataError(f"{root}: folder not found")
    missing = [f"{folder}/" for folder in (SEG, DET, CLS) if not (root / folder).is_dir()]
    if missing:
        raise DataError(f"{root}: no {', '.join(missing)} folder; the layout of docs/spec.md §1 is {root}/{SEG}/, "
                        f"{root}/{DET}/ and {root}/{CLS}/ (README: 'Your own data')")


def layout_files(root: Path) -> list[str]:
    """Every file the pipeline reads from a validated root, relative to it, sorted."""
    files = []
    for split in SPLITS:
        for image in (p for p in (root / SEG / split / "JPEGImages").iterdir() if p.is_file()):
            files += [image, root / SEG / split / "SegmentationClass" / f"{image.stem}.png"]
        ann = root / DET / "annotations" / f"instances_{split}.json"
        files += [ann, *(root / DET / split / "images" / im["file_name"] for im in read_json(ann)["images"])]
        for class_dir in (root / CLS / split).iterdir():
            files += class_dir.iterdir()
    return sorted({f.relative_to(root).as_posix() for f in files})


def write_manifest(root: Path, files: list[str]) -> Path:
    """`sha256  ./path` lines, as `sha256sum` writes them; written atomically."""
    target = root / MANIFEST_NAME
    try:
        write_text(target, "".join(f"{sha256_of(root / rel)}  ./{rel}\n" for rel in files))
    except PermissionError as err:
        raise DataError(f"{target}: cannot write the manifest ({err.strerror})") from None
    return target


def make_manifest(root: Path, convert: bool = False) -> Path:
    """Check (and with `convert`, rearrange) `root`, validate it, write its manifest."""
    check_folders(root)
    moves = plan_moves(root)
    if moves and not convert:
        raise DataError(f"{root}: not in the layout of docs/spec.md §1 yet; {len(moves)} file(s) need moving:\n"
                        f"{describe_moves(moves)}\nMove them yourself, or run again with --convert to make exactly "
                        "these moves (files are renamed inside the folder; none is changed or deleted).")
    if moves:
        print(f"manifest: moving {len(moves)} file(s) into the layout of docs/spec.md §1:\n{describe_moves(moves)}")
        apply_moves(moves)
    validate_data_root(root)
    return write_manifest(root, layout_files(root))


def summary(root: Path, manifest: Path) -> str:
    """What was written, the classes found, and the command that runs the pipeline on it."""
    lines = [f"manifest: {len(manifest.read_text().splitlines())} files validated and listed in {manifest}"]
    for task, names in class_names(root).items():
        names = [name if readable(name) == name else f"{name} {readable(name)}" for name in names]
        shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
        lines.append(f"  {TASK_INFO[task].title}: {len(names)} classes ({shown})")
    lines += ["run the pipeline on it (from the onehead repository):",
              f"  dvc exp run -S data.mirror={root} -S data.manifest={manifest}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m onehead.data.manifest",
        description="Validate a data folder in the layout of docs/spec.md §1 and write its MANIFEST.sha256.")
    parser.add_argument("folder", help="folder holding mini_voc_seg/, mini_coco_det/ and imagenette_160/")
    parser.add_argument("--convert", action="store_true",
                        help="move the files of a variant layout into the layout of docs/spec.md §1 (printed first)")
    args = parser.parse_args(argv)
    with user_errors("manifest"):
        root = Path(args.folder).resolve()
        print(summary(root, make_manifest(root, args.convert)))


if __name__ == "__main__":
    main()
