"""PyTorch datasets over a prepared folder (layout: :mod:`vqtalker.data.layout`).

* :class:`FramePairDataset` (stage 1, motion tokenizer / renderer): one item per stored frame; the target is
  that frame, the source another random frame of the same clip; with eye and mouth masks from the stored
  region boxes. Images are float ``[3, S, S]`` in ``[-1, 1]`` (``(x / 255 − 0.5) · 2``).

Frames are memory-mapped uint8 arrays, so ``num_workers=0`` or ``1`` is enough on 2 cores. When ``size``
differs from the stored crop side, frames are resized on the fly (``INTER_AREA`` down, bilinear up) and
boxes/landmarks are scaled accordingly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vqtalker.data.layout import PreparedClip, load_index
from vqtalker.errors import VQTalkerError


def _resize(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[..., H, W, 3]`` → ``[..., size, size, 3]``."""
    import cv2

    if frames.shape[-2] == size:
        return np.asarray(frames)
    interp = cv2.INTER_AREA if frames.shape[-2] > size else cv2.INTER_LINEAR
    if frames.ndim == 3:
        return cv2.resize(np.asarray(frames), (size, size), interpolation=interp)
    return np.stack([cv2.resize(np.asarray(f), (size, size), interpolation=interp) for f in frames])


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``[..., H, W, 3]`` → float ``[..., 3, H, W]`` in ``[-1, 1]``.

    Done in numpy (single-threaded): tiny torch element-wise ops in a loaded 2-core machine pay thread
    hand-off costs that numpy does not.
    """
    x = np.asarray(frames, dtype=np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, -3)))


def box_mask(boxes: np.ndarray, size: int, scale: float = 1.0) -> torch.Tensor:
    """Union of boxes ``[K, 4]`` (x0, y0, x1, y1 stored px, × ``scale``) as a float mask
    ``[1, size, size]``."""
    m = torch.zeros(1, size, size)
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64) * scale:
        a, b = int(np.clip(np.floor(x0), 0, size)), int(np.clip(np.ceil(x1), 0, size))
        c, d = int(np.clip(np.floor(y0), 0, size)), int(np.clip(np.ceil(y1), 0, size))
        m[:, c:d, a:b] = 1.0
    return m


def _mouth_open(landmarks: np.ndarray, side: int) -> torch.Tensor:
    """Mesh ``[478, 3]`` in crop px → inner-lip gap / side × MOUTH_OPEN_SCALE as a float32 0-d tensor (the
    gap of :func:`vqtalker.face.lips.mouth_open`, the same measure as the lip metrics and the stage-2
    data)."""
    from vqtalker.face.landmarks import LIPS
    from vqtalker.face.lips import mouth_opening

    lips = np.asarray(landmarks, dtype=np.float32)[LIPS, :2] / float(side)
    return torch.tensor(float(mouth_opening(lips)), dtype=torch.float32)


class _PreparedBase(Dataset):
    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = "train",
        size: int | None = None,
        clip_ids: list[str] | None = None,
        require_audio: bool = False,
        min_frames: int = 2,
    ):
        self.root = Path(root)
        index = load_index(self.root)
        entries = [c for c in index["clips"] if split is None or c["split"] == split]
        if clip_ids is not None:
            keep = set(clip_ids)
            entries = [c for c in entries if c["id"] in keep]
        if require_audio:
            entries = [c for c in entries if c["has_audio"]]
        entries = [c for c in entries if c["num_frames"] >= min_frames]
        if not entries:
            raise VQTalkerError(
                f"no clips in {self.root} for split={split!r}"
                + (" with audio" if require_audio else "")
                + f" and >= {min_frames} frames"
            )
        self.entries = entries
        self.stored_size = int(entries[0]["size"])
        self.size = int(size or self.stored_size)
        self._clips: dict[int, PreparedClip] = {}

    def clip(self, i: int) -> PreparedClip:
        """Clip ``i`` (opened lazily per worker process)."""
        if i not in self._clips:
            self._clips[i] = PreparedClip.open(self.root / self.entries[i]["dir"])
        return self._clips[i]

    @property
    def scale(self) -> float:
        return self.size / self.stored_size


class FramePairDataset(_PreparedBase):
    """Stage 1 samples: ``(source, target)`` frames of one clip with region masks.

    Item ``dict``: ``source``, ``target`` float ``[3, S, S]`` in ``[-1, 1]``; ``eye_mask``, ``mouth_mask``
    float ``[1, S, S]`` (1 inside the target's eye / mouth boxes); ``source_mouth``, ``target_mouth`` float
    scalars: inner-lip gap (landmarks 13 ↔ 14) / crop side × 20 (:data:`vqtalker.face.lips.MOUTH_OPEN_SCALE`),
    for the renderer's mouth channel; ``clip`` str; ``source_index``, ``target_index`` int. With ``hr_size``
    also ``source_hr``, ``target_hr`` float ``[3, hr_size, hr_size]``: the same frames at the output size of a
    full-resolution renderer (:mod:`vqtalker.motion.fullres`).
    Length = total frames of the selected clips (one item per target frame).
    The source frame is drawn uniformly from the clip (never the target itself) with a generator seeded by
    ``(seed, epoch, index)``; call :meth:`set_epoch` to vary it per epoch.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: int | None = None,
        split: str | None = "train",
        clip_ids: list[str] | None = None,
        seed: int = 0,
        hr_size: int | None = None,
    ):
        super().__init__(root, split, size, clip_ids, require_audio=False, min_frames=2)
        self.hr_size = int(hr_size) if hr_size else None
        self.seed = int(seed)
        self.epoch = 0
        self._cum = np.cumsum([c["num_frames"] for c in self.entries])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self._cum[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Global item index → (clip number, frame index)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        ci = int(np.searchsorted(self._cum, index, side="right"))
        start = 0 if ci == 0 else int(self._cum[ci - 1])
        return ci, index - start

    def __getitem__(self, index: int) -> dict:
        ci, t = self.locate(index)
        clip = self.clip(ci)
        n = clip.num_frames
        rng = np.random.default_rng((self.seed, self.epoch, index))
        s = int(rng.integers(0, n - 1))
        s = s + 1 if s >= t else s
        frames = clip.array("frames")
        src = _resize(frames[s], self.size)
        tgt = _resize(frames[t], self.size)
        reg = np.asarray(clip.array("regions")[t])
        lm = clip.array("landmarks")
        hr = {}
        if self.hr_size:
            hr = {
                "source_hr": to_tensor(_resize(frames[s], self.hr_size)),
                "target_hr": to_tensor(_resize(frames[t], self.hr_size)),
            }
        return {
            **hr,
            "source": to_tensor(src),
            "target": to_tensor(tgt),
            "eye_mask": box_mask(reg[:2], self.size, self.scale),
            "mouth_mask": box_mask(reg[2:3], self.size, self.scale),
            "source_mouth": _mouth_open(lm[s], self.stored_size),
            "target_mouth": _mouth_open(lm[t], self.stored_size),
            "clip": clip.id,
            "source_index": s,
            "target_index": t,
        }
