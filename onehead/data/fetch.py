"""The download stage: fill `data/` from an offline mirror or the original public hosts.

Both sources deliver exactly the files listed in the manifest (`relative/path  sha256`
lines, as written by `sha256sum`), and every file's hash is verified before the stage
succeeds. A mirror is a folder, a .tar/.tar.gz/.tgz/.zip archive, or an http(s) URL of
either (a URL ending in '/' is read file by file). `auto` takes the mirror when one is there, else the original hosts. The official route reads the COCO
val2017 images by URL, the VOC 2012 and imagenette2-160 archives as streams, and builds
the two mini COCO annotation files from the official `instances_val2017.json`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections import defaultdict
from pathlib import Path

import yaml

from ..catalog import TASK_INFO
from ..errors import DataError
from ..io import write_json
from .validate import validate_data_root

SEG, DET, CLS = (TASK_INFO[t].folder for t in ("seg", "det", "cls"))
COCO_ANN = DET + "/annotations/instances_{split}.json"
SOURCES_FILE = Path(__file__).with_name("sources.yaml")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: str | Path) -> dict[str, str]:
    """Map relative path -> sha256 from a `sha256sum` style file."""
    entries = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}:{lineno}: not a 'sha256  path' line: {line!r}")
        entries[parts[1].strip().removeprefix("./")] = parts[0].lower()
    return entries


def select_subset(manifest: dict[str, str], subset: int) -> dict[str, str]:
    """The first `subset` samples per split of each dataset (per class for Imagenette); 0 = all."""
    if subset == 0:
        return dict(manifest)
    groups: dict[tuple, list[str]] = defaultdict(list)
    for rel in sorted(manifest):
        parts = rel.split("/")
        if parts[0] == SEG and parts[2] == "JPEGImages":
            groups[("voc", parts[1])].append(rel)
        elif parts[0] == DET and parts[2:3] == ["images"]:
            groups[("coco", parts[1])].append(rel)
        elif parts[0] == CLS:
            groups[("inet", parts[1], parts[2])].append(rel)
    n_classes = max(1, len({k[2] for k in groups if k[0] == "inet"}))
    chosen = {}
    for key, rels in groups.items():
        keep = rels[: max(1, subset // n_classes)] if key[0] == "inet" else rels[:subset]
        for rel in keep:
            chosen[rel] = manifest[rel]
            if key[0] == "voc":
                png = rel.replace("/JPEGImages/", "/SegmentationClass/").rsplit(".", 1)[0] + ".png"
                chosen[png] = manifest[png]
    for split in ("train", "val"):
        ann = COCO_ANN.format(split=split)
        if ann in manifest:
            chosen[ann] = manifest[ann]
    return chosen


# ---------------------------------------------------------------- sources
def _download(url: str, dest: Path) -> Path:
    with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
        shutil.copyfileobj(resp, out)
    return dest


def _extract(archive: Path, dest: Path) -> Path:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            members = _plain_members(tf, archive, dest)
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, members=members, filter="data")
            else:  # Python < 3.11.4 (e.g. Debian 12's 3.11.2) has no extraction filters
                tf.extractall(dest, members=members)
    return _layout_root(dest)


def _plain_members(tf: tarfile.TarFile, archive: Path, dest: Path) -> list[tarfile.TarInfo]:
    """The archive's files and folders, refusing what the "data" filter refuses: links, devices,
    and paths that would land outside `dest`."""
    root = dest.resolve()
    members = tf.getmembers()
    for member in members:
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or (target != root and root not in target.parents):
            raise DataError(f"{archive}: unsafe archive member {member.name!r} (only plain files and "
                            "folders inside the archive are extracted)")
    return members


def _layout_root(folder: Path) -> Path:
    """The folder holding the dataset folders (an archive may wrap them in one directory)."""
    if any((folder / name).exists() for name in (SEG, DET, CLS)):
        return folder
    children = [c for c in folder.iterdir() if c.is_dir()]
    if len(children) == 1:
        return _layout_root(children[0])
    raise DataError(f"{folder}: no {SEG} / {DET} / {CLS} folders in the mirror")


def copy_from_mirror(mirror: str, files: dict[str, str], out_root: Path, workdir: Path) -> None:
    """Copy `files` from a mirror folder, archive or URL into `out_root`."""
    if mirror.startswith(("http://", "https://")):
        if mirror.endswith("/"):
            for rel in files:
                dest = out_root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                _download(mirror + rel, dest)
            return
        local = _extract(_download(mirror, workdir / "mirror.archive"), workdir / "mirror")
    else:
        local = Path(mirror).expanduser()
        if not local.exists():
            raise DataError(f"{mirror}: mirror not found (set data.mirror or ONEHEAD_MIRROR to a copy of the "
                            "datasets, or data.source: official to fetch them from the original hosts)")
        local = _layout_root(local) if local.is_dir() else _extract(local, workdir / "mirror")
    for rel in files:
        src = local / rel
        if not src.is_file():
            raise DataError(f"{src}: listed in the manifest but missing from the mirror")
        dest = out_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def _stream_members(url: str, wanted: dict[str, Path]) -> None:
    """Extract the `wanted` members (archive name -> destination) from a tar stream."""
    with urllib.request.urlopen(url, timeout=60) as resp, tarfile.open(fileobj=resp, mode="r|*") as tf:
        for member in tf:
            dest = wanted.get(member.name)
            if dest is not None and member.isfile():
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tf.extractfile(member).read())
    missing = [name for name, dest in wanted.items() if not dest.exists()]
    if missing:
        raise DataError(f"{url}: archive lacks {len(missing)} expected file(s), e.g. {missing[0]}")


def fetch_official(files: dict[str, str], out_root: Path, sources: dict) -> None:
    """Fetch `files` from the original hosts described by `sources` (see sources.yaml)."""
    voc, inet, coco = {}, {}, []
    for rel in files:
        parts = rel.split("/")
        if parts[0] == SEG:
            voc[sources["voc"]["member"].format(kind=parts[2], name=parts[3])] = out_root / rel
        elif parts[0] == CLS:
            inet[sources["imagenette"]["member"].format(wnid=parts[2], name=parts[3])] = out_root / rel
        elif parts[0] == DET and parts[2] == "images":
            coco.append(rel)
    if voc:
        _stream_members(sources["voc"]["url"], voc)
    if inet:
        _stream_members(sources["imagenette"]["url"], inet)
    for rel in coco:
        dest = out_root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        _download(sources["coco"]["image_url"].format(name=Path(rel).name), dest)
    if any(rel.startswith(f"{DET}/annotations") for rel in files):
        _build_coco_annotations(files, out_root, sources["coco"])


def _build_coco_annotations(files: dict[str, str], out_root: Path, coco_src: dict) -> None:
    """Write instances_{train,val}.json from the official val2017 file, filtered to our images."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = _download(coco_src["annotations_url"], Path(tmp) / "ann.zip")
        with zipfile.ZipFile(archive) as zf:
            full = json.loads(zf.read(coco_src["annotations_member"]))
    for split in ("train", "val"):
        mini = restrict_coco(full, _image_names(files, split), set(coco_src["category_ids"]))
        write_json(out_root / COCO_ANN.format(split=split), mini)


def restrict_coco(data: dict, image_names: set[str], category_ids: set[int] | None = None) -> dict:
    """A COCO dict with only the named images, their annotations and (optionally) some categories."""
    images = [im for im in data["images"] if im["file_name"] in image_names]
    ids = {im["id"] for im in images}
    keep_cat = (lambda c: c in category_ids) if category_ids is not None else (lambda c: True)
    return {**data, "images": images,
            "annotations": [a for a in data["annotations"] if a["image_id"] in ids and keep_cat(a["category_id"])],
            "categories": [c for c in data["categories"] if keep_cat(c["id"])]}


def _image_names(files, split: str) -> set[str]:
    return {Path(r).name for r in files if r.startswith(f"{DET}/{split}/images/")}


def filter_coco_to_files(out_root: Path, files: dict[str, str]) -> None:
    """Restrict the annotation files to the images present (used for subsets)."""
    for split in ("train", "val"):
        path = out_root / COCO_ANN.format(split=split)
        if path.exists():
            path.write_text(json.dumps(restrict_coco(json.loads(path.read_text()), _image_names(files, split))))


def verify_hashes(out_root: Path, files: dict[str, str], skip: set[str] = frozenset()) -> None:
    """Every file must exist with its manifest hash."""
    for rel, expected in files.items():
        if rel in skip:
            continue
        path = out_root / rel
        if not path.is_file():
            raise DataError(f"{path}: missing after download")
        actual = sha256_of(path)
        if actual != expected:
            raise DataError(f"{path}: SHA-256 mismatch (manifest {expected[:12]}…, file {actual[:12]}…)")


def load_sources(path: str | Path = SOURCES_FILE) -> dict:
    return yaml.safe_load(Path(path).read_text())


def mirror_present(mirror: str) -> bool:
    """A mirror to try: a URL (only fetching it tells), or a local folder or archive that exists."""
    return bool(mirror) and (mirror.startswith(("http://", "https://")) or Path(mirror).expanduser().exists())


def resolve_source(source: str, mirror: str) -> str:
    """`auto`: the mirror when there is one, else the original hosts."""
    if source != "auto":
        return source
    return "mirror" if mirror_present(mirror) else "official"


def fetch_official_or_explain(files: dict[str, str], out_root: Path, sources: dict, tried: str) -> None:
    """`fetch_official`, turning an unreachable host into an error that says what was tried."""
    try:
        fetch_official(files, out_root, sources)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise DataError(f"the original hosts could not be reached ({reason}){tried}; set data.mirror or the "
                        "environment variable ONEHEAD_MIRROR to a copy of the datasets (a folder, archive or URL "
                        "in the layout of docs/spec.md §1)") from None


def download(out_root: str | Path, manifest_path: str | Path, source: str, mirror: str,
             subset: int = 0, sources: dict | None = None) -> dict[str, str]:
    """Build `out_root` atomically: fetch into a temporary folder, verify, validate, rename.
    `source` is `mirror`, `official` or `auto` (see `resolve_source`)."""
    out_root = Path(out_root)
    manifest = read_manifest(manifest_path)
    files = select_subset(manifest, subset)
    out_root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_root.parent, prefix=".download-") as tmp:
        staging, work = Path(tmp) / "data", Path(tmp) / "work"
        staging.mkdir()
        work.mkdir()
        used = resolve_source(source, mirror)
        if used == "mirror":
            copy_from_mirror(mirror, files, staging, work)
        else:
            tried = f" after no mirror was found at {mirror}" if source == "auto" and mirror else ""
            fetch_official_or_explain(files, staging, sources or load_sources(), tried)
        generated = {r for r in files if r.startswith(f"{DET}/annotations")}
        # Official annotations are rebuilt by us, so they are checked by content, not bytes.
        verify_hashes(staging, files, skip=generated if used == "official" else set())
        if subset:
            filter_coco_to_files(staging, files)
        validate_data_root(staging)
        if out_root.exists():
            shutil.rmtree(out_root)
        staging.rename(out_root)
    return files
