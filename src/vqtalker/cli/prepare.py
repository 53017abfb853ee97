"""``vqtalker prepare RAW_DIR OUT_DIR``: raw talking-head videos → training-ready clips (vqtalker.data)."""

from __future__ import annotations

import argparse

from vqtalker.errors import VQTalkerError


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="turn raw talking-head videos into face-cropped 25-fps training clips with controls",
        description=(
            "Detect and track the main face, split at cuts / face loss, crop one fixed square per segment "
            "(head motion kept), resample to 25 fps + 16 kHz speech, and store frames, 478 landmarks, "
            "pose/gaze/blink and eye/mouth boxes per frame. Resumable: finished files are skipped."
        ),
    )
    p.add_argument("raw_dir", help="folder (searched recursively) or a single video file")
    p.add_argument("out_dir", help="output dataset folder")
    p.add_argument("--size", type=int, default=256, help="stored square crop side in px (e.g. 128, 256, 512)")
    p.add_argument("--fps", type=float, default=25.0, help="output frame rate (default 25)")
    p.add_argument("--min-face", type=int, default=64, help="skip segments whose face is smaller (source px)")
    p.add_argument("--min-frames", type=int, default=25, help="skip segments shorter than this many frames")
    p.add_argument("--workers", type=int, default=1, help="worker processes (one file per worker)")
    p.add_argument("--shard", type=_shard, default=(0, 1), help="process only files I, I+N, ... (I/N)")
    p.add_argument("--manifest", default=None, help="MANIFEST.tsv (default: found in RAW_DIR or its parents)")
    p.add_argument("--preview", action="store_true", help="write previews/<clip>.png contact sheets")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vqtalker.data.prepare import PrepareConfig, prepare_dataset

    if args.workers < 1:
        raise VQTalkerError(f"--workers must be >= 1, got {args.workers}")
    if args.min_face < 0 or args.min_frames < 1:
        raise VQTalkerError("--min-face must be >= 0 and --min-frames >= 1")
    cfg = PrepareConfig(size=args.size, fps=args.fps, min_face=args.min_face, min_frames=args.min_frames,
                        preview=args.preview)
    summary = prepare_dataset(args.raw_dir, args.out_dir, cfg, workers=args.workers, shard=args.shard,
                              manifest=args.manifest)
    if summary["files"] == 0:
        raise VQTalkerError(f"no video files found in {args.raw_dir}")
    return 0 if summary["clips_kept"] > 0 else 1
