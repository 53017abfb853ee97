"""What stage 2 needs from the frozen stage-1 motion tokenizer, on uint8 frames and in memory-bounded chunks.

:class:`FrozenStage1` wraps a :class:`vqtalker.motion.model.MotionGenerator` (or any module with the same
``encoder`` / ``motion_code`` / ``quantizer`` / ``encode_source`` / ``render`` members) and offers

* ``encode_codes(frames uint8 [T, H, W, 3]) -> (f_g [T, L], f [T, M])`` — global feature and motion code of
  every frame (cached per clip by the trainer; the token targets of any window follow from them);
* ``quantize(delta [T, M]) -> indices [T, R, G]`` — GRFSQ indices of ``f_t − f_s`` (the stage-2 targets);
* ``detokenize(indices [T, R, G], n_layers=None) -> Δ̂ [T, M]``;
* ``encode_source(image uint8 [H, W, 3]) -> SourceState``;
* ``render(state, Δ̂ [T, M])`` → uint8 ``[n, S, S, 3]`` chunks.

Images enter the network as ``[B, 3, S, S]`` in [-1, 1] (``(x / 255 − 0.5) · 2``) and leave as
``((x.clamp(-1, 1) + 1) / 2 · 255)`` uint8 (architecture notes §1).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def to_model_images(frames: np.ndarray | torch.Tensor, size: int, device=None) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` (or ``[H, W, 3]``) → float ``[T, 3, size, size]`` in [-1, 1] (area/bilinear
    resize)."""
    x = torch.from_numpy(np.array(frames, dtype=np.uint8))  # copy: frames may be a read-only memmap
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames [T, H, W, 3], got {tuple(x.shape)}")
    x = x.permute(0, 3, 1, 2).float().div(255.0).sub(0.5).mul(2.0)
    if x.shape[-2:] != (size, size):
        mode = "area" if x.shape[-1] > size else "bilinear"
        x = F.interpolate(
            x, size=(size, size), mode=mode, **({} if mode == "area" else {"align_corners": False})
        )
    return x.to(device) if device is not None else x


def to_uint8_frames(x: torch.Tensor) -> np.ndarray:
    """``[T, 3, S, S]`` in [-1, 1] → uint8 ``[T, S, S, 3]``."""
    y = ((x.detach().float().clamp(-1, 1) + 1) / 2 * 255).round().to(torch.uint8)
    return y.permute(0, 2, 3, 1).cpu().numpy()


class FrozenStage1:
    """Inference-only view of a stage-1 generator (see module docstring). ``chunk`` = frames per network
    call."""

    def __init__(self, generator: nn.Module, chunk: int = 16):
        self.model = generator.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.cfg = generator.cfg
        self.size = int(generator.cfg.size)
        self.chunk = int(chunk)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def face_dim(self) -> int:
        return int(self.cfg.latent_dim)

    @property
    def motion_dim(self) -> int:
        return int(self.cfg.motion_dim)

    @torch.no_grad()
    def encode_codes(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        fg, fm = [], []
        for i in range(0, len(frames), self.chunk):
            x = to_model_images(frames[i : i + self.chunk], self.size, self.device)
            h, _ = self.model.encoder(x)
            fg.append(h.float().cpu())
            fm.append(self.model.motion_code(h).float().cpu())
        return torch.cat(fg), torch.cat(fm)

    @torch.no_grad()
    def quantize(self, delta: torch.Tensor) -> torch.Tensor:
        _, idx = self.model.quantizer(delta.to(self.device).float().unsqueeze(0))
        return idx[0].long().cpu()

    @torch.no_grad()
    def detokenize(self, indices: torch.Tensor, n_layers: int | None = None) -> torch.Tensor:
        q = self.model.quantizer
        out = q.decode(indices.to(self.device).long().unsqueeze(0), n_layers=n_layers)
        return out[0].float().cpu()

    @torch.no_grad()
    def encode_source(self, image: np.ndarray):
        return self.model.encode_source(to_model_images(image, self.size, self.device))

    @torch.no_grad()
    def render(self, state, delta: torch.Tensor):
        """Yield uint8 ``[n, S, S, 3]`` chunks for ``delta [T, M]`` (memory stays flat in T)."""
        for i in range(0, delta.shape[0], self.chunk):
            d = delta[i : i + self.chunk].to(self.device).float()
            yield to_uint8_frames(self.model.render(state, d))


__all__ = ["FrozenStage1", "to_model_images", "to_uint8_frames"]
