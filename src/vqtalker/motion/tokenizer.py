"""Public stage-1 API: :class:`MotionTokenizer` (frames ⇄ motion tokens, tokens → frames).

Frames are RGB face crops ``[T, 3, S, S]`` float in ``[-1, 1]`` (or ``uint8 [T, S, S, 3]``, converted);
tokens are ``int16 [T, 4, 12]`` (residual layer × group, values in ``[0, 625)``) at the video rate
(25 fps → 11 145 bit/s for the paper configuration).

Example::

    tok = MotionTokenizer.from_pretrained("src/vqtalker/weights/stage1/lite-128.safetensors")
    state = tok.encode_source(frames[0])              # the reference (first) frame
    idx = tok.tokenize(frames, reference=frames[0])   # int16 [T, 4, 12]
    motion = tok.detokenize(idx, n_layers=4)          # [T, 120] quantised motion differences Δ̂
    video = tok.render(state, motion)                 # [T, 3, S, S] in [-1, 1]
"""

from __future__ import annotations

import os

import numpy as np
import torch

from vqtalker.errors import VQTalkerError
from vqtalker.motion.model import MotionGenerator, SourceState


def to_model_frames(frames, size: int) -> torch.Tensor:
    """``uint8 [T, H, W, 3]`` / ``[H, W, 3]`` (numpy or torch) or float ``[T, 3, H, W]`` in [-1, 1] →
    float ``[T, 3, size, size]`` in [-1, 1] (area / bilinear resize when needed)."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not torch.is_tensor(frames):
        raise VQTalkerError(f"expected frames as an array or tensor, got {type(frames).__name__}")
    x = frames
    if x.dtype == torch.uint8:
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3:
            raise VQTalkerError(f"uint8 frames must be [T, H, W, 3], got {tuple(frames.shape)}")
        x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    else:
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[1] != 3:
            raise VQTalkerError(f"float frames must be [T, 3, H, W] in [-1, 1], got {tuple(frames.shape)}")
        x = x.float()
    if x.shape[-1] != size or x.shape[-2] != size:
        mode = "area" if x.shape[-1] > size else "bilinear"
        x = torch.nn.functional.interpolate(x, size=(size, size), mode=mode,
                                            **({} if mode == "area" else {"align_corners": False}))
    return x


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``[T, 3, S, S]`` in [-1, 1] → ``uint8 [T, S, S, 3]``."""
    x = ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


class MotionTokenizer(torch.nn.Module):
    """Wraps a trained :class:`MotionGenerator`; all methods run without gradients in eval mode.

    ``chunk``: frames per batch for the encoder / renderer (memory bound on long videos).
    """

    def __init__(self, generator: MotionGenerator, chunk: int = 16):
        super().__init__()
        self.generator = generator.eval()
        self.chunk = int(chunk)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | torch.device = "cpu", **kw):
        """Load exported weights (``*.safetensors`` with embedded config) or a training checkpoint (its EMA
        generator)."""
        from vqtalker.motion.export import load_generator

        return cls(load_generator(path, device=device), **kw)

    @property
    def cfg(self):
        return self.generator.cfg

    @property
    def size(self) -> int:
        return self.generator.cfg.size

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def bits_per_frame(self) -> float:
        return float(self.generator.quantizer.bits_per_frame)

    def bitrate_kbps(self, fps: float = 25.0) -> float:
        return self.bits_per_frame * fps / 1000.0

    def _prep(self, frames) -> torch.Tensor:
        return to_model_frames(frames, self.size).to(self.device)

    @torch.no_grad()
    def encode_source(self, image) -> SourceState:
        """Reference image (``[3, S, S]`` / ``[1, 3, S, S]`` float or ``uint8 [S, S, 3]``) →
        :class:`SourceState` with batch 1 (``f_g [1, L]``, ``f_s [1, 120]``, skip features)."""
        x = self._prep(image)
        if x.shape[0] != 1:
            raise VQTalkerError(f"encode_source expects one image, got {x.shape[0]}")
        return self.generator.encode_source(x)

    @torch.no_grad()
    def motion_codes(self, frames) -> torch.Tensor:
        """Continuous motion codes ``f [T, 120]`` of every frame."""
        x = self._prep(frames)
        return torch.cat([self.generator.encode_motion(x[i:i + self.chunk])
                          for i in range(0, x.shape[0], self.chunk)])

    @torch.no_grad()
    def tokenize(self, frames, reference) -> torch.Tensor:
        """``frames`` (T frames) against ``reference`` (one frame, or a :class:`SourceState`) →
        ``int16 [T, R, G]`` (``[T, 4, 12]``): indices of ``GRFSQ(f_t − f_ref)``."""
        f_ref = reference.f_s if isinstance(reference, SourceState) else self.encode_source(reference).f_s
        f = self.motion_codes(frames)
        _, idx = self.generator.quantizer(f - f_ref)
        return idx.to(torch.int16)

    @torch.no_grad()
    def detokenize(self, indices, n_layers: int | None = None) -> torch.Tensor:
        """``int [T, R, G]`` → quantised motion difference ``Δ̂ [T, 120]`` using the first ``n_layers``
        residual layers (None = all; coarse-to-fine)."""
        idx = torch.as_tensor(np.asarray(indices) if not torch.is_tensor(indices) else indices)
        r, g = self.cfg.num_quantizers, self.cfg.quant_groups
        if idx.ndim != 3 or tuple(idx.shape[1:]) != (r, g):
            raise VQTalkerError(f"tokens must be [T, {r}, {g}], got {tuple(idx.shape)}")
        if n_layers is not None and not 1 <= n_layers <= r:
            raise VQTalkerError(f"n_layers must be in 1..{r}, got {n_layers}")
        codebook = int(np.prod(self.cfg.levels))
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= codebook):
            raise VQTalkerError(f"token values must be in [0, {codebook})")
        return self.generator.quantizer.decode(idx.long().to(self.device), n_layers=n_layers).float()

    @property
    def has_mouth_channel(self) -> bool:
        """Whether the renderer takes the lip-gap input (:attr:`MotionConfig.mouth_channel`)."""
        return bool(getattr(self.cfg, "mouth_channel", False))

    def _mouth_chunks(self, mouth, t: int):
        if mouth is None or not self.has_mouth_channel:
            return [None] * len(range(0, t, self.chunk))
        m = torch.as_tensor(np.asarray(mouth) if not torch.is_tensor(mouth) else mouth,
                            dtype=torch.float32, device=self.device).reshape(-1)
        if m.shape[0] != t:
            raise VQTalkerError(f"mouth input has {m.shape[0]} frames, the motion {t}")
        return [m[i:i + self.chunk] for i in range(0, t, self.chunk)]

    @torch.no_grad()
    def render(self, source_state: SourceState, motion: torch.Tensor, mouth=None) -> torch.Tensor:
        """Render ``motion Δ̂ [T, 120]`` (from :meth:`detokenize`) against the source → ``[T, 3, S, S]``
        in [-1, 1] (clamped). ``mouth [T]``: the mouth-channel input ``o_t − o_source`` (20 × inner-lip gap /
        crop side) for a model that has one; ignored otherwise, None = 0."""
        motion = torch.as_tensor(motion, dtype=torch.float32, device=self.device)
        if motion.ndim == 1:
            motion = motion[None]
        ms = self._mouth_chunks(mouth, motion.shape[0])
        outs = [self.generator.render(source_state, motion[i:i + self.chunk], m).clamp(-1, 1)
                for i, m in zip(range(0, motion.shape[0], self.chunk), ms, strict=True)]
        return torch.cat(outs) if outs else motion.new_zeros(0, 3, self.size, self.size)

    @torch.no_grad()
    def reconstruct(
        self, frames, n_layers: int | None = None, mouth=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenize every frame against the first and render from the first frame + tokens alone (+ the
        mouth-channel side information ``mouth [T]`` = ``o_t − o_0``, see :func:`mouth_side_info`).
        Returns ``(frames_hat [T, 3, S, S], tokens int16 [T, 4, 12])``."""
        x = self._prep(frames)
        state = self.generator.encode_source(x[:1])
        idx = self.tokenize(x, state)
        return self.render(state, self.detokenize(idx, n_layers), mouth), idx


#: side information of the mouth channel: the opening (20 × inner-lip gap / crop side) in 5-bit steps
MOUTH_SIDE_BITS = 5
MOUTH_SIDE_STEP = 0.05  # 32 levels cover 0 … 1.55 (a wide-open mouth is ≈ 1.2)


def mouth_side_info(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The codec's mouth side information for a face-crop video, uint8 ``[T, S, S, 3]`` →
    ``(levels int [T] in 0..31, mouth input float32 [T] = o_t − o_0, found fraction)``.

    ``o`` is measured with the face mesh (frames upscaled to ≥ 256 px), quantised to
    :data:`MOUTH_SIDE_BITS` bits (step :data:`MOUTH_SIDE_STEP`); frames without a face repeat the previous
    value (the first found value before it). Costs ``5 × fps`` bit/s (0.125 kbps at 25 fps).
    """
    from vqtalker.lips import MOUTH_OPEN_SCALE, lip_points, mouth_open

    pts, found = lip_points(frames)
    o = mouth_open(pts) * MOUTH_OPEN_SCALE
    if not found.any():
        raise VQTalkerError(
            "no face found in the video for the mouth side information (use --no-mouth-channel to send "
            "tokens only)"
        )
    last = float(o[np.argmax(found)])
    for i in range(len(o)):
        if found[i]:
            last = float(o[i])
        o[i] = last
    top = 2**MOUTH_SIDE_BITS - 1
    levels = np.clip(np.round(o / MOUTH_SIDE_STEP), 0, top).astype(np.int64)
    q = levels.astype(np.float32) * MOUTH_SIDE_STEP
    return levels, (q - q[0]).astype(np.float32), float(found.mean())
