"""Reenactment: animate a source picture with another person's head and face motion (stage 1 only).

The driving video is cut with one fixed face box (the training convention) and streamed; every driving
frame's motion code is taken **relative to the driving video's first frame**, ``Δ_t = f_d(t) − f_d(0)``
(the source keeps its own identity, pose and expression at rest, the driver contributes only how it
moves), quantised by GRFSQ into tokens (``tokens=True``, as the paper's stage 1 would transmit them) or
kept continuous, and rendered against the source picture's :class:`~vqtalker.motion.model.SourceState`.
With a mouth-channel model the driver's mouth opening relative to its first frame is added to the source's
(face mesh, :class:`~vqtalker.codec.sideinfo.MouthMeter`). Frames come out in chunks (memory flat in the
driving video's length).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vqtalker.errors import VQTalkerError


def reenact_frames(tokenizer, source_crop: np.ndarray, driving_crops, size: int, *, tokens: bool = True,
                   mouth: bool = True, chunk: int = 25) -> Iterator[np.ndarray]:
    """Yield rendered crops uint8 ``[n, size, size, 3]`` for an iterable of driving face crops
    (uint8 ``[S', S', 3]`` each) and the source face crop uint8 ``[H, H, 3]`` (``H >= size`` for a sharp
    full-resolution render)."""
    from vqtalker.codec.sideinfo import MOUTH_SIDE_STEP, MouthMeter

    state = tokenizer.encode_source(source_crop)
    meter = MouthMeter() if (mouth and tokenizer.has_mouth_channel) else None
    f0 = None
    level0 = None
    buf: list[np.ndarray] = []

    def flush(batch):
        nonlocal f0, level0
        x = np.stack(batch)
        f = tokenizer.motion_codes(x)
        if f0 is None:
            f0 = f[:1].clone()
        delta = f - f0
        if tokens:
            delta = tokenizer.detokenize(tokenizer.quantize(delta))
        m = None
        if meter is not None:
            lv = meter.levels(x).astype(np.float32) * MOUTH_SIDE_STEP
            if level0 is None:
                level0 = float(lv[0])
            m = lv - level0
        yield from tokenizer.render_uint8(state, delta, m, size=size)

    try:
        for crop in driving_crops:
            buf.append(np.asarray(crop))
            if len(buf) == chunk:
                yield from flush(buf)
                buf = []
        if buf:
            yield from flush(buf)
    finally:
        if meter is not None:
            meter.close()
    if f0 is None:
        raise VQTalkerError("the driving video has no frames")


__all__ = ["reenact_frames"]
