"""Loop helpers: AMP (GPU only), an endless loader with a distributed-aware sampler, LR warm-up."""

from __future__ import annotations

import contextlib

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from vqtalker.training.distributed import DistContext


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA when ``enabled``; a no-op on CPU (CPU training stays fp32)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def infinite_loader(dataset: Dataset, batch_size: int, ctx: DistContext, seed: int = 0, num_workers: int = 0,
                    start_epoch: int = 0):
    """Yield batches forever; each rank sees a disjoint shard (``DistributedSampler``) and the shuffle
    order depends on ``(seed, epoch)`` so a resumed run does not replay the same batches."""
    epoch = start_epoch
    while True:
        _set_epoch(dataset, epoch)
        if ctx.distributed:
            sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                         seed=seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:
            g = torch.Generator().manual_seed(seed * 100003 + epoch)
            sampler = RandomSampler(dataset, generator=g)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                            num_workers=num_workers, persistent_workers=False)
        got = False
        for batch in loader:
            got = True
            yield batch
        if not got:
            raise ValueError(f"dataset of {len(dataset)} items is smaller than one batch of {batch_size}")
        epoch += 1


def move(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _set_epoch(dataset, epoch: int) -> None:
    """Forward ``set_epoch`` to datasets that draw random pairs per epoch (also inside ConcatDataset)."""
    for d in getattr(dataset, "datasets", [dataset]):
        if hasattr(d, "set_epoch"):
            d.set_epoch(epoch)
