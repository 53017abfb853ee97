"""The square face crop (shared by training clips and user portraits) and its inverse.

Crop convention (see :func:`crop_box_from_landmarks`): the face size ``s`` is the larger side of the
landmark bounding box (upper forehead to chin, ear to ear), the crop is a square of side ``CROP_SCALE · s``
centred on the box centre shifted up by ``CROP_SHIFT_UP · s`` (to include hair and leave room below the
chin), then limited to the image's short side and shifted inside the image (:func:`fit_in_frame`: no black
borders). The crop is **not** aligned: no rotation, the head moves inside a fixed box per segment.
A box is ``(x0, y0, side)`` in source pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vqtalker.errors import VQTalkerError

CROP_SCALE = 1.8  # crop side / landmark-box side
CROP_SHIFT_UP = 0.08  # centre shift upwards, in units of the landmark-box side

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


#: smallest face crop (side, source pixels) a portrait may give: below it the face is a few dozen pixels
MIN_FACE_CROP = 64


@dataclass
class FaceChoice:
    """The face :func:`select_face` chose: crop ``box (x0, y0, side)`` in source pixels, the number of
    faces detected in the picture, and the index chosen (0 = largest)."""

    box: np.ndarray
    faces: int
    index: int

    def note(self, name) -> str | None:
        """A line for the user when other faces were ignored, else None."""
        others = self.faces - 1
        if others <= 0:
            return None
        return (f"{others} other face(s) in {name} ignored; using face {self.index} (0 = largest), "
                "--face N picks another")


def select_face(image_rgb: np.ndarray, name: str | os.PathLike = "the image", face: int = 0,
                min_crop: int = MIN_FACE_CROP) -> FaceChoice:
    """Find face number ``face`` (largest first) anywhere in ``image_rgb uint8 [H, W, 3]`` and its crop box
    with the training crops' margin convention (:func:`crop_box_from_landmarks`, :func:`fit_in_frame`).

    One-line :class:`VQTalkerError`: ``"no face found in ..."``; ``"face too small: N px, need M"`` when the
    crop side is below ``min_crop`` pixels; a ``face`` index beyond the faces found.
    """
    from vqtalker.face.tracker import find_face

    img = _rgb(image_rgb, name)
    lm, n = find_face(img, face)
    if lm is None:
        raise VQTalkerError(f"no face found in {name}")
    box = fit_in_frame(crop_box_from_landmarks(lm), img.shape[0], img.shape[1])
    if box[2] < min_crop:
        raise VQTalkerError(f"face too small in {name}: {int(box[2])} px crop, need at least {min_crop} px "
                            "(use a larger or closer picture)")
    return FaceChoice(box=box, faces=max(n, 1), index=int(face))


def portrait_box(image_rgb: np.ndarray, name: str | os.PathLike = "the image", face: int = 0) -> np.ndarray:
    """Crop box ``(x0, y0, side)`` (source px) of face ``face`` (0 = largest) of a picture ``uint8 [H, W, 3]``
    (:func:`select_face`). Raises :class:`VQTalkerError` ``"no face found in ..."`` if there is none."""
    return select_face(image_rgb, name, face).box


def _rgb(image_rgb: np.ndarray, name) -> np.ndarray:
    img = np.asarray(image_rgb)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise VQTalkerError(f"expected an RGB image [H, W, 3], got shape {img.shape} for {name}")
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8, copy=False)


def crop_portrait(image_rgb: np.ndarray, size: int, name: str | os.PathLike = "the image") -> np.ndarray:
    """Square face crop ``uint8 [size, size, 3]`` of a portrait, with the training crops' margin convention
    (:func:`portrait_box` + :func:`crop_square`).

    Raises :class:`VQTalkerError` ``"no face found in ..."`` if mediapipe finds no face.
    """
    img = _rgb(image_rgb, name)
    return crop_square(img, portrait_box(img, name), int(size))
