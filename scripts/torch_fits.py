"""Can onehead use this interpreter's own torch? `scripts/setup.sh --system-torch` asks (e.g. on Colab).

    python scripts/torch_fits.py     # exit 0: prints the folder holding torch; exit 1: says why not

torch and torchvision must be installed at or above the minimums below: the oldest releases
with every API the code uses (torch 2.4: `torch.load(weights_only=True)` and its refusal
message naming the blocked global; torchvision 0.19, its companion: `tv_tensors`,
`transforms.v2`). Only the versions pinned in requirements.txt are run by the tests here.
"""
from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

MINIMUM = {"torch": (2, 4), "torchvision": (0, 19)}


def release(version: str) -> tuple[int, int]:
    """Major and minor of a version string: '2.8.0+cu126' -> (2, 8)."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        raise ValueError(f"unreadable version {version!r}")
    return int(match[1]), int(match[2])


def problems(installed: dict[str, str | None]) -> list[str]:
    """Why the installed versions (None = not installed) do not fit; empty when they do."""
    found = []
    for name, minimum in MINIMUM.items():
        version = installed.get(name)
        wanted = ".".join(map(str, minimum))
        if version is None:
            found.append(f"{name} is not installed")
        elif release(version) < minimum:
            found.append(f"{name} {version} is older than {wanted}")
    return found


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    installed = {name: installed_version(name) for name in MINIMUM}
    if found := problems(installed):
        print(f"setup: the runtime's torch does not fit ({'; '.join(found)}): installing the pinned one",
              file=sys.stderr)
        sys.exit(1)
    print(Path(metadata.distribution("torch").locate_file("")).resolve())
    print(f"setup: using the runtime's torch {installed['torch']} and torchvision {installed['torchvision']}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
