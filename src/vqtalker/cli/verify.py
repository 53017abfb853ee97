"""``vqtalker verify FILE``: was this video made by vqtalker?

Checks the two marks every video vqtalker writes carries: the container metadata (``synthetic=1`` and a
comment beginning ``synthetic media``, :data:`vqtalker.io.video.SYNTHETIC_METADATA`) and the invisible
watermark in the frames (:mod:`vqtalker.io.watermark`; it survives re-encoding at normal quality, not
resizing or cropping). Exit status: 0 = either mark found, 1 = neither, 2 = unreadable (missing file, not a
media file). "Not found" does not prove a video is real.

Example::

    vqtalker verify out.mp4 && echo "made by vqtalker"
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("verify", help="check a video for vqtalker's synthetic-media tag",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="video file to check")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from vqtalker.errors import VQTalkerError
    from vqtalker.io.video import probe_video

    path = Path(args.file)
    if not path.is_file():
        raise VQTalkerError(f"file not found: {path}")
    try:
        meta = {k.lower(): str(v) for k, v in probe_video(path).metadata.items()}
    except VQTalkerError as exc:
        raise VQTalkerError(f"{path}: unreadable ({exc})") from None
    tagged = meta.get("synthetic") == "1" or meta.get("comment", "").startswith("synthetic media")
    from vqtalker.io.video import iter_frames
    from vqtalker.io.watermark import THRESHOLD, detect

    try:
        wm = detect((f for _, f in iter_frames(path)), max_frames=100)
    except VQTalkerError:
        wm = {"z": None, "marked": False, "frames": 0}
    z = "n/a" if wm["z"] is None else f"{wm['z']:.1f}"
    mark = f"watermark {'found' if wm['marked'] else 'not found'} (z = {z}, threshold {THRESHOLD:g})"
    if tagged or wm["marked"]:
        tag = "metadata tag present" if tagged else "no metadata tag"
        print(f"{path}: synthetic media made by vqtalker: {tag}, {mark}")
        return 0
    print(f"{path}: no synthetic-media tag, {mark}")
    return 1
