"""The model id written into every ``.vqt`` file: which stage-1 weights made (and can decode) the tokens."""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def model_id(generator: torch.nn.Module) -> str:
    """16 hex digits of SHA-256 over the generator's parameters and buffers, by name, as little-endian fp16
    (the shipped weights' precision), so the id does not depend on the file container or load dtype."""
    h = hashlib.sha256()
    for name, t in sorted(generator.state_dict().items()):
        if not torch.is_floating_point(t):
            continue
        h.update(name.encode())
        h.update(np.ascontiguousarray(t.detach().cpu().to(torch.float16).numpy()).astype("<f2").tobytes())
    return h.hexdigest()[:16]


__all__ = ["model_id"]
