"""Device selection and seeding. CPU fp32 is the default everywhere; nothing calls ``.cuda()`` directly."""

from __future__ import annotations

import random

import numpy as np
import torch


def pick_device(device: str | None = None) -> torch.device:
    """Return ``torch.device(device)``; ``None``/``"auto"`` picks CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU ``torch.Generator`` seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
