"""Process set-up: cores shared among processes, loader workers, torchrun's environment."""
import subprocess
import sys

import pytest

from onehead import distributed
from onehead.config import ConfigError
from onehead.runtime import peak_memory_gib, plan_cpu


@pytest.mark.parametrize("cores, processes, threads, workers, expected", [
    (2, 1, 0, "auto", (2, 0)),     # this CI machine: no spare core for a loader worker
    (2, 2, 0, "auto", (1, 0)),     # torchrun with 2 processes: one core each
    (16, 1, 0, "auto", (12, 4)),   # a big machine: workers take some cores, threads the rest
    (16, 4, 0, "auto", (4, 0)),
    (16, 1, 3, 2, (3, 2)),         # explicit settings win
])
def test_plan_cpu_shares_cores(monkeypatch, cores, processes, threads, workers, expected):
    monkeypatch.setattr("onehead.runtime.available_cores", lambda: cores)
    assert plan_cpu(threads, workers, processes) == expected


def test_world_from_torchrun_environment(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert distributed.world_from_env() == distributed.World(0, 1, 0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    world = distributed.world_from_env()
    assert (world.rank, world.size, world.local_rank, world.local_size) == (3, 4, 1, 2)
    assert world.distributed and not world.is_main


def test_global_batch_is_split_over_ranks():
    four = distributed.World(0, 4, 0, 4)
    assert distributed.per_rank_batch(16, four, "stage1_seg.batch_size") == 4
    with pytest.raises(ConfigError, match="stage1_seg.batch_size: 2 is smaller than the 4 processes"):
        distributed.per_rank_batch(2, four, "stage1_seg.batch_size")


def test_single_process_helpers_are_no_ops():
    single = distributed.World()
    assert distributed.sampler(range(10), single, seed=0) is None
    assert distributed.mean_over_ranks({"loss": 2.5}, single) == {"loss": 2.5}
    assert distributed.per_rank_batch(16, single, "x") == 16


def test_peak_memory_counts_what_a_process_touched():
    """A child that fills 512 MiB reports a peak of at least that, in GiB (not KiB or bytes)."""
    code = ("import numpy as np; from onehead.runtime import peak_memory_gib; "
            "a = np.ones(2**26); print(peak_memory_gib())")  # 2**26 float64 = 512 MiB
    peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 0.5 <= peak < 2.0
    assert peak_memory_gib() > 0
