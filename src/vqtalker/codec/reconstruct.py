"""The paper's video-reconstruction scenario as a library: frames → motion tokens (+ mouth side info) →
frames, rendered from the first frame alone.

:func:`crop_video` cuts one fixed square face crop for the whole clip (box from the first frame with a face,
the training crop convention); :func:`reconstruct` tokenizes every frame against the first
(``int16 [T, 4, 12]``, the ~11 kbps token stream), measures the mouth side information when the stage-1
model has a mouth channel (:mod:`vqtalker.codec.sideinfo`, 5 bit/frame) and renders the video from the
first frame + tokens (+ side information) at the requested size. Metrics of the result live in
:mod:`vqtalker.evaluation.reconstruction`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vqtalker.errors import VQTalkerError


def crop_box(frames: np.ndarray, search: int = 25) -> np.ndarray:
    """Fixed square crop box ``(x0, y0, side)`` for a clip uint8 ``[T, H, W, 3]``, from the first frame with
    a face among the first ``search`` frames (one-line error if none)."""
    from vqtalker.face import crop_box_from_landmarks, fit_in_frame, iter_landmarks

    lm = None
    for _, lm in iter_landmarks(frames[: min(len(frames), search)], static=True):
        if lm is not None:
            break
    if lm is None:
        raise VQTalkerError("no face found in the first second of the video")
    return fit_in_frame(crop_box_from_landmarks(lm), frames.shape[1], frames.shape[2])


def crop_video(frames: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``[T, H, W, 3]`` → (face crops uint8 ``[T, size, size, 3]``, the box ``(x0, y0, side)``): one box
    for the whole clip (:func:`crop_box`)."""
    from vqtalker.face import crop_square

    box = crop_box(frames)
    return np.stack([crop_square(f, box, size) for f in frames]), box


@dataclass
class Reconstruction:
    """Result of :func:`reconstruct` (25 fps or the input's rate ``fps``).

    ``frames``: uint8 ``[T, H, H, 3]`` rendered from frame 0 + tokens; ``reference``: the input crops at
    the same size (what a viewer compares against); ``tokens``: int16 ``[T, R, G]``; ``mouth_levels``:
    uint8 ``[T]`` 5-bit side information (None without a mouth channel); ``mouth_found``: fraction of
    frames where the face mesh found the lips; ``token_bits`` / ``side_bits``: bits per frame; ``layers``:
    residual layers decoded; ``seconds``: wall time of tokenize + render.
    """

    frames: np.ndarray
    reference: np.ndarray
    tokens: np.ndarray
    fps: float
    layers: int
    token_bits: float
    side_bits: float = 0.0
    mouth_levels: np.ndarray | None = None
    mouth_found: float | None = None
    seconds: float = 0.0

    @property
    def bits_per_frame(self) -> float:
        return self.token_bits + self.side_bits

    @property
    def bitrate_kbps(self) -> float:
        return self.bits_per_frame * self.fps / 1000.0


def reconstruct(
    tokenizer,
    crops: np.ndarray,
    fps: float = 25.0,
    n_layers: int | None = None,
    mouth_channel: bool = True,
    size: int | None = None,
) -> Reconstruction:
    """Reconstruct face crops uint8 ``[T, S', S', 3]`` (any square size; see :func:`crop_video`) with a
    :class:`~vqtalker.motion.tokenizer.MotionTokenizer`: tokens against frame 0, rendered at ``size``
    (default: the tokenizer's network size; larger sizes need its full-resolution head) from frame 0 +
    tokens (+ the mouth side information when ``mouth_channel`` and the model has one)."""
    from vqtalker.motion.tokenizer import to_model_frames, to_uint8

    r = tokenizer.cfg.num_quantizers
    if n_layers is not None and not 1 <= n_layers <= r:
        raise VQTalkerError(f"--layers must be in 1..{r}")
    size = int(size or tokenizer.size)
    t0 = time.time()
    mouth, levels, found, side_bits = None, None, None, 0.0
    if tokenizer.has_mouth_channel and mouth_channel:
        from vqtalker.codec.sideinfo import MOUTH_SIDE_BITS, mouth_side_info

        levels, mouth, found = mouth_side_info(np.asarray(crops))
        side_bits = float(MOUTH_SIDE_BITS)
    out, idx = tokenizer.reconstruct(crops, n_layers, mouth, size=size)
    seconds = time.time() - t0
    k = n_layers or r
    return Reconstruction(
        frames=to_uint8(out),
        reference=to_uint8(to_model_frames(crops, size)),
        tokens=idx.cpu().numpy().astype(np.int16),
        fps=float(fps),
        layers=k,
        token_bits=tokenizer.bits_per_frame * k / r,
        side_bits=side_bits,
        mouth_levels=None if levels is None else levels.astype(np.uint8),
        mouth_found=found,
        seconds=seconds,
    )


__all__ = ["Reconstruction", "crop_box", "crop_video", "reconstruct"]


@dataclass
class ReconstructionChunk:
    """One chunk of :func:`reconstruct_stream`: ``reference`` (input crops at the output size) and
    ``frames`` (rendered) uint8 ``[n, H, H, 3]``, ``tokens`` int16 ``[n, R, G]``, ``mouth_levels`` uint8
    ``[n]`` (None without side information), ``first``: index of its first frame."""

    reference: np.ndarray
    frames: np.ndarray
    tokens: np.ndarray
    mouth_levels: np.ndarray | None
    first: int


def reconstruct_stream(tokenizer, crops, n_layers: int | None = None, mouth_channel: bool = True,
                       size: int | None = None, chunk: int = 50):
    """Streaming :func:`reconstruct`: an iterable of face crops uint8 ``[S', S', 3]`` (frame 0 first) →
    :class:`ReconstructionChunk` s of ``chunk`` frames; memory stays flat in the clip length. The mouth side
    information is measured chunk by chunk (:func:`vqtalker.codec.sideinfo.mouth_side_info`, frames without
    a face repeat the last value); the mouth input is relative to frame 0."""
    from vqtalker.codec.sideinfo import MOUTH_SIDE_STEP
    from vqtalker.motion.tokenizer import to_model_frames, to_uint8

    r = tokenizer.cfg.num_quantizers
    if n_layers is not None and not 1 <= n_layers <= r:
        raise VQTalkerError(f"--layers must be in 1..{r}")
    size = int(size or tokenizer.size)
    side = tokenizer.has_mouth_channel and mouth_channel
    state, level0, last, first = None, None, None, 0
    buf: list[np.ndarray] = []

    def run(batch):
        nonlocal state, level0, last, first
        x = np.stack(batch)
        if state is None:
            state = tokenizer.encode_source(x[0] if tokenizer.has_fullres else to_model_frames(x[:1],
                                                                                              tokenizer.size))
        idx = tokenizer.tokenize(x, state)
        levels = mouth = None
        if side:
            from vqtalker.codec.sideinfo import MOUTH_SIDE_BITS
            from vqtalker.face.lips import lip_points, mouth_opening

            pts, found = lip_points(x)
            o = mouth_opening(pts)
            top = 2**MOUTH_SIDE_BITS - 1
            lv = np.clip(np.round(o / MOUTH_SIDE_STEP), 0, top).astype(np.int64)
            if last is None and found.any():
                last = int(lv[int(np.argmax(found))])  # frames before the first face take its value
            for i in range(len(lv)):  # frames without a face repeat the last value
                if found[i]:
                    last = int(lv[i])
                lv[i] = 0 if last is None else last
            if level0 is None:
                level0 = int(lv[0])
            levels = lv.astype(np.uint8)
            mouth = (lv - level0).astype(np.float32) * MOUTH_SIDE_STEP
        out = np.concatenate(list(tokenizer.render_uint8(state, tokenizer.detokenize(idx, n_layers), mouth,
                                                         size=size)))
        ref = x if x.shape[1] == size else to_uint8(to_model_frames(x, size))
        c = ReconstructionChunk(ref, out, idx.cpu().numpy().astype(np.int16), levels, first)
        first += len(x)
        return c

    for crop in crops:
        buf.append(np.asarray(crop))
        if len(buf) == chunk:
            yield run(buf)
            buf = []
    if buf:
        yield run(buf)
    if state is None:
        raise VQTalkerError("no frames to reconstruct")


__all__ += ["ReconstructionChunk", "reconstruct_stream"]
