"""Device selection and seeding. CPU fp32 is the default everywhere; nothing calls ``.cuda()`` directly."""

from __future__ import annotations

import random

import numpy as np
import torch


def available_devices() -> list[str]:
    """Device names this build and machine can run on (``cpu`` always; ``cuda`` / ``mps`` if present)."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def pick_device(device: str | None = None) -> torch.device:
    """Return ``torch.device(device)``; ``None``/``"auto"`` picks CUDA when available, else CPU. An unknown
    or unavailable device is a one-line :class:`VQTalkerError` that names the available ones."""
    from vqtalker.errors import VQTalkerError

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    have = available_devices()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise VQTalkerError(f"--device {device!r} is not a device (available: {', '.join(have)})") from None
    if dev.type not in have:
        raise VQTalkerError(f"--device {device}: not available here (available: {', '.join(have)})")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise VQTalkerError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU ``torch.Generator`` seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
