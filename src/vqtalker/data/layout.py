"""On-disk layout of a prepared dataset (written by :mod:`vqtalker.data.prepare`, read by the datasets).

::

    OUT/
      index.json                 # {"version", "clips": [{"id", "split", "dir", "num_frames", ...}]}
      summary.json               # last run's summary (clips, segments, frames, skipped + why, frames/s)
      prepare.log                # append-only log of every run
      previews/<clip_id>.png     # --preview contact sheets
      .done/<source_key>.json    # per-source completion markers (resume); hidden
      <split>/<clip_id>/         # one directory per kept segment ("clip"), written atomically
        frames.npy               # uint8 [T, S, S, 3] RGB face crops at 25 fps (np.load(mmap_mode="r"))
        landmarks.npy            # float32 [T, 478, 3] mediapipe mesh in crop pixels (z in the x scale)
        pose.npy                 # float32 [T, 3] yaw, pitch, roll (degrees)
        gaze.npy                 # float32 [T, 2] horizontal, vertical iris offset (dimensionless)
        blink.npy                # float32 [T, 2] left, right eye openness (eye aspect ratio)
        regions.npy              # float32 [T, 3, 4] left-eye, right-eye, mouth boxes (x0, y0, x1, y1) crop px
        audio.wav                # 16 kHz mono PCM16, exactly T * 640 samples (absent without speech)
        meta.json                # source, licence, language, fps, size, frame count, segment info

Why raw uint8 ``.npy``: a memory-mapped array gives any frame or window with one ``memcpy`` and no
decoding, so two CPU cores spend their time training rather than decoding video (an H.264 decode of a
256² frame costs ~1 ms plus seeking to the previous keyframe; a memmap read costs ~0.02 ms). The price is
disk: 196 KB per 256² frame (49 KB at 128²).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vqtalker.constants import SAMPLES_PER_FRAME
from vqtalker.errors import VQTalkerError

INDEX_NAME = "index.json"
META_NAME = "meta.json"
LAYOUT_VERSION = 1
ARRAY_FILES = ("frames", "landmarks", "pose", "gaze", "blink", "regions")


def build_index(root: str | os.PathLike) -> dict:
    """Scan ``root/*/*/meta.json`` and return the index dict (sorted by split, id)."""
    root = Path(root)
    clips = []
    for meta_path in sorted(root.glob(f"*/*/{META_NAME}")):
        if meta_path.parent.name.startswith("."):
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        clips.append(
            {
                "id": meta["id"],
                "split": meta["split"],
                "dir": str(meta_path.parent.relative_to(root)),
                "num_frames": int(meta["num_frames"]),
                "size": int(meta["size"]),
                "has_audio": bool(meta["has_audio"]),
                "source": meta.get("source"),
                "identity": meta.get("identity"),
                "license": meta.get("license"),
                "language": meta.get("language"),
            }
        )
    clips.sort(key=lambda c: (c["split"], c["id"]))
    return {"version": LAYOUT_VERSION, "fps": 25.0, "sample_rate": 16000, "clips": clips}


def write_index(root: str | os.PathLike) -> dict:
    """Rebuild ``root/index.json`` atomically from the clip directories; returns it."""
    from vqtalker.utils import atomic_write_bytes

    index = build_index(root)
    atomic_write_bytes(Path(root) / INDEX_NAME, json.dumps(index, indent=1).encode())
    return index


def load_index(root: str | os.PathLike) -> dict:
    """Read ``root/index.json`` (or scan the clip directories when it is missing)."""
    root = Path(root)
    if not root.is_dir():
        raise VQTalkerError(f"prepared dataset not found: {root}")
    p = root / INDEX_NAME
    index = json.loads(p.read_text()) if p.is_file() else build_index(root)
    if not index["clips"]:
        raise VQTalkerError(f"no prepared clips in {root} (run `vqtalker prepare RAW_DIR {root}` first)")
    return index


@dataclass
class PreparedClip:
    """Lazy, memory-mapped access to one clip directory."""

    path: Path
    meta: dict = field(default_factory=dict)
    _arrays: dict = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike) -> PreparedClip:
        path = Path(path)
        try:
            meta = json.loads((path / META_NAME).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise VQTalkerError(f"not a prepared clip directory: {path} ({exc})") from exc
        return cls(path=path, meta=meta)

    @property
    def id(self) -> str:
        return self.meta["id"]

    @property
    def num_frames(self) -> int:
        return int(self.meta["num_frames"])

    @property
    def has_audio(self) -> bool:
        return bool(self.meta["has_audio"])

    def array(self, name: str) -> np.ndarray:
        """``np.load(mmap_mode="r")`` of ``<name>.npy`` (cached per process)."""
        if name not in self._arrays:
            self._arrays[name] = np.load(self.path / f"{name}.npy", mmap_mode="r")
        return self._arrays[name]

    def audio(self, start_frame: int = 0, num_frames: int | None = None) -> np.ndarray:
        """float32 ``[num_frames * 640]`` samples aligned to frames from ``start_frame`` (0 if no audio)."""
        import soundfile as sf

        n = self.num_frames - start_frame if num_frames is None else num_frames
        total = n * SAMPLES_PER_FRAME
        if not self.has_audio:
            return np.zeros(total, np.float32)
        s0 = start_frame * SAMPLES_PER_FRAME
        wave, _ = sf.read(str(self.path / "audio.wav"), start=s0, stop=s0 + total, dtype="float32")
        if wave.shape[0] < total:
            wave = np.pad(wave, (0, total - wave.shape[0]))
        return wave
