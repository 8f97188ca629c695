"""The download stage: mirror folder / archive / URL, the official hosts (served on 127.0.0.1)."""
import functools
import http.server
import io
import json
import re
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import make_data_root, write_manifest
from onehead.data.fetch import download, read_manifest, resolve_source, select_subset
from onehead.errors import DataError


@pytest.fixture
def mirror(tmp_path):
    root = make_data_root(tmp_path / "mirror")
    write_manifest(root, tmp_path / "MANIFEST.sha256")
    return root


@pytest.fixture
def serve(tmp_path):
    """Serve a folder over HTTP on 127.0.0.1; yields a function folder -> base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_mirror_folder_is_copied_and_verified(mirror, tmp_path):
    out = tmp_path / "data"
    files = download(out, tmp_path / "MANIFEST.sha256", "mirror", str(mirror))
    assert _files(out) == sorted(files) == _files(mirror)


def test_mirror_archive_and_url(mirror, tmp_path, serve):
    archive = tmp_path / "site" / "mirror.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(mirror, arcname="mini-datasets")  # archives may wrap the layout in one folder
    download(tmp_path / "a", tmp_path / "MANIFEST.sha256", "mirror", str(archive))
    assert _files(tmp_path / "a") == _files(mirror)
    base = serve(tmp_path / "site")
    download(tmp_path / "b", tmp_path / "MANIFEST.sha256", "mirror", base + "mirror.tar.gz")
    assert _files(tmp_path / "b") == _files(mirror)
    shutil.copytree(mirror, tmp_path / "site" / "tree")
    download(tmp_path / "c", tmp_path / "MANIFEST.sha256", "mirror", base + "tree/")
    assert _files(tmp_path / "c") == _files(mirror)


@pytest.mark.parametrize("python_has_tar_filters", [True, False])
@pytest.mark.parametrize("member", ["../evil.txt", "link"])
def test_unsafe_archive_members_are_refused(mirror, tmp_path, monkeypatch, python_has_tar_filters, member):
    """Paths leaving the folder and links are refused with the archive's name, with or without the
    extraction filters of Python ≥ 3.11.4 (Debian 12 ships 3.11.2)."""
    if not python_has_tar_filters:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = tmp_path / "site" / "bad.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo(member)
        if member == "link":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tf.addfile(info)
        else:
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(DataError, match=f"bad.tar: unsafe archive member '{re.escape(member)}'"):
        download(tmp_path / "data", tmp_path / "MANIFEST.sha256", "mirror", str(archive))
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "data").exists()


def test_hash_mismatch_names_the_file_and_leaves_no_output(mirror, tmp_path):
    victim = next((mirror / "mini_voc_seg" / "train" / "JPEGImages").glob("*.jpg"))
    victim.write_bytes(victim.read_bytes() + b"x")
    out = tmp_path / "data"
    with pytest.raises(DataError, match=f"{victim.name}: SHA-256 mismatch"):
        download(out, tmp_path / "MANIFEST.sha256", "mirror", str(mirror))
    assert not out.exists()
    assert not list(tmp_path.glob(".download-*"))


def test_failed_download_keeps_previous_data(mirror, tmp_path):
    out = tmp_path / "data"
    download(out, tmp_path / "MANIFEST.sha256", "mirror", str(mirror))
    before = _files(out)
    with pytest.raises(DataError, match="mirror not found"):
        download(out, tmp_path / "MANIFEST.sha256", "mirror", str(tmp_path / "missing"))
    assert _files(out) == before


def test_subset_takes_first_images_and_filters_coco(mirror, tmp_path):
    out = tmp_path / "data"
    files = download(out, tmp_path / "MANIFEST.sha256", "mirror", str(mirror), subset=2)
    assert len(list((out / "mini_voc_seg" / "train" / "JPEGImages").iterdir())) == 2
    assert len(list((out / "mini_voc_seg" / "train" / "SegmentationClass").iterdir())) == 2
    ann = json.loads((out / "mini_coco_det" / "annotations" / "instances_train.json").read_text())
    assert len(ann["images"]) == 2 and {a["image_id"] for a in ann["annotations"]} <= {i["id"] for i in ann["images"]}
    assert all(len(list(d.iterdir())) == 1 for d in (out / "imagenette_160" / "train").iterdir())
    assert set(files) <= set(read_manifest(tmp_path / "MANIFEST.sha256"))


def _official_site(mirror: Path, site: Path) -> dict:
    """Fixture archives shaped like the original hosts' (VOC tar, imagenette tgz, COCO files)."""
    site.mkdir()
    with tarfile.open(site / "voc.tar", "w") as tf:
        for split in ("train", "val"):
            for kind in ("JPEGImages", "SegmentationClass"):
                for f in (mirror / "mini_voc_seg" / split / kind).iterdir():
                    tf.add(f, arcname=f"VOCdevkit/VOC2012/{kind}/{f.name}")
    with tarfile.open(site / "imagenette.tgz", "w:gz") as tf:
        for split in ("train", "val"):
            for f in (mirror / "imagenette_160" / split).rglob("*.JPEG"):
                tf.add(f, arcname=f"imagenette2-160/train/{f.parent.name}/{f.name}")
    (site / "val2017").mkdir()
    full = {"info": {}, "licenses": [], "images": [], "annotations": [], "categories": []}
    for split in ("train", "val"):
        for f in (mirror / "mini_coco_det" / split / "images").iterdir():
            shutil.copy(f, site / "val2017" / f.name)
        ann = json.loads((mirror / "mini_coco_det" / "annotations" / f"instances_{split}.json").read_text())
        full["images"] += ann["images"]
        full["annotations"] += ann["annotations"]
        full["categories"] = ann["categories"] + [{"id": 77, "name": "unused"}]
    with zipfile.ZipFile(site / "ann.zip", "w") as zf:
        zf.writestr("annotations/instances_val2017.json", json.dumps(full))
    return full


def test_official_hosts_route_selects_manifest_files(mirror, tmp_path, serve):
    _official_site(mirror, tmp_path / "site")
    base = serve(tmp_path / "site")
    out = tmp_path / "data"
    download(out, tmp_path / "MANIFEST.sha256", "official", "", sources=_sources(base))
    assert _files(out) == _files(mirror)
    for split in ("train", "val"):
        ours = json.loads((out / "mini_coco_det" / "annotations" / f"instances_{split}.json").read_text())
        ref = json.loads((mirror / "mini_coco_det" / "annotations" / f"instances_{split}.json").read_text())
        assert ours["images"] == ref["images"] and ours["annotations"] == ref["annotations"]
        assert [c["id"] for c in ours["categories"]] == [1, 18]


def _sources(base: str) -> dict:
    return {"voc": {"url": base + "voc.tar", "member": "VOCdevkit/VOC2012/{kind}/{name}"},
            "imagenette": {"url": base + "imagenette.tgz", "member": "imagenette2-160/train/{wnid}/{name}"},
            "coco": {"image_url": base + "val2017/{name}", "annotations_url": base + "ann.zip",
                     "annotations_member": "annotations/instances_val2017.json", "category_ids": [1, 18]}}


def test_auto_takes_the_mirror_when_it_exists_and_the_hosts_otherwise(mirror, tmp_path, serve):
    _official_site(mirror, tmp_path / "site")
    sources = _sources(serve(tmp_path / "site"))
    assert resolve_source("auto", str(mirror)) == "mirror" and resolve_source("auto", "") == "official"
    download(tmp_path / "a", tmp_path / "MANIFEST.sha256", "auto", str(mirror), sources={})  # no host needed
    download(tmp_path / "b", tmp_path / "MANIFEST.sha256", "auto", str(tmp_path / "absent"), sources=sources)
    assert _files(tmp_path / "a") == _files(tmp_path / "b") == _files(mirror)


def test_no_mirror_and_no_network_says_what_was_tried_and_what_to_set(mirror, tmp_path):
    dead = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused
    out = tmp_path / "data"
    with pytest.raises(DataError) as err:
        download(out, tmp_path / "MANIFEST.sha256", "auto", str(tmp_path / "absent"), sources=_sources(dead))
    message = str(err.value)
    assert "original hosts could not be reached" in message and f"no mirror was found at {tmp_path / 'absent'}" in message
    assert "data.mirror" in message and "ONEHEAD_MIRROR" in message and "../shared" not in message
    assert not out.exists() and not list(tmp_path.glob(".download-*"))


def test_manifest_lines_are_checked(tmp_path):
    bad = tmp_path / "m.sha256"
    bad.write_text("abc  ./x.jpg\n")
    with pytest.raises(DataError, match="m.sha256:1"):
        read_manifest(bad)


def test_select_subset_zero_is_everything(mirror, tmp_path):
    manifest = read_manifest(tmp_path / "MANIFEST.sha256")
    assert select_subset(manifest, 0) == manifest
