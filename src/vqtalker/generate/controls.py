"""Per-frame control signals for generation: head pose, gaze and blink at 25 fps.

Units follow :mod:`vqtalker.face.controls` (the extractor used for the training data):
``pose [T, 3]`` (yaw, pitch, roll) degrees, ``gaze [T, 2]`` normalised iris offset (≈ 0 straight ahead),
``blink [T, 2]`` (left, right) eye openness (eye aspect ratio, ≈ 0.25–0.35 open, < 0.1 closed).

Without a reference video the generator gets *neutral* controls: frontal pose, centred gaze and open eyes at
the training data's median values (stored in the stage-2 checkpoint as :class:`ControlStats`). By default
neutral controls include **natural blinks**: one blink every 3–4 s (uniform random interval, seeded), each a
0.24 s (6-frame) dip of both eyes' openness to the closed value — a person who never blinks looks unnatural.
``blink_every=0`` turns them off.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from vqtalker.constants import FPS

BLINK_PROFILE = np.array([0.35, 0.8, 1.0, 1.0, 0.75, 0.3], dtype=np.float32)  # closure fraction per frame


@dataclass
class ControlStats:
    """Neutral control values (medians of the training data) and the closed-eye openness."""

    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gaze: tuple[float, float] = (0.0, 0.0)
    blink_open: tuple[float, float] = (0.28, 0.28)
    blink_closed: tuple[float, float] = (0.06, 0.06)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, s: str | None) -> ControlStats:
        if not s:
            return cls()
        d = json.loads(s)
        return cls(**{k: tuple(float(x) for x in v) for k, v in d.items()})

    @classmethod
    def from_data(cls, pose: np.ndarray, gaze: np.ndarray, blink: np.ndarray) -> ControlStats:
        """Medians of concatenated training controls ``[N, 3]``, ``[N, 2]``, ``[N, 2]``; closed = 2nd
        percentile."""
        return cls(
            pose=tuple(float(x) for x in np.median(pose, 0)),
            gaze=tuple(float(x) for x in np.median(gaze, 0)),
            blink_open=tuple(float(x) for x in np.median(blink, 0)),
            blink_closed=tuple(float(x) for x in np.percentile(blink, 2, axis=0)),
        )


def blink_track(n_frames: int, stats: ControlStats, every_s: float = 3.5, seed: int = 0) -> np.ndarray:
    """Openness ``[T, 2]``: open value with a blink every ``every_s ± 0.5`` s (0 = never), deterministic
    per seed."""
    open_ = np.asarray(stats.blink_open, np.float32)
    closed = np.asarray(stats.blink_closed, np.float32)
    out = np.tile(open_, (n_frames, 1))
    if every_s <= 0:
        return out
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.5, every_s) * FPS  # first blink comes early
    while t < n_frames:
        s = int(t)
        for i, c in enumerate(BLINK_PROFILE):
            if s + i < n_frames:
                out[s + i] = open_ + c * (closed - open_)
        t += rng.uniform(every_s - 0.5, every_s + 0.5) * FPS
    return out


def neutral_controls(
    n_frames: int, stats: ControlStats | None = None, blink_every: float = 3.5, seed: int = 0
) -> dict[str, np.ndarray]:
    """Neutral ``dict(pose [T,3], gaze [T,2], blink [T,2])`` float32 (see module docstring)."""
    stats = stats or ControlStats()
    return {
        "pose": np.tile(np.asarray(stats.pose, np.float32), (n_frames, 1)),
        "gaze": np.tile(np.asarray(stats.gaze, np.float32), (n_frames, 1)),
        "blink": blink_track(n_frames, stats, blink_every, seed),
    }


def fit_length(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Truncate, or pad by repeating the last row, a ``[T', D]`` track to ``[n_frames, D]``."""
    x = np.asarray(x, np.float32)
    if x.shape[0] >= n_frames:
        return x[:n_frames]
    if x.shape[0] == 0:
        raise ValueError("empty control track")
    return np.concatenate([x, np.repeat(x[-1:], n_frames - x.shape[0], 0)], 0)


def controls_from_video(path, n_frames: int | None = None) -> dict[str, np.ndarray]:
    """Pose, gaze and blink of the face in a reference video, resampled to 25 fps (mediapipe face mesh).

    Frames without a detected face repeat the previous frame's controls. ``n_frames`` fits the length
    (longer: truncated; shorter: last frame held).
    """
    from vqtalker.errors import VQTalkerError
    from vqtalker.face.controls import compute_controls
    from vqtalker.face.tracker import iter_landmarks
    from vqtalker.io.video import iter_frames, iter_frames_at_fps

    lms = []
    last = None
    frames = (frame for _, _, frame in iter_frames_at_fps(iter_frames(path), FPS))
    for _, lm in iter_landmarks(frames):
        if lm is None:
            lm = last
        if lm is not None:
            lms.append(lm)
            last = lm
        if n_frames is not None and len(lms) >= n_frames:
            break
    if not lms:
        raise VQTalkerError(f"no face found in the pose reference video {path}")
    c = compute_controls(np.stack(lms))
    out = {k: c[k] for k in ("pose", "gaze", "blink")}
    if n_frames is not None:
        out = {k: fit_length(v, n_frames) for k, v in out.items()}
    return out


__all__ = ["ControlStats", "blink_track", "controls_from_video", "fit_length", "neutral_controls"]
