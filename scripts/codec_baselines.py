#!/usr/bin/env python
"""Classical-codec rate-distortion points on a prepared dataset's clips (x264, x265, SVT-AV1, libaom).

For every clip of ``--split`` (default ``dev``: DATA/dev/<clip>/frames.npy, uint8 [T, 256, 256, 3] RGB at
25 fps), every baseline codec and every target rate, encodes the clip's first ``--max-frames`` frames with
:func:`vqtalker.evaluation.ratedistortion.encode_baseline` (2-pass, settings in that module's docstring),
decodes, and scores the decoded frames against the same frames (SSIM-Y, PSNR-Y, VMAF on the luma of
BT.601 limited-range YUV). The rate reported is measured from the encoded stream (kbps = 1000 bit/s).

OUT.json holds ``per_clip`` entries (one per clip x codec x target) and ``averaged`` entries (one per codec x
target, the arithmetic mean over the clips of this run of measured kbps and of each metric; a metric is
null when any clip lacks it) in the result-dict format of :func:`rd_table_markdown`. The run is resumable:
an entry already in OUT.json (same clip, codec, target, frame count and fps) is not recomputed, and OUT.json
is rewritten atomically after every entry.

    .venv/bin/python scripts/codec_baselines.py --data /work/prepared/talking --out rd_baselines.json \\
        [--kbps 8 12 16 24 32] [--codecs x264 x265 svt-av1 libaom] [--max-frames N] [--clips N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vqtalker.data.layout import PreparedClip
from vqtalker.errors import VQTalkerError
from vqtalker.evaluation import ratedistortion as rd
from vqtalker.utils import atomic_write_bytes

FPS = 25.0
METRIC_KEYS = ("ssim_y", "psnr_y", "vmaf")


def setting_name(kbps: float) -> str:
    return f"b:v={kbps:g}k"


def entry_key(e: dict) -> tuple:
    return (e["clip"], e["codec"], float(e["target_kbps"]), int(e["frames"]), float(e["fps"]))


def average(per_clip: list[dict], clips: list[str], frames_of: dict[str, int], codecs: list[str],
            rates: list[float]) -> list[dict]:
    """Per codec x target: mean over ``clips`` (this run's selection and frame counts) of kbps and metrics."""
    by_key = {entry_key(e): e for e in per_clip}
    out = []
    for codec in codecs:
        for kbps in rates:
            rows = [by_key.get((c, codec, float(kbps), frames_of[c], FPS)) for c in clips]
            rows = [r for r in rows if r is not None]
            if not rows:
                continue
            avg = {"codec": codec, "setting": setting_name(kbps), "target_kbps": float(kbps),
                   "kbps": float(np.mean([r["kbps"] for r in rows])), "n_clips": len(rows),
                   "complete": len(rows) == len(clips)}
            for m in METRIC_KEYS:
                vals = [r[m] for r in rows]
                avg[m] = None if any(v is None for v in vals) else float(np.mean(vals))
            out.append(avg)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="prepared dataset directory")
    ap.add_argument("--split", default="dev", help="split subdirectory (default dev)")
    ap.add_argument("--kbps", type=float, nargs="+", default=[8, 12, 16, 24, 32], help="target rates (kbps)")
    ap.add_argument("--codecs", nargs="+", default=None,
                    help=f"baselines (default: all available of {' '.join(rd.BASELINE_CODECS)})")
    ap.add_argument("--max-frames", type=int, default=None, help="use only the first N frames of each clip")
    ap.add_argument("--clips", type=int, default=None, help="use only the first N clips (sorted by name)")
    ap.add_argument("--threads", type=int, default=1, help="encoder / decoder / libvmaf threads (default 1)")
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a temporary directory)")
    ap.add_argument("--out", required=True, help="results JSON (read first to resume)")
    args = ap.parse_args()

    try:
        available = rd.baseline_encoders()
        codecs = args.codecs or available
        missing = [c for c in codecs if c not in available]
        if missing:
            raise VQTalkerError(f"baseline(s) not available in the bundled ffmpeg: {', '.join(missing)} "
                                f"(available: {', '.join(available) or 'none'})")
        if any(not (k > 0 and math.isfinite(k)) for k in args.kbps):
            raise VQTalkerError("--kbps values must be positive")
        clip_dirs = sorted(p.parent for p in (Path(args.data) / args.split).glob("*/frames.npy"))
        if not clip_dirs:
            raise VQTalkerError(f"no clips with frames.npy under {Path(args.data) / args.split}")
        if args.clips is not None:
            clip_dirs = clip_dirs[: max(0, args.clips)]

        out_path = Path(args.out)
        state = json.loads(out_path.read_text()) if out_path.is_file() else {}
        per_clip: list[dict] = state.get("per_clip", [])
        done = {entry_key(e) for e in per_clip}
        clips: list[str] = []
        frames_of: dict[str, int] = {}

        def save() -> None:
            state.update({
                "version": 1, "fps": FPS, "split": args.split, "data": str(args.data),
                "encoder_settings": "see vqtalker.evaluation.ratedistortion module docstring",
                "per_clip": per_clip,
                "averaged": average(per_clip, clips, frames_of, codecs, args.kbps),
            })
            atomic_write_bytes(out_path, (json.dumps(state, indent=1) + "\n").encode())

        with tempfile.TemporaryDirectory(prefix="codec-baselines-", dir=args.workdir) as work:
            for clip_dir in clip_dirs:
                clip = PreparedClip.open(clip_dir)
                frames = clip.array("frames")
                if args.max_frames is not None:
                    frames = frames[: args.max_frames]
                frames = np.ascontiguousarray(frames)
                clips.append(clip.id)
                frames_of[clip.id] = int(frames.shape[0])
                for codec in codecs:
                    for kbps in args.kbps:
                        key = (clip.id, codec, float(kbps), int(frames.shape[0]), FPS)
                        if key in done:
                            continue
                        t0 = time.perf_counter()
                        decoded, actual = rd.encode_baseline(frames, FPS, codec, kbps, work,
                                                             threads=args.threads)
                        t_enc = time.perf_counter() - t0
                        q = rd.measure_quality(frames, decoded, FPS, threads=args.threads)
                        entry = {"clip": clip.id, "codec": codec, "setting": setting_name(kbps),
                                 "target_kbps": float(kbps), "kbps": actual, "frames": key[3], "fps": FPS,
                                 **q, "encode_decode_s": round(t_enc, 3)}
                        per_clip.append(entry)
                        done.add(key)
                        save()
                        vm = "n/a" if q["vmaf"] is None else f"{q['vmaf']:.2f}"
                        ss = "n/a" if q["ssim_y"] is None else f"{q['ssim_y']:.4f}"
                        print(f"{clip.id[:40]:40s} {codec:8s} target {kbps:6g} kbps -> {actual:7.2f} kbps  "
                              f"SSIM-Y {ss}  VMAF {vm}  ({t_enc:.1f} s)", flush=True)
        save()
        print()
        print(rd.rd_table_markdown(state["averaged"]), end="")
    except VQTalkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
