"""Face geometry, below everything that needs a face: tracking, index sets, crops, controls, lip measures.

* :mod:`~vqtalker.face.tracker` — mediapipe face mesh (478 points) / detection; :func:`iter_landmarks`, the
  one video → landmarks loop;
* :mod:`~vqtalker.face.landmarks` — index sets of the mesh (lips, eyes, irises, rigid points);
* :mod:`~vqtalker.face.crop` — the square crop convention and :func:`crop_portrait`;
* :mod:`~vqtalker.face.paste` — the inverse: an animated crop pasted back into the whole picture;
* :mod:`~vqtalker.face.controls` — pose (yaw, pitch, roll degrees), gaze, blink, eye/mouth boxes from
  landmarks ``[T, 478, 3]`` (:mod:`~vqtalker.face.reference`: the neutral pose reference);
* :mod:`~vqtalker.face.lips` — the mouth opening (:func:`mouth_opening`) and lip-following metrics.
"""

from vqtalker.face.controls import compute_controls
from vqtalker.face.crop import (
    CROP_SCALE,
    CROP_SHIFT_UP,
    crop_box_from_landmarks,
    crop_portrait,
    crop_square,
    fit_in_frame,
    landmarks_to_crop,
    round_box,
)
from vqtalker.face.landmarks import LIPS
from vqtalker.face.lips import MOUTH_OPEN_SCALE, lip_points, mouth_open, mouth_opening, mouth_points
from vqtalker.face.tracker import FaceTracker, detect_landmarks_image, iter_landmarks, track_frames

__all__ = [
    "CROP_SCALE",
    "CROP_SHIFT_UP",
    "FaceTracker",
    "LIPS",
    "MOUTH_OPEN_SCALE",
    "compute_controls",
    "crop_box_from_landmarks",
    "crop_portrait",
    "crop_square",
    "detect_landmarks_image",
    "fit_in_frame",
    "iter_landmarks",
    "landmarks_to_crop",
    "lip_points",
    "mouth_open",
    "mouth_opening",
    "mouth_points",
    "round_box",
    "track_frames",
]
