"""Multi-process training through ``torchrun`` (DistributedDataParallel + DistributedSampler).

``torchrun --nproc-per-node N -m wsolbench baseline run cam ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``MASTER_ADDR/PORT``; :func:`init_from_env` joins the process group (NCCL on
CUDA, gloo on CPU). Each rank reads its shard of every epoch, gradients are averaged by DDP, rank
0 writes checkpoints and extracts the maps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` (1 = not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(*, device: str = "cpu", backend: str | None = None) -> DistContext:
    """Join the process group named by torchrun's environment variables, if any.

    Args:
        device: ``cpu`` or ``cuda`` (picks the default backend and the local GPU).
        backend: override the backend (``gloo``/``nccl``).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if device == "cuda" else "gloo"), rank=rank, world_size=world)
    return DistContext(rank=rank, world_size=world, local_rank=local)


def current() -> DistContext:
    """The context of an already initialised process group (or a single process)."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                           local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext()


def wrap_model(model: torch.nn.Module, ctx: DistContext, *, device: str):
    """``DistributedDataParallel(model)`` when distributed, else the model itself."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if device == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The backbone inside a DDP wrapper."""
    return getattr(model, "module", model)


def all_reduce_sum(values: list[float], ctx: DistContext, *, device: str) -> list[float]:
    """Sum a few numbers over all ranks (identity when not distributed)."""
    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (call once, at the end of the run)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
