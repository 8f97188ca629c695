"""Process set-up shared by the stage scripts: seeding, threads, device, progress bars."""
from __future__ import annotations

import ctypes
import os
import random
import resource
import sys

import numpy as np
import torch
from tqdm import tqdm


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for data shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, e.g. in containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_cpu(threads: int, workers: int | str, processes_here: int = 1) -> tuple[int, int]:
    """Intra-op threads and data-loader workers for one of `processes_here` processes on this machine.

    The machine's cores are shared by its processes; `workers: auto` starts loader workers
    only where cores are to spare (decoding is cached, so on a few cores compute wins), and
    `threads: 0` takes the cores the workers leave.
    """
    cores = max(1, available_cores() // max(processes_here, 1))
    if workers == "auto":
        workers = 0 if cores <= 4 else min(4, cores // 4)
    return threads or max(1, cores - workers), workers


def configure_threads(threads: int) -> None:
    """Use `threads` intra-op threads; keep freed memory for reuse."""
    torch.set_num_threads(threads)
    keep_freed_memory()


def keep_freed_memory() -> None:
    """Stop glibc from returning big activation buffers to the OS after every step.

    By default each large tensor is mmap'ed and unmapped again, so every training step
    pays page faults in the kernel; on a 2-core CPU that was a third of the time.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def peak_memory_gib() -> float:
    """Peak resident memory of this process and its finished children (loader workers), in GiB."""
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return peak * unit / 2**30


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def progress(iterable, desc: str, total: int | None = None, **kw):
    """A tqdm bar on a terminal; none when output goes to a log (CI, dvc), where the stages'
    own per-epoch lines tell the progress."""
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, disable=None, **kw)
