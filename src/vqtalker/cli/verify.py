"""``vqtalker verify FILE``: is this video tagged as synthetic media by vqtalker?

Reads the container metadata that every video vqtalker writes carries (``synthetic=1`` and a comment
beginning ``synthetic media``, see :data:`vqtalker.io.video.SYNTHETIC_METADATA`). Exit status: 0 = tagged,
1 = not tagged, 2 = unreadable (missing file, not a media file). The tag is metadata: re-encoding with
other tools can remove it, so "not tagged" does not prove a video is real.

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
    if tagged:
        print(f"{path}: tagged as synthetic media ({meta.get('comment', 'synthetic=1')})")
        return 0
    print(f"{path}: no synthetic-media tag")
    return 1
