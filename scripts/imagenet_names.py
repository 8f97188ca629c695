"""Regenerate onehead/data/imagenet_names.tsv: ImageNet-1k WordNet ids and their English names.

The source is the timm wheel (PyTorch Image Models, Apache-2.0), whose `timm/data/_info/`
holds the 1000 ILSVRC-2012 synsets (`imagenet_synsets.txt`) and each synset's WordNet
lemmas (`imagenet_synset_to_lemma.txt`). The wheel is read as a zip file; timm need not be
installed:

    pip download --no-deps -d /tmp/timm timm==1.0.31
    python scripts/imagenet_names.py /tmp/timm/timm-1.0.31-py3-none-any.whl

Each synset gets its first lemma ("chain saw, chainsaw" -> "chain saw"); the two lemmas that
name two ImageNet-1k classes each (crane, maillot) get the WordNet id added to tell them apart.
"""
from __future__ import annotations

import argparse
import zipfile
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "onehead" / "data" / "imagenet_names.tsv"
SYNSETS = "timm/data/_info/imagenet_synsets.txt"
LEMMAS = "timm/data/_info/imagenet_synset_to_lemma.txt"


def read_member(wheel: zipfile.ZipFile, name: str) -> list[str]:
    return [line for line in wheel.read(name).decode("utf-8").splitlines() if line.strip()]


def first_lemmas(wheel_path: Path) -> dict[str, str]:
    """wnid -> English name for the 1000 ImageNet-1k synsets, in class-index order."""
    with zipfile.ZipFile(wheel_path) as wheel:
        synsets = [line.strip() for line in read_member(wheel, SYNSETS)]
        lemmas = dict(line.split("\t", 1) for line in read_member(wheel, LEMMAS))
    names = {wnid: lemmas[wnid].split(",")[0].strip() for wnid in synsets}
    shared = {name for name, count in Counter(names.values()).items() if count > 1}
    return {wnid: f"{name} ({wnid})" if name in shared else name for wnid, name in names.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="a timm wheel, e.g. timm-1.0.31-py3-none-any.whl")
    args = parser.parse_args()
    names = first_lemmas(args.wheel)
    header = ["# ImageNet-1k (ILSVRC-2012) WordNet ids and their first WordNet lemma as English name.",
              f"# Source: {args.wheel.name} ({SYNSETS}, {LEMMAS}), Apache-2.0;",
              "# the lemmas are WordNet 3.0's (Princeton University). Regenerate: scripts/imagenet_names.py"]
    OUT.write_text("\n".join(header + [f"{wnid}\t{name}" for wnid, name in names.items()]) + "\n")
    print(f"wrote {len(names)} names to {OUT}")


if __name__ == "__main__":
    main()
