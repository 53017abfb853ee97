"""Per-frame control signals for generation: head pose, gaze and blink at 25 fps.

Units follow :mod:`vqtalker.face.controls` (the extractor used for the training data):
``pose [T, 3]`` (yaw, pitch, roll) degrees, ``gaze [T, 2]`` normalised iris offset (≈ 0 straight ahead),
``blink [T, 2]`` (left, right) eye openness (eye aspect ratio, ≈ 0.25–0.35 open, < 0.1 closed).

Without a reference video the generator gets *neutral* controls: frontal pose, centred gaze and open eyes at
the training data's median values (stored in the stage-2 checkpoint as :class:`ControlStats`). By default
neutral controls include **natural blinks**: one blink every ``blink_every − 1.5 … blink_every + 2.5`` s
(2–6 s for the default 3.5; uniform, seeded), each a 0.16 s (4-frame) dip of both eyes' openness to the
closed value — a person who never blinks looks unnatural. ``blink_every=0`` turns them off.

:func:`natural_pose` replaces the frozen frontal head (a still head looks dead): slow, smooth sway in yaw,
pitch and roll (Gaussian-filtered noise, seeded) plus small nods on the speech-energy envelope, with more
motion while speaking than in pauses. Its default amplitudes are below the training clips' own head motion
(so it stays gentle); ``scale`` multiplies them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from vqtalker.constants import FPS

BLINK_PROFILE = np.array([0.55, 1.0, 0.85, 0.35], dtype=np.float32)  # closure fraction per frame (0.16 s)

#: standard deviation (degrees) of the default head sway in yaw, pitch, roll (the training clips' own
#: within-clip medians are about 3.8, 3.0 and 2.9 degrees, tracker noise included)
POSE_SWAY_DEG = (2.5, 1.6, 1.0)
#: amplitude (degrees of pitch) of the speech-energy nods
NOD_DEG = 1.2


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
    """Openness ``[T, 2]``: open value with a blink every ``every_s − 1.5 … every_s + 2.5`` s (at least 1 s;
    0 = never), deterministic per seed."""
    open_ = np.asarray(stats.blink_open, np.float32)
    closed = np.asarray(stats.blink_closed, np.float32)
    out = np.tile(open_, (n_frames, 1))
    if every_s <= 0:
        return out
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.5, every_s) * FPS  # first blink comes early
    lo, hi = max(1.0, every_s - 1.5), every_s + 2.5
    while t < n_frames:
        s = int(t)
        for i, c in enumerate(BLINK_PROFILE):
            if s + i < n_frames:
                out[s + i] = open_ + c * (closed - open_)
        t += rng.uniform(lo, hi) * FPS
    return out


def _smooth_noise(rng: np.random.Generator, n: int, sigma_frames: float) -> np.ndarray:
    """Unit-std Gaussian-filtered white noise ``[n]`` (filtered with margins, so the ends are not damped)."""
    from scipy.ndimage import gaussian_filter1d

    pad = int(4 * sigma_frames) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma_frames)[pad : pad + n]
    sd = float(np.std(gaussian_filter1d(rng.standard_normal(4096), sigma_frames)))
    return (x / max(sd, 1e-6)).astype(np.float32)


def speech_envelope(wave: np.ndarray | None, n_frames: int, sample_rate: int = 16000) -> np.ndarray:
    """Speech-energy envelope ``[T]`` in [0, 1] at 25 fps: per-frame RMS in dB, 40 dB range below the
    clip's 95th percentile (but at least −30 dBFS, so near-silence stays 0; 0 = no audio)."""
    if wave is None or len(wave) == 0:
        return np.zeros(n_frames, np.float32)
    hop = sample_rate // FPS
    w = np.asarray(wave, np.float32).reshape(-1)
    w = np.pad(w, (0, max(0, n_frames * hop - len(w))))[: n_frames * hop]
    rms = np.sqrt(np.mean(w.reshape(n_frames, hop) ** 2, axis=1) + 1e-10)
    db = 20 * np.log10(rms)
    top = max(float(np.percentile(db, 95)), -30.0) if n_frames else 0.0
    return np.clip((db - (top - 40.0)) / 40.0, 0.0, 1.0).astype(np.float32)


def natural_pose(n_frames: int, wave: np.ndarray | None = None, stats: ControlStats | None = None,
                 scale: float = 1.0, seed: int = 0, sample_rate: int = 16000) -> np.ndarray:
    """Head pose ``[T, 3]`` (yaw, pitch, roll degrees) around the neutral pose: smooth sway (two time
    scales, 1.2 s and 0.4 s), more of it while speaking, and pitch nods on the rises of the speech
    envelope (16 kHz mono ``wave``; None = sway only). Deterministic per ``seed``; ``scale`` 0 = still."""
    from scipy.ndimage import gaussian_filter1d

    stats = stats or ControlStats()
    base = np.tile(np.asarray(stats.pose, np.float32), (n_frames, 1))
    if n_frames == 0 or scale <= 0:
        return base
    rng = np.random.default_rng(int(seed) + 7919)
    env = speech_envelope(wave, n_frames, sample_rate)
    speaking = gaussian_filter1d((env > 0.5).astype(np.float32), 0.8 * FPS)
    amp = 0.6 + 0.4 * np.clip(speaking / max(float(speaking.max()), 1e-6), 0, 1)
    sway = np.stack(
        [0.8 * _smooth_noise(rng, n_frames, 1.2 * FPS) + 0.6 * _smooth_noise(rng, n_frames, 0.4 * FPS)
         for _ in range(3)], 1)  # unit std: 0.8² + 0.6² = 1
    sway *= np.asarray(POSE_SWAY_DEG, np.float32)[None] * amp[:, None]
    # nods: the band-passed envelope (syllable / phrase rises) tilts the head down a little
    band = gaussian_filter1d(env, 2.0) - gaussian_filter1d(env, 8.0)
    band = band / max(float(np.std(band)), 1e-3) if np.any(band) else band
    sway[:, 1] -= NOD_DEG * np.clip(band, -2, 2) * 0.5
    return (base + float(scale) * sway).astype(np.float32)


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
