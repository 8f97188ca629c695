"""Imagenette-160: `{split}/<wnid>/*.JPEG`; classes are the sorted folder names."""
from __future__ import annotations

from pathlib import Path

from .common import TaskDataset, read_rgb
from .fetch import DataError


class ImageFolderClassification(TaskDataset):
    task = "cls"

    def __init__(self, root: str | Path, split: str, transform=None):
        super().__init__(transform)
        self.root = Path(root) / "imagenette_160" / split
        if not self.root.is_dir():
            raise DataError(f"{self.root}: split folder not found")
        self.class_names = tuple(sorted(p.name for p in self.root.iterdir() if p.is_dir()))
        self.samples = [(f, label) for label, name in enumerate(self.class_names)
                        for f in sorted((self.root / name).iterdir()) if f.is_file()]
        if not self.samples:
            raise DataError(f"{self.root}: no images in class folders")

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int):
        path, label = self.samples[index]
        return read_rgb(path), {"label": label}
