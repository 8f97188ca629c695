"""Data-parallel training under `torchrun`: process group, sampler, rank-0-only writes.

Without torchrun's environment variables every helper here is a no-op, so one code path
serves single-process and DistributedDataParallel runs. gloo is used on CPU, nccl on CUDA.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from .errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The process's place in a torchrun job (rank 0 of 1 when not launched by torchrun)."""
    env = os.environ
    return World(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)),
                 int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1)))


def start(world: World, device: torch.device) -> torch.device:
    """Join the process group; on CUDA each process takes the GPU of its local rank."""
    if not world.distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def stop(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def wrap(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around `module` when there are several processes."""
    if not world.distributed:
        return module
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def sampler(dataset, world: World, seed: int) -> DistributedSampler | None:
    """Each rank's shard of a seeded shuffle (None: single process, the loader shuffles)."""
    if not world.distributed:
        return None
    return DistributedSampler(dataset, num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed)


def per_rank_batch(batch_size: int, world: World, key: str) -> int:
    """The global batch is split over the ranks, so a step sees as many images as in one process."""
    if batch_size < world.size:
        raise ConfigError(f"{key}: {batch_size} is smaller than the {world.size} processes of this run")
    return batch_size // world.size


def mean_over_ranks(values: dict[str, float], world: World) -> dict[str, float]:
    """Average a dict of numbers over all ranks (every rank must hold the same keys)."""
    if not world.distributed or not values:
        return values
    keys = sorted(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / world.size for k, v in zip(keys, t)}
