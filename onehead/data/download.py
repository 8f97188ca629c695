"""The download stage's command: fill the data root from `params.yaml`'s `data` section.

    python stages/download.py        # ONEHEAD_MIRROR overrides data.mirror

Writes `classes.json` (every task's class names, read from the data) beside the datasets.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..cli import user_errors
from ..config import load_params
from ..io import write_json
from .datasets import class_names
from .fetch import download, resolve_source


def main() -> None:
    with user_errors("download"):
        params = load_params().data
        mirror = os.environ.get("ONEHEAD_MIRROR") or params.mirror
        root = Path(params.root)
        files = download(root, params.manifest, params.source, mirror, params.subset)
        write_json(root / "classes.json", class_names(root))
        used = resolve_source(params.source, mirror)
        where = f"the mirror {mirror}" if used == "mirror" else "the original hosts"
        print(f"download: {len(files)} files verified into {root}/ (from {where})")
