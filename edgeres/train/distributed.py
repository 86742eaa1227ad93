"""Multi-process training with torch's own DDP, started by ``torchrun``.

``torchrun --nproc-per-node 2 -m edgeres train ...`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``;
we join the group with gloo on CPU and NCCL on GPUs. Without those variables everything here is a
no-op and training runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_sum(self, values: list[float]) -> list[float]:
        """Sum a few numbers over every process (training loss/accuracy counts)."""
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()


def init_distributed(device: str) -> DistContext:
    """Join the process group when started by ``torchrun``; otherwise a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    if device == "cuda":
        torch.cuda.set_device(local_rank)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
