"""Face detection and 478-point face-mesh tracking (one loop for every video → landmarks job).

Uses the models bundled in ``mediapipe==0.10.21`` (``solutions.face_mesh`` with ``refine_landmarks=True``
→ 478 points incl. 10 iris points, and ``solutions.face_detection``); nothing is downloaded.

"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vqtalker.errors import VQTalkerError

NUM_LANDMARKS = 478


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
        small, f = self._scaled(frame)
        if self._mesh is None:
            from vqtalker.utils.quiet import native_stderr_silenced

            with native_stderr_silenced():  # the graph logs on creation and first call only
                self._mesh = self._make_mesh()
                res = self._mesh.process(small)
        else:
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
        small, f = self._scaled(frame)
        if self._det is None:
            from vqtalker.utils.quiet import native_stderr_silenced

            with native_stderr_silenced():
                self._det = _mp_solutions().face_detection.FaceDetection(
                    model_selection=1, min_detection_confidence=self.min_confidence
                )
                res = self._det.process(small)
        else:
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


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _detect_multiscale(tr: FaceTracker, img: np.ndarray) -> list[Detection]:
    """Detections on the whole picture; if none, on overlapping tiles of 1/2 then 1/4 of its short side (the
    detector sees a 192-px picture, so a small face in a large photo is only found in a tile); duplicates
    (IoU > 0.3) merged; largest first."""
    dets = tr.detect(img)
    h, w = img.shape[:2]
    for frac in (2, 4):
        if dets:
            break
        side = min(h, w) // frac
        if side < 96:
            break
        step = side // 2
        found: list[Detection] = []
        for y in range(0, max(1, h - side) + step, step):
            for x in range(0, max(1, w - side) + step, step):
                y0, x0 = min(y, max(0, h - side)), min(x, max(0, w - side))
                for d in tr.detect(np.ascontiguousarray(img[y0 : y0 + side, x0 : x0 + side])):
                    d.box = d.box + np.array([x0, y0, x0, y0], dtype=np.float64)
                    if all(_iou(d.box, e.box) <= 0.3 for e in found):
                        found.append(d)
        dets = found
    dets.sort(key=lambda d: -d.area)
    return dets


def detect_landmarks_image(image_rgb: np.ndarray, face: int = 0) -> np.ndarray | None:
    """Landmarks ``[478, 3]`` (pixels) of face number ``face`` (0 = the largest) in one still image, or
    ``None``; see :func:`find_face`."""
    return find_face(image_rgb, face)[0]


def find_face(image_rgb: np.ndarray, face: int = 0, mesh_side: int = 384) -> tuple[np.ndarray | None, int]:
    """Faces anywhere in a still image ``uint8 [H, W, 3]`` → ``(landmarks [478, 3] in pixels of face
    number ``face`` or None, number of faces detected)``.

    The full-range face detector finds every face (largest first); the mesh then runs on a square region
    2.2× the chosen detection, resized so that it is ``mesh_side`` px (small faces in large pictures are
    found as well as close-ups). Without any detection the mesh runs on the whole image (a face too large
    or too cropped for the detector). ``face`` beyond the faces found is a :class:`VQTalkerError`.
    """
    import cv2

    img = np.ascontiguousarray(image_rgb)
    with FaceTracker(static=True, max_side=1280) as tr:
        dets = _detect_multiscale(tr, img)
        if not dets:
            if face:
                raise VQTalkerError(f"--face {face}: no face detected (faces are numbered from 0)")
            return tr.track(img), 0
        if not 0 <= face < len(dets):
            n = len(dets)
            raise VQTalkerError(f"--face {face}: only {n} face(s) found (numbered 0..{n - 1}, largest first)")
        b = dets[face].box
        side = 2.2 * max(b[2] - b[0], b[3] - b[1], 1.0)
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        h, w = img.shape[:2]
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        sub = img[y0:y1, x0:x1]
        if sub.size == 0:
            return None, len(dets)
        f = mesh_side / max(sub.shape[:2])
        interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
        sub = cv2.resize(sub, (max(1, round(sub.shape[1] * f)), max(1, round(sub.shape[0] * f))),
                         interpolation=interp)
        lm = tr.track(np.ascontiguousarray(sub))
        if lm is None:
            # the mesh rejected that region (a false detection?): for the default face, the whole picture
            tr.reset()
            return (tr.track(img) if face == 0 else None), len(dets)
        lm = lm.copy()
        lm[:, :3] /= f
        lm[:, 0] += x0
        lm[:, 1] += y0
        return lm, len(dets)


def iter_landmarks(frames, *, static: bool = False, upscale: int = 1, max_side: int = 960):
    """The one video → landmarks loop: yield ``(i, landmarks float32 [478, 3] or None)`` per frame of an
    iterable of uint8 RGB frames ``[H, W, 3]``.

    Landmarks are in pixels of the frame **as tracked**: with ``upscale = k > 1`` each frame is enlarged
    k-fold (pixel repetition) first, because the face mesh misses small faces; divide by ``k`` for the
    frame's own pixels. ``static``: independent per-frame detection instead of tracking mode.
    """
    with FaceTracker(max_side=max_side, static=static) as tr:
        for i, fr in enumerate(frames):
            img = np.repeat(np.repeat(fr, upscale, 0), upscale, 1) if upscale > 1 else fr
            yield i, tr.track(np.ascontiguousarray(img))


def track_frames(frames, *, static: bool = False, upscale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All landmarks of ``frames`` (see :func:`iter_landmarks`) → ``(float32 [T, 478, 3], found bool [T])``;
    frames without a face are zeros."""
    lms, found = [], []
    for _, lm in iter_landmarks(frames, static=static, upscale=upscale):
        found.append(lm is not None)
        lms.append(lm if lm is not None else np.zeros((NUM_LANDMARKS, 3), np.float32))
    if not lms:
        return np.zeros((0, NUM_LANDMARKS, 3), np.float32), np.zeros(0, bool)
    return np.stack(lms), np.array(found)
