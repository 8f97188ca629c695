"""Imagenette-160: `{split}/<wnid>/*.JPEG`; classes are the sorted folder names."""
from __future__ import annotations

from pathlib import Path

from ..catalog import TASK_INFO
from ..errors import DataError
from .common import TaskDataset, read_rgb


class ImageFolderClassification(TaskDataset):
    def __init__(self, root: str | Path, split: str, transform=None):
        super().__init__(transform)
        self.root = Path(root) / TASK_INFO["cls"].folder / split
        if not self.root.is_dir():
            raise DataError(f"{self.root}: split folder not found")
        self.class_names = tuple(sorted(p.name for p in self.root.iterdir() if p.is_dir()))
        self.samples = [(f, label) for label, name in enumerate(self.class_names)
                        for f in sorted((self.root / name).iterdir()) if f.is_file()]
        if not self.samples:
            raise DataError(f"{self.root}: no images in class folders")

    @staticmethod
    def has_split(root: str | Path, split: str) -> bool:
        return (Path(root) / TASK_INFO["cls"].folder / split).is_dir()

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int):
        path, label = self.samples[index]
        return read_rgb(path), {"label": label}
