"""Atomic file writes: write to a temporary file beside the target, then rename.

An interrupted stage therefore leaves either the previous file or the new one, never a
half-written checkpoint, metrics file or report.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch


@contextmanager
def atomic_path(target: str | Path):
    """Yield a temporary path; on success it replaces `target`, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | Path, data) -> None:
    write_text(target, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_torch(target: str | Path, obj) -> None:
    with atomic_path(target) as tmp:
        torch.save(obj, tmp)


def read_json(path: str | Path, what: str = "JSON file"):
    """Parse a JSON file, naming the file in any error."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: malformed {what}: {err}") from None
