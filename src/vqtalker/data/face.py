"""Face detection, 478-point face-mesh tracking and the square face crop.

Uses the models bundled in ``mediapipe==0.10.21`` (``solutions.face_mesh`` with ``refine_landmarks=True``
→ 478 points incl. 10 iris points, and ``solutions.face_detection``); nothing is downloaded.

Crop convention (shared by training clips and user portraits, see :func:`crop_box_from_landmarks`):
the face size ``s`` is the larger side of the landmark bounding box (upper forehead to chin, ear to ear),
the crop is a square of side ``CROP_SCALE · s`` centred on the box centre shifted up by
``CROP_SHIFT_UP · s`` (to include hair and leave room below the chin), then limited to the image's short
side and shifted inside the image (:func:`fit_in_frame`: no black borders). The crop is **not** aligned:
no rotation, the head moves inside a fixed box per segment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vqtalker.errors import VQTalkerError

NUM_LANDMARKS = 478
CROP_SCALE = 1.8  # crop side / landmark-box side
CROP_SHIFT_UP = 0.08  # centre shift upwards, in units of the landmark-box side


def _mp_solutions():
    # mediapipe's C++ side logs several INFO/WARNING lines per graph; keep the user's terminal readable
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        from mediapipe.python import solutions
    except ImportError as exc:  # pragma: no cover - environment problem
        raise VQTalkerError(
            "mediapipe 0.10.21 is required for face tracking (pip install --no-deps mediapipe==0.10.21)"
        ) from exc
    return solutions


@dataclass
class Detection:
    """A face detection box in pixels ``(x0, y0, x1, y1)`` with its score."""

    box: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """``[..., 478, 3]`` pixel landmarks → ``[..., 4]`` box ``(x0, y0, x1, y1)``."""
    xy = landmarks[..., :2]
    return np.concatenate([xy.min(axis=-2), xy.max(axis=-2)], axis=-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / ua) if ua > 0 else 0.0


def crop_box_from_face(center: np.ndarray, face_size: float, scale: float = CROP_SCALE) -> np.ndarray:
    """Square crop ``(x0, y0, side)`` (float px) for a face of landmark-box side ``face_size``."""
    side = float(scale * face_size)
    cx = float(center[0])
    cy = float(center[1]) - CROP_SHIFT_UP * float(face_size)
    return np.array([cx - side / 2, cy - side / 2, side], dtype=np.float64)


def crop_box_from_landmarks(landmarks: np.ndarray, scale: float = CROP_SCALE) -> np.ndarray:
    """Crop box ``(x0, y0, side)`` for one frame's pixel landmarks ``[478, 3]``."""
    b = landmark_box(landmarks)
    center = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    return crop_box_from_face(center, max(b[2] - b[0], b[3] - b[1]), scale)


def fit_in_frame(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """Shrink a crop box ``(x0, y0, side)`` to at most the frame's short side and shift it inside the frame.

    Pre-cropped sources (face filling a 256² video) then give the full frame instead of black borders, and
    a face near the frame edge sits off-centre rather than next to padding. Returns ``(x0, y0, side)``.
    """
    x0, y0, side = (float(v) for v in box)
    side = min(side, float(height), float(width))
    x0 = min(max(x0, 0.0), width - side)
    y0 = min(max(y0, 0.0), height - side)
    return np.array([x0, y0, side], dtype=np.float64)


def crop_square(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Cut the square ``box = (x0, y0, side)`` out of ``image [H, W, 3]`` and resize to ``[size, size, 3]``.

    The box is rounded to whole pixels (use :func:`round_box` first so that landmarks are mapped with the
    very same box); parts outside the image are black. ``INTER_AREA`` when shrinking, bilinear otherwise.
    A pixel-space point ``p`` maps to ``(p - (x0, y0)) * size / side`` in the crop.
    """
    import cv2

    x0, y0, side = (int(v) for v in round_box(box))
    h, w = image.shape[:2]
    x1, y1 = x0 + side, y0 + side
    sub = image[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
    pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if sub.size == 0:
        return np.zeros((size, size, 3), np.uint8)
    if any(pad):
        sub = cv2.copyMakeBorder(sub, *pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(sub), (size, size), interpolation=interp)


def round_box(box: np.ndarray) -> np.ndarray:
    """Round a crop box ``(x0, y0, side)`` to integers (side >= 2)."""
    x0, y0, side = (float(v) for v in box)
    return np.array([int(round(x0)), int(round(y0)), max(2, int(round(side)))], dtype=np.int64)


def landmarks_to_crop(landmarks: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Map pixel landmarks ``[..., 478, 3]`` into the ``size``-pixel crop of ``box`` (z scaled like x)."""
    x0, y0, side = (float(v) for v in round_box(box))
    s = size / side
    out = np.array(landmarks, dtype=np.float32, copy=True)
    out[..., 0] = (out[..., 0] - x0) * s
    out[..., 1] = (out[..., 1] - y0) * s
    out[..., 2] = out[..., 2] * s
    return out


class FaceTracker:
    """Per-frame 478-point face mesh in video (tracking) mode, plus face detection for the main speaker.

    ``track(frame)`` → ``float32 [478, 3]`` landmarks in **pixels of the given frame** (x right, y down,
    z depth in the same pixel scale as x, smaller = closer to the camera) or ``None`` if no face.
    Frames larger than ``max_side`` are downscaled for the mesh (landmarks are returned at full scale).

    Use one tracker per clip (``reset()`` between clips): tracking mode reuses the previous frame's face.
    """

    def __init__(self, max_side: int = 960, min_confidence: float = 0.5, static: bool = False):
        self.max_side = int(max_side)
        self.min_confidence = float(min_confidence)
        self.static = bool(static)
        self._mesh = None
        self._det = None

    # -- lifecycle
    def _make_mesh(self):
        sol = _mp_solutions()
        return sol.face_mesh.FaceMesh(
            static_image_mode=self.static,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=self.min_confidence,
            min_tracking_confidence=self.min_confidence,
        )

    def reset(self) -> None:
        """Forget the tracked face (call at clip boundaries and after cuts)."""
        if self._mesh is not None:
            self._mesh.close()
        self._mesh = None

    def close(self) -> None:
        self.reset()
        if self._det is not None:
            self._det.close()
            self._det = None

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers
    def _scaled(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        h, w = frame.shape[:2]
        m = max(h, w)
        if m <= self.max_side:
            return np.ascontiguousarray(frame), 1.0
        f = self.max_side / m
        small = cv2.resize(frame, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        return small, f

    # -- API
    def track(self, frame: np.ndarray) -> np.ndarray | None:
        """Landmarks ``float32 [478, 3]`` (px) of the tracked face in ``frame [H, W, 3]`` RGB, or ``None``."""
        if self._mesh is None:
            self._mesh = self._make_mesh()
        small, f = self._scaled(frame)
        res = self._mesh.process(small)
        if not res.multi_face_landmarks:
            return None
        lms = res.multi_face_landmarks[0].landmark
        hs, ws = small.shape[:2]
        arr = np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32)
        if arr.shape[0] != NUM_LANDMARKS:
            return None
        arr[:, 0] *= ws / f
        arr[:, 1] *= hs / f
        arr[:, 2] *= ws / f
        return arr

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """All faces in ``frame`` (full-range detector), largest first, boxes in pixels."""
        if self._det is None:
            self._det = _mp_solutions().face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.min_confidence
            )
        small, f = self._scaled(frame)
        res = self._det.process(small)
        out = []
        hs, ws = small.shape[:2]
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            box = np.array(
                [bb.xmin * ws, bb.ymin * hs, (bb.xmin + bb.width) * ws, (bb.ymin + bb.height) * hs]
            ) / f
            out.append(Detection(box=box, score=float(d.score[0]) if d.score else 0.0))
        out.sort(key=lambda d: -d.area)
        return out


def detect_landmarks_image(image_rgb: np.ndarray) -> np.ndarray | None:
    """Landmarks ``[478, 3]`` (pixels) of the largest face in one still image, or ``None``.

    If several faces are detected, the mesh runs on a crop around the largest detection.
    """
    with FaceTracker(static=True, max_side=1280) as tr:
        lm = tr.track(image_rgb)
        dets = tr.detect(image_rgb)
        if len(dets) > 1:
            b = dets[0].box
            side = 2.2 * max(b[2] - b[0], b[3] - b[1])
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            sub = image_rgb[y0 : int(cy + side / 2), x0 : int(cx + side / 2)]
            lm2 = tr.track(np.ascontiguousarray(sub)) if sub.size else None
            tr.reset()
            if lm2 is not None:
                lm2[:, 0] += x0
                lm2[:, 1] += y0
                return lm2
    return lm


def crop_portrait(image_rgb: np.ndarray, size: int, name: str | os.PathLike = "the image") -> np.ndarray:
    """Square face crop ``uint8 [size, size, 3]`` of a portrait, with the training crops' margin convention.

    Raises :class:`VQTalkerError` ``"no face found in ..."`` if mediapipe finds no face.
    """
    img = np.asarray(image_rgb)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise VQTalkerError(f"expected an RGB image [H, W, 3], got shape {img.shape} for {name}")
    img = np.ascontiguousarray(img[..., :3]).astype(np.uint8, copy=False)
    lm = detect_landmarks_image(img)
    if lm is None:
        raise VQTalkerError(f"no face found in {name}")
    box = fit_in_frame(crop_box_from_landmarks(lm), img.shape[0], img.shape[1])
    return crop_square(img, box, int(size))
