"""Exponential moving average of a model's parameters (buffers are copied)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``ema = decay·ema + (1 − decay)·param`` after each optimiser step; ``module`` is a frozen deep copy.

    Parameters that do not require a gradient in the source model (frozen parts) are left untouched.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        d = self.decay if decay is None else decay
        src = dict(model.named_parameters())
        for name, p in self.module.named_parameters():
            if not src[name].requires_grad:
                continue
            p.lerp_(src[name].detach().to(p.dtype), 1.0 - d)
        src_b = dict(model.named_buffers())
        for name, b in self.module.named_buffers():
            b.copy_(src_b[name])
