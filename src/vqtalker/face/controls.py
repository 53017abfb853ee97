"""Per-frame control signals from 478-point face-mesh landmarks: head pose, gaze, blink, region boxes.

All functions take landmarks ``[T, 478, 3]`` in pixel units of one image (x right, y down, z depth in the
same scale as x, smaller = closer to the camera; mediapipe ``refine_landmarks=True`` ordering) and are
pure numpy, so the same code serves data preparation, evaluation and inference.

Signals (the paper's ``h ∈ R³``, ``g ∈ R²``, ``b ∈ R²``):

* **pose** ``[T, 3]`` = (yaw, pitch, roll) in **degrees**. A scaled rotation (Kabsch/Procrustes) is fitted
  from a neutral reference mesh (:data:`vqtalker.face.reference.REFERENCE_POINTS`, rigid points only:
  upper face outline, nose, eye corners) to the frame's rigid points; ``R = Rz·Ry·Rx`` is decomposed (so an
  in-plane image rotation changes roll only) and
  signed so that **yaw > 0** = face turned towards image right (the subject's left), **pitch > 0** = face
  tilted up, **roll > 0** = head rotated counter-clockwise on screen (same sense as a positive
  ``cv2.getRotationMatrix2D`` angle). Range about ±90 / ±60 / ±90; 0 = frontal upright.
* **gaze** ``[T, 2]`` = (horizontal, vertical), **dimensionless**: iris centre offset from the midpoint of
  the eye corners, projected on the eye axis (horizontal, > 0 = towards image right) and its normal
  (vertical, > 0 = downwards), divided by half the eye width, averaged over both eyes. Straight ahead ≈ 0,
  extremes ≈ ±0.5. It is relative to the head (not camera-space gaze angles).
* **blink** ``[T, 2]`` = (left, right) **eye openness** = eye aspect ratio (mean of two lid distances over
  the corner distance) of the subject's left / right eye: ≈ 0.25–0.35 open, < 0.1 closed.
* **regions** ``[T, 3, 4]`` = boxes ``(x0, y0, x1, y1)`` (pixels) of the left eye, right eye and mouth,
  enlarged by a margin, for the region-weighted loss of stage 1.
"""

from __future__ import annotations

import numpy as np

from vqtalker.errors import VQTalkerError
from vqtalker.face.landmarks import (
    EAR_LEFT,
    EAR_RIGHT,
    LEFT_EYE,
    LEFT_IRIS,
    LIPS,
    RIGHT_EYE,
    RIGHT_IRIS,
    RIGID,
)

DEFAULT_REGION_MARGIN = {"eye": 0.35, "mouth": 0.25}  # fraction of the region box size added per side


def _check(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim == 2:
        lm = lm[None]
    if lm.ndim != 3 or lm.shape[1] != 478 or lm.shape[2] != 3:
        raise VQTalkerError(f"expected landmarks [T, 478, 3], got {tuple(np.shape(landmarks))}")
    return lm


def kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Similarity fit ``dst ≈ s · R @ src + t`` for point sets ``[N, 3]``; returns ``(R [3,3], s, t [3])``."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    h = a.T @ b
    u, sv, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    dm = np.diag([1.0, 1.0, d])
    r = vt.T @ dm @ u.T
    s = float((sv * np.diag(dm)).sum() / max((a * a).sum(), 1e-12))
    return r, s, mu_d - s * r @ mu_s


def rotation_to_euler(r: np.ndarray) -> np.ndarray:
    """Rotation ``[3, 3]`` (image axes: x right, y down, z away) → (yaw, pitch, roll) degrees (module doc)."""
    from scipy.spatial.transform import Rotation

    c, a, b = Rotation.from_matrix(r).as_euler("ZYX", degrees=True)  # R = Rz(c) · Ry(a) · Rx(b)
    return np.array([-a, -b, -c])


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """``[T, 478, 3]`` → ``[T, 3]`` (yaw, pitch, roll) degrees."""
    from vqtalker.face.reference import REFERENCE_POINTS

    lm = _check(landmarks)
    ref = np.asarray(REFERENCE_POINTS, dtype=np.float64)
    out = np.zeros((lm.shape[0], 3))
    for t in range(lm.shape[0]):
        r, _, _ = kabsch(ref, lm[t, RIGID])
        out[t] = rotation_to_euler(r)
    return out


def _eye_frame(lm: np.ndarray, outer: int, inner: int) -> tuple[np.ndarray, ...]:
    """Eye centre ``[T,2]``, unit axis towards image right ``[T,2]``, its normal (down), half width."""
    p_o, p_i = lm[:, outer, :2], lm[:, inner, :2]
    centre = 0.5 * (p_o + p_i)
    axis = p_i - p_o
    axis = np.where((axis[:, :1] < 0), -axis, axis)  # orient towards +x
    half = 0.5 * np.linalg.norm(axis, axis=1)
    axis = axis / np.maximum(2 * half, 1e-9)[:, None]
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1)  # +90° in y-down coords: points down
    return centre, axis, normal, half


def gaze(landmarks: np.ndarray) -> np.ndarray:
    """``[T, 478, 3]`` → ``[T, 2]`` (horizontal, vertical) normalised iris offset (see module doc)."""
    lm = _check(landmarks)
    vals = []
    for outer, inner, iris in ((263, 362, 473), (33, 133, 468)):
        c, ax, nr, half = _eye_frame(lm, outer, inner)
        d = lm[:, iris, :2] - c
        h = (d * ax).sum(1) / np.maximum(half, 1e-9)
        v = (d * nr).sum(1) / np.maximum(half, 1e-9)
        vals.append(np.stack([h, v], 1))
    return 0.5 * (vals[0] + vals[1])


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """``[T, 478, 3]`` → ``[T, 2]`` eye aspect ratio of the subject's (left, right) eye."""
    lm = _check(landmarks)[..., :2]
    out = []
    for p1, p2, p3, p4, p5, p6 in (EAR_LEFT, EAR_RIGHT):
        v1 = np.linalg.norm(lm[:, p2] - lm[:, p6], axis=1)
        v2 = np.linalg.norm(lm[:, p3] - lm[:, p5], axis=1)
        h = np.linalg.norm(lm[:, p1] - lm[:, p4], axis=1)
        out.append((v1 + v2) / np.maximum(2.0 * h, 1e-9))
    return np.stack(out, 1)


def _box(pts: np.ndarray, margin: float, min_aspect: float = 0.0) -> np.ndarray:
    x0, y0 = pts[..., 0].min(-1), pts[..., 1].min(-1)
    x1, y1 = pts[..., 0].max(-1), pts[..., 1].max(-1)
    w, h = x1 - x0, y1 - y0
    h_eff = np.maximum(h, min_aspect * w)
    cy = 0.5 * (y0 + y1)
    mx, my = margin * w, margin * h_eff
    return np.stack([x0 - mx, cy - h_eff / 2 - my, x1 + mx, cy + h_eff / 2 + my], -1)


def region_boxes(landmarks: np.ndarray, margin: dict | None = None) -> np.ndarray:
    """``[T, 478, 3]`` → ``[T, 3, 4]`` boxes (x0, y0, x1, y1) of left eye, right eye, mouth (pixels).

    Eye boxes are at least half as tall as wide (so a closed eye still has a region); the mouth box covers
    the outer lip contour. Each side is enlarged by ``margin`` × the box size.
    """
    m = {**DEFAULT_REGION_MARGIN, **(margin or {})}
    lm = _check(landmarks)
    le = _box(lm[:, LEFT_EYE + LEFT_IRIS], m["eye"], 0.5)
    re = _box(lm[:, RIGHT_EYE + RIGHT_IRIS], m["eye"], 0.5)
    mo = _box(lm[:, LIPS], m["mouth"], 0.3)
    return np.stack([le, re, mo], 1).astype(np.float32)


def compute_controls(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """``landmarks [T, 478, 3]`` → float32 ``dict(pose [T,3] deg, gaze [T,2], blink [T,2], regions [T,3,4])``.
    """
    return {
        "pose": head_pose(landmarks).astype(np.float32),
        "gaze": gaze(landmarks).astype(np.float32),
        "blink": eye_openness(landmarks).astype(np.float32),
        "regions": region_boxes(landmarks),
    }


def build_reference(landmark_sets: list[np.ndarray], iters: int = 5) -> np.ndarray:
    """Neutral reference for :func:`head_pose` from frontal faces' landmarks (each ``[478, 3]``).

    Generalised Procrustes mean of the full meshes, then oriented so that the outer eye corners (33, 263)
    lie on the +x axis at equal depth (yaw = roll = 0) and forehead top (10) and chin (152) are at equal
    depth, then rotated about x so that the inputs' mean pitch is 0 (camera-facing = 0). Returns the rigid
    points ``[len(RIGID), 3]``, centred, unit RMS radius. This is how
    :data:`vqtalker.face.reference.REFERENCE_POINTS` was made (from synthetic StyleGAN portraits).
    """
    shapes = [np.asarray(s, np.float64)[:468] for s in landmark_sets]
    mean = shapes[0] - shapes[0].mean(0)
    for _ in range(iters):
        aligned = []
        for s in shapes:
            r, sc, t = kabsch(s, mean)
            aligned.append(sc * s @ r.T + t)
        mean = np.mean(aligned, 0)
        mean -= mean.mean(0)
        mean /= np.sqrt((mean**2).sum(1).mean())
    # orientation: x along eye corners (right eye outer 33 -> left eye outer 263), y down, z away
    ex = mean[263] - mean[33]
    ex /= np.linalg.norm(ex)
    fy = mean[152] - mean[10]
    ey = fy - ex * (fy @ ex)
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    basis = np.stack([ex, ey, ez])  # rows
    oriented = mean @ basis.T
    rig = oriented[RIGID]
    rig -= rig.mean(0)
    rig /= np.sqrt((rig**2).sum(1).mean())
    # pitch 0 := the mean pitch of the (camera-facing) input faces, not the arbitrary forehead/chin plane
    pitches = []
    for s in shapes:
        r, _, _ = kabsch(rig, np.asarray(s, np.float64)[RIGID])
        pitches.append(rotation_to_euler(r)[1])
    b = np.deg2rad(-float(np.mean(pitches)))  # pitch = -angle about x
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rig @ rx.T
