"""Benchmark: full-resolution stage 1 vs the previous lite-128, side by side in one run (not a timed test).

    python scripts/bench_fullres.py --data PREPARED/talking [--data512 PREPARED512] [--stage1 NEW.safetensors]
        [--baseline OLD.safetensors] [--clips 9] [--threads 2] [--json out.json]

1. Render speed (frames/s, ``--threads`` torch threads): the new model at 256² and 512², the baseline at
   its network size (128²), 100 frames each after a warm-up.
2. Reconstruction on the dev clips (frame 0 + tokens + the 5-bit mouth side information, no key-frame
   refresh), each clip's prepared crops as the reference: SSIM / PSNR (numpy, RGB), VMAF (the bundled
   ffmpeg's libvmaf) and the sharpness ratio (variance of the Laplacian, output / input crop) at 256² for
   the new model, the baseline (its 128² output upsampled bicubically to 256², which is what it shipped as)
   and copying frame 0; the same at 512² with ``--data512`` (the dev clips prepared at 512). Prints a
   markdown table per size; ``--json`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch


def render_fps(tok, size: int, n: int = 100) -> float:
    src = torch.rand(1, 3, max(size, tok.size), max(size, tok.size)) * 2 - 1
    state = tok.encode_source(src)
    motion = torch.randn(n, tok.motion_dim) * 0.05
    list(tok.render_uint8(state, motion[:16], size=size))  # warm-up
    t0 = time.perf_counter()
    for _ in tok.render_uint8(state, motion, size=size):
        pass
    return n / (time.perf_counter() - t0)


def clip_frames(root: Path, split: str = "dev"):
    from vqtalker.data.layout import PreparedClip, load_index

    for c in load_index(root)["clips"]:
        if c["split"] == split:
            yield c["id"], np.array(PreparedClip.open(root / c["dir"]).array("frames"))


def measure(ref: np.ndarray, out: np.ndarray) -> dict:
    from vqtalker.evaluation.quality import sharpness_ratio, ssim_psnr, vmaf

    m = ssim_psnr(ref, out)
    v = vmaf(ref, out)
    return {"ssim": m["ssim"], "psnr": m["psnr"], "vmaf": v, "sharpness": sharpness_ratio(out, ref)}


def upsample(frames: np.ndarray, size: int) -> np.ndarray:
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC) for f in frames])


def lips(ref: np.ndarray, out: np.ndarray) -> dict:
    from vqtalker.face.lips import lip_metrics

    m = lip_metrics(out, ref)
    return {k: m.get(k) for k in ("mouth_open_corr", "mouth_open_range", "mouth_lmd")} if m else {}


def bench_size(new, old, root: Path, size: int, max_clips: int, log, with_lips: bool = False) -> dict:
    from vqtalker.codec.reconstruct import reconstruct

    rows = {}
    for i, (cid, frames) in enumerate(clip_frames(root)):
        if i >= max_clips:
            break
        ref = (
            np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])
            if frames.shape[1] != size
            else frames
        )
        r_new = reconstruct(new, frames, size=size)
        r_old = reconstruct(old, frames)
        rows[cid] = {
            "frames": int(len(frames)),
            "kbps": r_new.bitrate_kbps,
            "new": measure(ref, r_new.frames),
            "old": measure(ref, upsample(r_old.frames, size)),
            "copy": measure(ref, np.repeat(ref[:1], len(ref), 0)),
            "new_seconds": r_new.seconds,
        }
        if with_lips:
            rows[cid]["lips_new"] = lips(ref, r_new.frames)
            rows[cid]["lips_old"] = lips(ref, upsample(r_old.frames, size))
        n = rows[cid]
        log(
            f"{size} {cid}: new SSIM {n['new']['ssim']:.3f} / old {n['old']['ssim']:.3f} / copy "
            f"{n['copy']['ssim']:.3f}; sharpness new {n['new']['sharpness']:.2f} "
            f"old {n['old']['sharpness']:.2f}"
        )
    return rows


def table(rows: dict, size: int) -> str:
    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    lines = [
        f"\n### {size}² (frame 0 + tokens + mouth side info; reference = the input crop at {size}²)\n",
        "| dev clip | frames | SSIM new / old / copy | PSNR dB new / old / copy | VMAF new / old / copy "
        "| sharpness new / old / copy |",
        "|---|---|---|---|---|---|",
    ]
    keys = ("ssim", "psnr", "vmaf", "sharpness")
    fmts = (".3f", ".2f", ".1f", ".2f")
    for cid, r in rows.items():
        cells = [" / ".join(f(r[m][k], fm) for m in ("new", "old", "copy")) for k, fm in zip(keys, fmts)]
        lines.append(f"| {cid} | {r['frames']} | " + " | ".join(cells) + " |")
    mean = {
        m: {k: float(np.mean([r[m][k] for r in rows.values() if r[m][k] is not None])) for k in keys}
        for m in ("new", "old", "copy")
    }
    cells = [" / ".join(f(mean[m][k], fm) for m in ("new", "old", "copy")) for k, fm in zip(keys, fmts)]
    lines.append("| **mean** | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from vqtalker.constants import DEFAULT_STAGE1
    from vqtalker.motion.tokenizer import MotionTokenizer

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--stage1", default=str(DEFAULT_STAGE1), help="the full-resolution model (default: packaged)"
    )
    p.add_argument("--baseline", required=True, help="the previous lite-128 weights")
    p.add_argument("--data", required=True, help="prepared talking data at 256 (its dev split is used)")
    p.add_argument("--data512", default=None, help="the dev clips prepared at 512")
    p.add_argument("--clips", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    p.add_argument("--lips", action="store_true", help="also the lip-following metrics at 256 (face mesh)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    new = MotionTokenizer.from_pretrained(args.stage1, frozen=True)
    old = MotionTokenizer.from_pretrained(args.baseline, frozen=True)

    def log(m):
        print(m, file=sys.stderr, flush=True)

    res = {
        "threads": args.threads,
        "speed_fps": {
            "new_256": render_fps(new, 256),
            "new_512": render_fps(new, 512),
            "old_128": render_fps(old, old.size),
        },
    }
    log(
        f"render fps ({args.threads} threads): "
        + ", ".join(f"{k} {v:.1f}" for k, v in res["speed_fps"].items())
    )
    res["256"] = bench_size(new, old, Path(args.data), 256, args.clips, log, args.lips)
    if args.data512:
        res["512"] = bench_size(new, old, Path(args.data512), 512, args.clips, log)
    print(
        f"render speed, {args.threads} threads: new model 256² {res['speed_fps']['new_256']:.1f} fps, "
        f"512² {res['speed_fps']['new_512']:.1f} fps; previous lite-128 at 128² "
        f"{res['speed_fps']['old_128']:.1f} fps"
    )
    print(table(res["256"], 256))
    if args.lips:
        print(
            "\n| dev clip | mouth-open corr new / old | range new / old | mouth LMD % new / old |\n"
            "|---|---|---|---|"
        )
        for cid, r in res["256"].items():
            a, b = r["lips_new"], r["lips_old"]
            cells = [
                f"{a.get(k, float('nan')):.2f} / {b.get(k, float('nan')):.2f}"
                for k in ("mouth_open_corr", "mouth_open_range", "mouth_lmd")
            ]
            print(f"| {cid} | " + " | ".join(cells) + " |")
    if "512" in res:
        print(table(res["512"], 512))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
