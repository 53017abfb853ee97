"""DDP set-up: ``torchrun --nproc_per_node N`` sets RANK / WORLD_SIZE / LOCAL_RANK; we pick gloo on CPU
and nccl on CUDA. Without those variables everything runs single-process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.initialized:
            dist.barrier()

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        if not self.initialized:
            return t
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t / self.world_size

    def cleanup(self) -> None:
        if self.initialized and dist.is_initialized():
            dist.destroy_process_group()
            self.initialized = False


def init_distributed(device: str | None = None) -> DistContext:
    """Initialise the default process group when launched by torchrun (env ``WORLD_SIZE`` > 1).

    ``device``: ``"cpu"``, ``"cuda"`` or None/``"auto"`` (CUDA when available). On CUDA each rank uses
    ``cuda:LOCAL_RANK``.
    """
    from vqtalker.utils import pick_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    ctx = DistContext(rank=rank, world_size=world, local_rank=local, device=dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
        ctx.initialized = True
    elif world > 1:
        ctx.initialized = True
    return ctx
