"""What every ``vqtalker eval`` suite shares: the clips of a split, checked baselines, resumable results."""

from __future__ import annotations

import json
from pathlib import Path

from vqtalker.errors import VQTalkerError


def clip_dirs(data, split: str = "dev", clips: int | None = None) -> list[Path]:
    """Clip folders of a prepared split (those with ``frames.npy``), sorted; the first ``clips`` if given."""
    dirs = sorted(p.parent for p in (Path(data) / split).glob("*/frames.npy"))
    if not dirs:
        raise VQTalkerError(f"--data: no clips with frames.npy under {Path(data) / split}")
    return dirs[:clips] if clips else dirs


def check_baselines(baselines) -> None:
    """One-line error for a classical codec the bundled ffmpeg lacks."""
    from vqtalker.evaluation.ratedistortion import baseline_encoders

    have = baseline_encoders() if baselines else []
    missing = [b for b in baselines if b not in have]
    if missing:
        raise VQTalkerError(f"--baselines: not available here: {', '.join(missing)} (available: "
                            f"{', '.join(have) or 'none'})")


def open_results(out_dir, empty) -> tuple[Path, dict]:
    """``(OUT/results.json, its state)``: the file's content when it exists (resume), else ``{"per_clip":
    empty}``; creates ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    return path, (json.loads(path.read_text()) if path.is_file() else {"per_clip": empty})


def pending_clips(dirs, state: dict, max_frames: int | None, setting: str, keys: list[str], log):
    """Yield ``(key, clip, frames uint8 [T, S, S, 3])`` for the clips whose entry ``"<id>:<T>:<setting>"`` is
    not in ``state["per_clip"]`` yet (resume); every clip's key is appended to ``keys`` (the report rows)."""
    import numpy as np

    from vqtalker.data.layout import PreparedClip

    for i, d in enumerate(dirs):
        clip = PreparedClip.open(d)
        frames = np.ascontiguousarray(clip.array("frames")[:max_frames])
        key = f"{clip.id}:{len(frames)}:{setting}"
        keys.append(key)
        if key in state["per_clip"]:
            continue
        log(f"[{i + 1}/{len(dirs)}] {clip.id} ({len(frames)} frames)")
        yield key, clip, frames


__all__ = ["check_baselines", "clip_dirs", "open_results", "pending_clips"]
