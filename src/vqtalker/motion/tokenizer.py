"""The public stage-1 API and its only loader: :class:`MotionTokenizer` (frames ⇄ motion tokens, tokens →
frames).

Frames are RGB face crops ``[T, 3, S, S]`` float in ``[-1, 1]`` (or ``uint8 [T, S, S, 3]``, converted);
tokens are ``int16 [T, 4, 12]`` (residual layer × group, values in ``[0, 625)``) at the video rate
(25 fps → 11 145 bit/s for the paper configuration).

Example::

    tok = MotionTokenizer.from_pretrained("src/vqtalker/weights/stage1/lite-128.safetensors")
    state = tok.encode_source(frames[0])              # the reference (first) frame
    idx = tok.tokenize(frames, reference=frames[0])   # int16 [T, 4, 12]
    motion = tok.detokenize(idx, n_layers=4)          # [T, 120] quantised motion differences Δ̂
    video = tok.render(state, motion)                 # [T, 3, S, S] in [-1, 1]

Stage 2 and the pipeline use it **frozen** (``frozen=True``: no parameter takes a gradient) and, on top,
``encode_codes`` (f_g and motion codes of every frame, for the stage-2 cache), ``quantize`` (the stage-2
targets) and ``render_uint8`` (memory-bounded uint8 chunks). A model with the full-resolution head
(:mod:`vqtalker.motion.fullres`) renders at any ``size`` >= its network size by warping the source crop
given to :meth:`MotionTokenizer.encode_source`.
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
        arr = np.ascontiguousarray(frames)
        frames = torch.from_numpy(arr if arr.flags.writeable else arr.copy())  # e.g. a read-only memmap
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
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode=mode, **({} if mode == "area" else {"align_corners": False})
        )
    return x


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``[T, 3, S, S]`` in [-1, 1] → ``uint8 [T, S, S, 3]``."""
    x = ((frames.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return x.permute(0, 2, 3, 1).cpu().numpy()


class MotionTokenizer(torch.nn.Module):
    """Wraps a trained :class:`MotionGenerator`; all methods run without gradients in eval mode.

    ``chunk``: frames per batch for the encoder / renderer (memory bound on long videos); ``frozen``: no
    parameter requires a gradient (stage 2 and the pipeline).
    """

    def __init__(self, generator: MotionGenerator, chunk: int = 16, frozen: bool = False):
        super().__init__()
        self.generator = generator.eval()
        self.chunk = int(chunk)
        if frozen:
            for p in self.generator.parameters():
                p.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: str | torch.device = "cpu", **kw):
        """Load exported weights (``*.safetensors`` with embedded config) or a training checkpoint (its EMA
        generator); ``kw``: ``chunk``, ``frozen``. A missing file is a one-line error saying how to train
        one."""
        from vqtalker.motion.weights import load_generator

        return cls(load_generator(path, device=device), **kw)

    def save_pretrained(self, path: str | os.PathLike, dtype: torch.dtype = torch.float16, **metadata: str):
        """Write the generator in the project's weights convention (``vqtalker-motion-1``)."""
        from vqtalker.motion.weights import save_generator

        return save_generator(self.generator, path, dtype=dtype, extra=metadata)

    @property
    def cfg(self):
        return self.generator.cfg

    @property
    def size(self) -> int:
        """The network's input size (and the default render size)."""
        return self.generator.cfg.size

    @property
    def output_size(self) -> int:
        """The size the model was trained to render (``fullres_size`` with the full-resolution head)."""
        return self.generator.cfg.output_size

    @property
    def has_fullres(self) -> bool:
        """Whether the model warps the source crop at any output size (:mod:`vqtalker.motion.fullres`)."""
        return self.generator.fullres is not None

    @property
    def quantizer(self):
        """The GRFSQ (:class:`vqtalker.quantize.GroupResidualFSQ`) of the motion path."""
        return self.generator.quantizer

    @property
    def face_dim(self) -> int:
        return int(self.cfg.latent_dim)

    @property
    def motion_dim(self) -> int:
        return int(self.cfg.motion_dim)

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
        """Reference image (``[3, H, H]`` / ``[1, 3, H, H]`` float or ``uint8 [H, H, 3]``) →
        :class:`SourceState` with batch 1 (``f_g [1, L]``, ``f_s [1, 120]``, skip features). The network sees
        it at ``size``; a model with the full-resolution head also keeps it at its own size ``H`` (give the
        crop at the largest size you will render)."""
        x = self._prep(image)
        if x.shape[0] != 1:
            raise VQTalkerError(f"encode_source expects one image, got {x.shape[0]}")
        hr = None
        if self.has_fullres:
            full = to_model_frames(image, _side(image)).to(self.device)
            hr = full if full.shape[-1] > self.size else None
        return self.generator.encode_source(x, hr)

    @torch.no_grad()
    def motion_codes(self, frames) -> torch.Tensor:
        """Continuous motion codes ``f [T, 120]`` of every frame."""
        x = self._prep(frames)
        return torch.cat(
            [self.generator.encode_motion(x[i : i + self.chunk]) for i in range(0, x.shape[0], self.chunk)]
        )

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
        return self.generator.quantizer.decode(idx.long().to(self.device), n_layers=n_layers).float().cpu()

    @property
    def has_mouth_channel(self) -> bool:
        """Whether the renderer takes the lip-gap input (:attr:`MotionConfig.mouth_channel`)."""
        return bool(getattr(self.cfg, "mouth_channel", False))

    def _mouth_chunks(self, mouth, t: int):
        if mouth is None or not self.has_mouth_channel:
            return [None] * len(range(0, t, self.chunk))
        m = torch.as_tensor(
            np.asarray(mouth) if not torch.is_tensor(mouth) else mouth,
            dtype=torch.float32,
            device=self.device,
        ).reshape(-1)
        if m.shape[0] != t:
            raise VQTalkerError(f"mouth input has {m.shape[0]} frames, the motion {t}")
        return [m[i : i + self.chunk] for i in range(0, t, self.chunk)]

    @torch.no_grad()
    def render(
        self, source_state: SourceState, motion: torch.Tensor, mouth=None, size: int | None = None
    ) -> torch.Tensor:
        """Render ``motion Δ̂ [T, 120]`` (from :meth:`detokenize`) against the source → ``[T, 3, H, H]``
        in [-1, 1] (clamped), ``H = size`` (default :attr:`size`; other sizes need the full-resolution head).
        ``mouth [T]``: the mouth-channel input ``o_t − o_source`` (20 × inner-lip gap / crop side) for a
        model that has one; ignored otherwise, None = 0."""
        return torch.cat(
            list(self._render_chunks(source_state, motion, mouth, size))
            or [torch.zeros(0, 3, size or self.size, size or self.size)]
        )

    def _render_chunks(self, state, motion, mouth, size):
        motion = torch.as_tensor(motion, dtype=torch.float32, device=self.device)
        if motion.ndim == 1:
            motion = motion[None]
        if size not in (None, self.size) and not self.has_fullres:
            raise VQTalkerError(
                f"this stage-1 model renders {self.size} px only (it has no full-resolution "
                f"head); got size {size}"
            )
        ms = self._mouth_chunks(mouth, motion.shape[0])
        for i, m in zip(range(0, motion.shape[0], self.chunk), ms, strict=True):
            with torch.no_grad():
                yield self.generator.render(state, motion[i : i + self.chunk], m, size).clamp(-1, 1)

    @torch.no_grad()
    def render_uint8(self, state: SourceState, delta: torch.Tensor, mouth=None, size: int | None = None):
        """Yield uint8 ``[n, H, H, 3]`` chunks for ``delta [T, M]`` (memory stays flat in T); ``mouth``,
        ``size``: as in :meth:`render`."""
        for chunk in self._render_chunks(state, delta, mouth, size):
            yield to_uint8(chunk)

    @torch.no_grad()
    def encode_codes(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``[T, H, W, 3]`` → ``(f_g [T, L], f [T, M])`` float32 on the CPU (the stage-2 cache)."""
        fg, fm = [], []
        for i in range(0, len(frames), self.chunk):
            x = self._prep(np.array(frames[i : i + self.chunk], dtype=np.uint8))  # copy: may be a memmap
            h, _ = self.generator.encoder(x)
            fg.append(h.float().cpu())
            fm.append(self.generator.motion_code(h).float().cpu())
        return torch.cat(fg), torch.cat(fm)

    @torch.no_grad()
    def quantize(self, delta: torch.Tensor) -> torch.Tensor:
        """``delta [T, M]`` → GRFSQ indices ``long [T, R, G]`` on the CPU (the stage-2 targets)."""
        _, idx = self.generator.quantizer(delta.to(self.device).float().unsqueeze(0))
        return idx[0].long().cpu()

    @torch.no_grad()
    def reconstruct(
        self, frames, n_layers: int | None = None, mouth=None, size: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenize every frame against the first and render from the first frame + tokens alone (+ the
        mouth-channel side information ``mouth [T]`` = ``o_t − o_0``, see
        :func:`vqtalker.codec.sideinfo.mouth_side_info`) at ``size`` (see :meth:`render`; a model with the
        full-resolution head warps frame 0 at the size ``frames`` are given in).
        Returns ``(frames_hat [T, 3, H, H], tokens int16 [T, 4, 12])``."""
        x = self._prep(frames)
        state = self.encode_source(frames[0] if self.has_fullres else x[:1])
        idx = self.tokenize(x, state)
        return self.render(state, self.detokenize(idx, n_layers), mouth, size=size), idx


def _side(image) -> int:
    """Side of a square image given as uint8 ``[H, W, 3]`` or float ``[(1,) 3, H, W]``."""
    return int(
        image.shape[-2] if (getattr(image, "dtype", None) in (np.uint8, torch.uint8)) else image.shape[-1]
    )
