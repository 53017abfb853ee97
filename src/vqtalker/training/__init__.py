"""Generic training utilities shared by the stage-1 and stage-2 trainers.

* :mod:`~vqtalker.training.checkpoint` — atomic safetensors checkpoints holding model weights *and*
  optimiser state (no pickle anywhere), resume helpers;
* :mod:`~vqtalker.training.distributed` — DDP set-up under ``torchrun`` (gloo on CPU, nccl on GPU);
* :mod:`~vqtalker.training.ema` — exponential moving average of a model's weights;
* :mod:`~vqtalker.training.curves` — long-format ``metrics.csv`` and a PNG plot of the curves;
* :mod:`~vqtalker.training.loop` — small loop helpers (AMP context, infinite loader, gradient accumulation).
"""

from vqtalker.training.checkpoint import (
    find_latest_checkpoint,
    load_checkpoint,
    load_optimizer_state,
    optimizer_state_to_tensors,
    save_checkpoint,
)
from vqtalker.training.curves import MetricsLogger, plot_metrics
from vqtalker.training.distributed import DistContext, init_distributed
from vqtalker.training.ema import EMA

__all__ = [
    "EMA",
    "DistContext",
    "MetricsLogger",
    "find_latest_checkpoint",
    "init_distributed",
    "load_checkpoint",
    "load_optimizer_state",
    "optimizer_state_to_tensors",
    "plot_metrics",
    "save_checkpoint",
]
