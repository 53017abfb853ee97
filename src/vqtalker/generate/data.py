"""Stage-2 training data: a per-clip cache of stage-1 codes and speech units, and random training windows.

Running the stage-1 encoder on every training window would dominate CPU training, so each prepared clip is
encoded **once** into ``CACHE/<split>/<clip_id>.safetensors``:

* ``f_g [T, L]`` float32 — stage-1 global feature of every frame (f_g of whichever frame is the reference);
* ``f [T, M]`` float32 — stage-1 motion code of every frame;
* ``units [2T]`` long (or ``[2T, D]`` float for continuous audio) — speech units at 50 Hz;
* ``pose [T, 3]`` deg, ``gaze [T, 2]``, ``blink [T, 2]`` — controls at 25 fps;
* ``mouth [T, 40, 2]`` float32 — lip landmarks divided by the crop size (for the lip metric).

The token targets of a window with reference frame ``s`` are ``GRFSQ(f_t − f_s)`` — computed per batch with
the frozen quantizer (1 128 parameters, negligible), so the reference can be the window's first frame
(default, as in the paper) or a random frame (augmentation) without re-encoding images. ``CACHE/cache.json``
records the stage-1 file and speech tokenizer the cache was made with; a mismatch rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqtalker.errors import VQTalkerError
from vqtalker.face.lips import mouth_points

CACHE_FORMAT = "vqtalker-stage2-cache-v1"
FIELDS = ("f_g", "f", "units", "pose", "gaze", "blink", "mouth")


def file_fingerprint(path: str | os.PathLike) -> str:
    """sha256 of a file (weights are tens of MB at most; read in 1 MB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@dataclass
class ClipCache:
    """One cached clip (see module docstring); tensors on CPU."""

    id: str
    split: str
    f_g: torch.Tensor
    f: torch.Tensor
    units: torch.Tensor
    pose: torch.Tensor
    gaze: torch.Tensor
    blink: torch.Tensor
    mouth: torch.Tensor

    @property
    def num_frames(self) -> int:
        return int(self.f.shape[0])

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        from vqtalker.utils import atomic_output

        with atomic_output(path) as tmp:
            save_file(
                {k: getattr(self, k).contiguous() for k in FIELDS},
                str(tmp),
                metadata={"id": self.id, "split": self.split},
            )

    @classmethod
    def load(cls, path: Path) -> ClipCache:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            d = {k: f.get_tensor(k) for k in FIELDS}
        return cls(id=meta["id"], split=meta["split"], **d)


def encode_clip(clip, stage1, speech_tokenizer, split: str) -> ClipCache:
    """A :class:`vqtalker.data.layout.PreparedClip` → :class:`ClipCache` with the frozen stage 1."""
    from vqtalker.speech.base import align_tokens

    t = clip.num_frames
    frames = clip.array("frames")
    f_g, f = stage1.encode_codes(frames)
    wave = clip.audio()
    if getattr(speech_tokenizer, "is_discrete", True):
        units = speech_tokenizer.encode(wave, 16000).long()
    else:
        units = speech_tokenizer.encode_features(wave, 16000).float()
    units = align_tokens(units, t)
    lm = clip.array("landmarks")
    return ClipCache(
        id=clip.id,
        split=split,
        f_g=f_g,
        f=f,
        units=units,
        pose=torch.from_numpy(np.array(clip.array("pose"), np.float32)),
        gaze=torch.from_numpy(np.array(clip.array("gaze"), np.float32)),
        blink=torch.from_numpy(np.array(clip.array("blink"), np.float32)),
        mouth=torch.from_numpy(mouth_points(lm, frames.shape[1])),
    )


def planned_clips(
    data_root: str | os.PathLike, splits: tuple[str, ...], min_frames: int = 8, max_clips: int = 0
) -> list[dict]:
    """Index entries of the clips with speech (and at least ``min_frames``) in ``splits``; the first
    ``max_clips`` per split (sorted by id) when ``max_clips > 0``."""
    from vqtalker.data.layout import load_index

    index = load_index(data_root)
    out = []
    for split in splits:
        clips = [c for c in index["clips"] if c["split"] == split and c["has_audio"]]
        clips = sorted((c for c in clips if c["num_frames"] >= min_frames), key=lambda c: c["id"])
        out += clips[:max_clips] if max_clips > 0 else clips
    if not out:
        raise VQTalkerError(f"no clips with speech in splits {splits} of {data_root}")
    return out


def cache_path(cache_dir: str | os.PathLike, clip: dict) -> Path:
    return Path(cache_dir) / clip["split"] / f"{clip['id']}.safetensors"


def build_cache(
    data_root: str | os.PathLike,
    cache_dir: str | os.PathLike,
    stage1,
    speech_tokenizer,
    key: dict,
    clips: list[dict],
    log=print,
) -> list[Path]:
    """Encode ``clips`` (entries of :func:`planned_clips`) into ``cache_dir``; resumable (finished clips are
    kept). ``key`` identifies the stage-1 weights and tokenizer; a cache made with another key is cleared
    first. Returns the cache files.
    """
    from vqtalker.data.layout import PreparedClip
    from vqtalker.utils import atomic_write_bytes

    data_root, cache_dir = Path(data_root), Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key_path = cache_dir / "cache.json"
    key = {"format": CACHE_FORMAT, **key}
    if key_path.is_file() and json.loads(key_path.read_text()) != key:
        log(f"stage-2 cache {cache_dir} was made with other weights/tokenizer: rebuilding")
        for p in cache_dir.glob("*/*.safetensors"):
            p.unlink()
    atomic_write_bytes(key_path, json.dumps(key, indent=1).encode())
    out = []
    for i, c in enumerate(clips):
        p = cache_path(cache_dir, c)
        if not p.is_file():
            clip = PreparedClip.open(data_root / c["dir"])
            encode_clip(clip, stage1, speech_tokenizer, c["split"]).save(p)
            log(f"cached {c['split']}/{c['id']} ({c['num_frames']} frames) [{i + 1}/{len(clips)}]")
        out.append(p)
    return out


def load_cache(cache_dir: str | os.PathLike, clips: list[dict], split: str) -> list[ClipCache]:
    """The cached clips of ``split`` among ``clips`` (entries of :func:`planned_clips`)."""
    return [ClipCache.load(cache_path(cache_dir, c)) for c in clips if c["split"] == split]


@dataclass
class Batch:
    """A training batch of B windows of W frames (25 fps). ``mask [B, W]`` True on real frames.

    ``units [B, 2W]`` (or ``[B, 2W, D]``), ``pose [B, W, 3]``, ``gaze``/``blink [B, W, 2]``, ``f_g [B, L]``,
    ``f [B, W, M]`` motion codes, ``f_ref [B, M]`` the reference frame's code, ``mouth [B, W, 40, 2]``,
    ``pose_ref [B, 3]`` the reference frame's head pose (degrees).
    """

    units: torch.Tensor
    pose: torch.Tensor
    gaze: torch.Tensor
    blink: torch.Tensor
    f_g: torch.Tensor
    f: torch.Tensor
    f_ref: torch.Tensor
    mask: torch.Tensor
    mouth: torch.Tensor
    pose_ref: torch.Tensor

    def to(self, device) -> Batch:
        return Batch(**{k: getattr(self, k).to(device) for k in self.__dataclass_fields__})


def _pad(x: torch.Tensor, n: int) -> torch.Tensor:
    if x.shape[0] >= n:
        return x[:n]
    return torch.cat([x, x.new_zeros((n - x.shape[0], *x.shape[1:]))], 0)


def make_window(clip: ClipCache, start: int, window: int, ref: int, ratio: int = 2) -> dict:
    """Window ``[start, start + window)`` of ``clip`` (zero-padded past the end) with reference frame
    ``ref``."""
    end = min(start + window, clip.num_frames)
    n = end - start
    mask = torch.zeros(window, dtype=torch.bool)
    mask[:n] = True
    return dict(
        units=_pad(clip.units[ratio * start : ratio * end], ratio * window),
        pose=_pad(clip.pose[start:end], window),
        gaze=_pad(clip.gaze[start:end], window),
        blink=_pad(clip.blink[start:end], window),
        f_g=clip.f_g[ref],
        f=_pad(clip.f[start:end], window),
        f_ref=clip.f[ref],
        mask=mask,
        mouth=_pad(clip.mouth[start:end], window),
        pose_ref=clip.pose[ref],
    )


def collate(items: list[dict]) -> Batch:
    return Batch(**{k: torch.stack([it[k] for it in items]) for k in items[0]})


class WindowSampler:
    """Random training windows: clip chosen with probability ∝ length, uniform start, reference = first frame
    of the window (or a uniformly random frame of it with ``random_reference``). Deterministic per seed."""

    def __init__(
        self,
        clips: list[ClipCache],
        window: int,
        random_reference: bool = False,
        seed: int = 0,
        ratio: int = 2,
    ):
        if not clips:
            raise VQTalkerError("no training clips")
        self.clips = clips
        self.window = int(window)
        self.random_reference = bool(random_reference)
        self.ratio = ratio
        lengths = np.array([c.num_frames for c in clips], np.float64)
        self.p = lengths / lengths.sum()
        self.rng = np.random.default_rng(seed)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def sample(self, batch_size: int) -> Batch:
        items = []
        for _ in range(batch_size):
            c = self.clips[int(self.rng.choice(len(self.clips), p=self.p))]
            start = int(self.rng.integers(0, max(1, c.num_frames - self.window + 1)))
            n = min(self.window, c.num_frames - start)
            ref = start + (int(self.rng.integers(0, n)) if self.random_reference else 0)
            items.append(make_window(c, start, self.window, ref, self.ratio))
        return collate(items)


def eval_windows(clips: list[ClipCache], window: int, ratio: int = 2) -> list[Batch]:
    """Deterministic dev windows: consecutive non-overlapping windows of every clip, reference = window
    start."""
    out = []
    for c in clips:
        for s in range(0, c.num_frames, window):
            if c.num_frames - s >= 8 or s == 0:
                out.append(collate([make_window(c, s, window, s, ratio)]))
    return out


def stack_controls(clips: list[ClipCache]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        torch.cat([c.pose for c in clips]).numpy(),
        torch.cat([c.gaze for c in clips]).numpy(),
        torch.cat([c.blink for c in clips]).numpy(),
    )


__all__ = [
    "Batch",
    "ClipCache",
    "WindowSampler",
    "build_cache",
    "collate",
    "encode_clip",
    "eval_windows",
    "file_fingerprint",
    "load_cache",
    "make_window",
    "stack_controls",
]
