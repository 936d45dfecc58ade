"""Data-parallel training across processes: torch.distributed with the gloo backend (CPU).

Launch with torchrun, e.g. `torchrun --standalone --nproc_per_node 2 -m swallowtail.train.ddp_smoke`:
torchrun sets RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT, and `setup()` joins the process group.
A process group that the caller already set up (e.g. under `torch.multiprocessing.spawn`) is used as is.
Every rank builds the same model from the same seed and DistributedDataParallel broadcasts rank 0's
weights at wrap time and averages gradients in backward, so all ranks keep identical weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from swallowtail.errors import SpecError

#: torch.distributed backend for CPU tensors
BACKEND = "gloo"


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the number of processes, and who set the group up."""

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when setup() initialised the process group (teardown() destroys it)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes logs, checkpoints and plots."""
        return self.rank == 0


def setup() -> DistContext:
    """Join (or reuse) the process group when launched with WORLD_SIZE > 1; else a single-process context."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), owns_group=False)
    raw = os.environ.get("WORLD_SIZE", "1")
    if not raw.strip().isdigit():
        raise SpecError("WORLD_SIZE", raw, "a process count >= 1 (torchrun sets it; unset it to train alone)")
    world = int(raw)
    if world <= 1:
        return DistContext()
    dist.init_process_group(backend=BACKEND)
    return DistContext(dist.get_rank(), dist.get_world_size(), owns_group=True)


def teardown(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum of `t` over ranks (in place; returns `t`)."""
    if ctx.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_object(obj: Any, ctx: DistContext) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...]."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()
