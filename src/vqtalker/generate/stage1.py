"""What stage 2 needs from the frozen stage-1 motion tokenizer, on uint8 frames and in memory-bounded chunks.

:class:`FrozenStage1` is a :class:`vqtalker.motion.tokenizer.MotionTokenizer` (same frame conversion, same
``encode_source`` / ``detokenize``) with every parameter frozen, plus what the stage-2 trainer and the
pipeline need on top:

* ``encode_codes(frames uint8 [T, H, W, 3]) -> (f_g [T, L], f [T, M])`` — global feature and motion code of
  every frame (cached per clip by the trainer; the token targets of any window follow from them);
* ``quantize(delta [T, M]) -> indices [T, R, G]`` — GRFSQ indices of ``f_t − f_s`` (the stage-2 targets);
* ``detokenize(indices [T, R, G], n_layers=None) -> Δ̂ [T, M]`` on the CPU;
* ``render_uint8(state, Δ̂ [T, M], mouth=None)`` → uint8 ``[n, S, S, 3]`` chunks (memory stays flat in T).

Images enter the network as ``[B, 3, S, S]`` in [-1, 1] and leave as uint8 (architecture notes §1), see
:func:`vqtalker.motion.tokenizer.to_model_frames` / :func:`~vqtalker.motion.tokenizer.to_uint8`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vqtalker.motion.tokenizer import MotionTokenizer, to_model_frames, to_uint8


class FrozenStage1(MotionTokenizer):
    """Inference-only stage-1 view for stage 2 (see module docstring). ``chunk`` = frames per network call."""

    def __init__(self, generator: nn.Module, chunk: int = 16):
        super().__init__(generator, chunk)
        for p in self.generator.parameters():
            p.requires_grad_(False)

    @property
    def model(self) -> nn.Module:
        return self.generator

    @property
    def face_dim(self) -> int:
        return int(self.cfg.latent_dim)

    @property
    def motion_dim(self) -> int:
        return int(self.cfg.motion_dim)

    @torch.no_grad()
    def encode_codes(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``[T, H, W, 3]`` → ``(f_g [T, L], f [T, M])`` float32 on the CPU."""
        fg, fm = [], []
        for i in range(0, len(frames), self.chunk):
            x = self._prep(np.array(frames[i : i + self.chunk], dtype=np.uint8))  # copy: may be a memmap
            h, _ = self.generator.encoder(x)
            fg.append(h.float().cpu())
            fm.append(self.generator.motion_code(h).float().cpu())
        return torch.cat(fg), torch.cat(fm)

    @torch.no_grad()
    def quantize(self, delta: torch.Tensor) -> torch.Tensor:
        """``delta [T, M]`` → GRFSQ indices ``long [T, R, G]`` on the CPU."""
        _, idx = self.generator.quantizer(delta.to(self.device).float().unsqueeze(0))
        return idx[0].long().cpu()

    @torch.no_grad()
    def detokenize(self, indices, n_layers: int | None = None) -> torch.Tensor:
        """``[T, R, G]`` → ``Δ̂ [T, M]`` float32 on the CPU."""
        return super().detokenize(indices, n_layers).cpu()

    @torch.no_grad()
    def render_uint8(self, state, delta: torch.Tensor, mouth=None):
        """Yield uint8 ``[n, S, S, 3]`` chunks for ``delta [T, M]`` (memory stays flat in T); ``mouth [T]``:
        mouth-channel input (see :meth:`MotionTokenizer.render`)."""
        ms = self._mouth_chunks(mouth, delta.shape[0])
        for i, m in zip(range(0, delta.shape[0], self.chunk), ms, strict=True):
            d = delta[i : i + self.chunk].to(self.device).float()
            yield to_uint8(self.generator.render(state, d, m))


__all__ = ["FrozenStage1", "to_model_frames", "to_uint8"]
