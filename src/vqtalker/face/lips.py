"""Lip-following metrics on rendered video (mediapipe face mesh on both sides).

Used by ``vqtalker reconstruct --lip-metrics`` (stage 1: does the reconstruction follow the real lips?) and
by the stage-2 dev evaluation (does the speech-driven mouth follow the real one?).

The **mouth opening** everywhere in the project is :func:`mouth_opening`: the inner-lip gap (landmarks
13 ↔ 14) as a fraction of the crop side × :data:`MOUTH_OPEN_SCALE` (≈ 0 closed … 1 wide open).

* **mouth LMD** — mean L2 distance over the 40 lip landmarks (:data:`vqtalker.face.landmarks.LIPS`),
  in % of the crop side, between the generated and the real frames;
* **mouth-open correlation** — Pearson correlation over time of the inner-lip gap (landmarks 13 ↔ 14);
* **mouth-open range ratio** — std of the generated gap / std of the real gap (1 = same amplitude, 0 = a
  frozen mouth; a reconstruction can correlate well and still under-articulate).

Landmarks are found on frames upscaled to at least 256 px (the face mesh misses small faces).
"""

from __future__ import annotations

import numpy as np


def lip_points(frames: np.ndarray, min_side: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``[T, S, S, 3]`` → (lip points ``[T, 40, 2]`` in units of the crop side, found ``bool [T]``).

    Frames without a face get zeros and ``found = False``.
    """
    from vqtalker.face.landmarks import LIPS
    from vqtalker.face.tracker import iter_landmarks

    frames = np.asarray(frames)
    side = frames.shape[1]
    scale = max(1, -(-min_side // side))  # integer upscale so the mesh sees >= min_side px
    pts = np.zeros((len(frames), len(LIPS), 2), np.float32)
    found = np.zeros(len(frames), bool)
    for i, lm in iter_landmarks(frames, upscale=scale):
        if lm is not None:
            pts[i] = np.asarray(lm)[LIPS, :2] / float(side * scale)
            found[i] = True
    return pts, found


def mouth_open(points):
    """Inner-lip gap ``[...]`` from lip points ``[..., 40, 2]`` (order of
    :data:`vqtalker.face.landmarks.LIPS`) in the points' units; numpy in, numpy out, or torch in, torch out
    (differentiable). :func:`mouth_opening` is the scaled measure the project uses."""
    from vqtalker.face.landmarks import INNER_LIP_BOTTOM, INNER_LIP_TOP, LIPS

    top, bottom = LIPS.index(INNER_LIP_TOP), LIPS.index(INNER_LIP_BOTTOM)
    diff = points[..., top, :] - points[..., bottom, :]
    return diff.norm(dim=-1) if hasattr(diff, "norm") else np.linalg.norm(diff, axis=-1)


#: inner-lip gaps are a few % of the crop side; this maps them to roughly 0..1 for regression targets
MOUTH_OPEN_SCALE = 20.0


def mouth_opening(points):
    """The mouth opening ``[...]``: :data:`MOUTH_OPEN_SCALE` × inner-lip gap of lip points ``[..., 40, 2]``
    given as fractions of the crop side (≈ 0 closed … 1 wide open); numpy or torch like :func:`mouth_open`.
    """
    return mouth_open(points) * MOUTH_OPEN_SCALE


def mouth_points(landmarks, side: int):
    """Lip points ``[..., 40, 2]`` as fractions of the crop side from mesh landmarks ``[..., 478, ≥2]`` in
    crop pixels (``side`` = crop side in pixels); float32 numpy."""
    from vqtalker.face.landmarks import LIPS

    return (np.asarray(landmarks)[..., LIPS, :2] / float(side)).astype(np.float32)


def image_mouth_opening(face: np.ndarray) -> float | None:
    """:func:`mouth_opening` of a uint8 face crop ``[S, S, 3]`` (face mesh); None if no face is found."""
    pts, ok = lip_points(face[None])
    return float(mouth_open(pts[0]) * MOUTH_OPEN_SCALE) if ok[0] else None


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant."""
    if len(a) < 2 or a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def compare_lips(gen: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Metrics between lip points ``[T, 40, 2]`` of generated and real frames (same frames, all found)."""
    g, r = mouth_open(gen), mouth_open(real)
    return {
        "mouth_lmd": float(np.linalg.norm(gen - real, axis=-1).mean() * 100),
        "mouth_open_corr": corr(g, r),
        "mouth_open_range": float(g.std() / r.std()) if r.std() > 1e-9 else float("nan"),
    }


def lip_metrics(generated: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Lip metrics of uint8 frames ``generated [T, S, S, 3]`` against ``real [T, S', S', 3]``, plus the
    static baseline (the first real frame held: ``mouth_lmd_static``).

    Returns ``{}`` when a face is found in fewer than half of the frames on either side (unavailable, not 0).
    """
    n = min(len(generated), len(real))
    gen, ok_g = lip_points(generated[:n])
    ref, ok_r = lip_points(real[:n])
    ok = ok_g & ok_r
    if ok.mean() < 0.5 or not ok_r[0]:
        return {}
    out = compare_lips(gen[ok], ref[ok])
    static = np.repeat(ref[:1], int(ok.sum()), 0)
    out["mouth_lmd_static"] = float(np.linalg.norm(static - ref[ok], axis=-1).mean() * 100)
    out["face_found"] = float(ok.mean())
    return out


__all__ = [
    "MOUTH_OPEN_SCALE",
    "mouth_opening",
    "mouth_points",
    "compare_lips",
    "corr",
    "image_mouth_opening",
    "lip_metrics",
    "lip_points",
    "mouth_open",
]
