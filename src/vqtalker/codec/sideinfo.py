"""Side information of the stage-1 mouth channel: the measured mouth opening, 5 bits per frame.

A stage-1 model with the mouth channel (``MotionConfig.mouth_channel``, beyond the paper) renders the lips
as far open as its input ``m = o_t − o_0`` says; the codec measures ``o`` on every input frame (face mesh)
and sends it next to the motion tokens.
"""

from __future__ import annotations

import numpy as np

from vqtalker.errors import VQTalkerError

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
    from vqtalker.face.lips import lip_points, mouth_opening

    pts, found = lip_points(frames)
    o = mouth_opening(pts)
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


class MouthMeter:
    """Streaming form of :func:`mouth_side_info`: measure the 5-bit mouth level of face crops packet by
    packet with one face-mesh tracker for the whole stream (uint8 ``[n, S, S, 3]`` → ``int [n]``); frames
    without a face repeat the last level (0 before the first face)."""

    def __init__(self, min_side: int = 256):
        from vqtalker.face.tracker import FaceTracker

        self.min_side = int(min_side)
        self._tracker = FaceTracker(max_side=960)
        self._last = None
        self.found = 0
        self.frames = 0

    def levels(self, frames: np.ndarray) -> np.ndarray:
        from vqtalker.face.landmarks import LIPS
        from vqtalker.face.lips import mouth_opening

        frames = np.asarray(frames)
        side = frames.shape[1]
        up = max(1, -(-self.min_side // side))
        out = np.zeros(len(frames), np.int64)
        top = 2**MOUTH_SIDE_BITS - 1
        for i, fr in enumerate(frames):
            img = np.repeat(np.repeat(fr, up, 0), up, 1) if up > 1 else fr
            lm = self._tracker.track(np.ascontiguousarray(img))
            self.frames += 1
            if lm is not None:
                pts = np.asarray(lm)[LIPS, :2] / float(side * up)
                o = float(mouth_opening(pts[None])[0])
                self._last = int(np.clip(round(o / MOUTH_SIDE_STEP), 0, top))
                self.found += 1
            out[i] = 0 if self._last is None else self._last
        return out

    def close(self) -> None:
        self._tracker.close()
