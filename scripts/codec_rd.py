"""Rate–distortion of the vqtalker codec on a prepared dataset's dev clips, next to classical codecs.

For every dev clip (``DATA/dev/<clip>/frames.npy``, uint8 ``[T, S, S, 3]`` face crops at 25 fps) and every
``--settings`` entry (``kbps=16``, ``kbps=16,q=20``, ``tokens`` = one key picture then tokens only,
``keyint=2`` …) the clip is encoded in memory with :class:`vqtalker.codec.encoder.VQTEncoder`, decoded with
:class:`vqtalker.codec.decoder.VQTDecoder`, and scored with
:func:`vqtalker.evaluation.ratedistortion.measure_quality` against the same frames the baselines are scored
against (``scripts/codec_baselines.py``; SSIM-Y, PSNR-Y, VMAF on BT.601 luma). The rate is the whole
``.vqt`` stream without audio: tokens + mouth side information + key pictures + header and chunk framing.

Writes ``OUT/vqtalker.json`` (per clip, resumable), and with ``--baselines B.json`` ``OUT/report.md``
(RD table, BD-rates of each baseline against vqtalker) and ``OUT/rd_<metric>.png``.

    .venv/bin/python scripts/codec_rd.py --data /work/prepared/talking --out runs/rd \\
        --settings tokens kbps=8 kbps=12 kbps=16 kbps=24 kbps=32 --baselines runs/rd/baselines.json
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np


def parse_setting(text: str) -> dict:
    """``tokens`` | ``kbps=16[,q=20][,ssim=0.7][,keyint=2][,layers=2]`` → encoder keyword arguments."""
    if text == "tokens":
        return {"keyint_max": None}
    names = {"kbps": "kbps", "q": "q", "ssim": "min_ssim", "keyint": "keyint_max", "layers": "max_layers"}
    out = {}
    for part in text.split(","):
        k, v = part.split("=")
        out[names[k]] = int(v) if k in ("q", "layers") else float(v)
    return out


def run_one(tok, frames: np.ndarray, fps: float, setting: dict, size: int) -> dict:
    from vqtalker.codec.decoder import VQTDecoder
    from vqtalker.codec.encoder import EncoderConfig, VQTEncoder
    from vqtalker.codec.ratecontrol import RateControlConfig

    kw = dict(setting)
    q = kw.pop("q", None)
    kw.setdefault("keyint_max", 10.0)
    cfg = EncoderConfig(size=size, rate=RateControlConfig(**kw), key_quality=q)
    buf = io.BytesIO()
    t0 = time.time()
    enc = VQTEncoder(tok, cfg, buf.write, fps)
    enc.add(frames)
    stats = enc.close()
    t_enc = time.time() - t0
    data = buf.getvalue()
    t0 = time.time()
    dec = VQTDecoder(tok)
    out = dec.feed(data) + dec.finish()
    t_dec = time.time() - t0
    out = np.stack(out)
    assert len(out) == len(frames)
    return {"stats": stats, "decoded": out, "bytes": len(data), "enc_fps": len(frames) / t_enc,
            "dec_fps": len(frames) / t_dec}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--settings", nargs="+", default=["tokens", "kbps=8", "kbps=12", "kbps=16", "kbps=24",
                                                       "kbps=32"])
    ap.add_argument("--stage1", default=None)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--baselines", default=None, help="JSON written by scripts/codec_baselines.py")
    args = ap.parse_args()

    import torch

    from vqtalker.evaluation.ratedistortion import (
        bd_rate_table_markdown,
        measure_quality,
        plot_rd,
        rd_table_markdown,
    )
    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.pipeline import DEFAULT_STAGE1
    from vqtalker.utils import atomic_write_bytes

    torch.set_num_threads(args.threads)
    tok = MotionTokenizer.from_pretrained(args.stage1 or DEFAULT_STAGE1)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "vqtalker.json"
    state = json.loads(path.read_text()) if path.is_file() else {"per_clip": []}
    done = {(e["clip"], e["setting"]) for e in state["per_clip"]}
    clips = sorted(p for p in (Path(args.data) / "dev").iterdir() if (p / "frames.npy").is_file())
    clips = clips[: args.clips] if args.clips else clips
    for clip in clips:
        frames = None
        for name in args.settings:
            if (clip.name, name) in done:
                continue
            if frames is None:
                frames = np.array(np.load(clip / "frames.npy", mmap_mode="r")[: args.max_frames])
            r = run_one(tok, frames, 25.0, parse_setting(name), args.size)
            q = measure_quality(frames, r["decoded"], 25.0)
            st = r["stats"]
            e = {"clip": clip.name, "setting": name, "frames": len(frames), "codec": "vqtalker",
                 "kbps": 8 * r["bytes"] / (len(frames) / 25.0) / 1000, "kbps_tokens": st.kbps("tokens"),
                 "kbps_keys": st.kbps("keys"), "kbps_overhead": st.kbps("overhead"), "keys": st.keys,
                 "skips": st.skips, "layer_frames": {str(k): v for k, v in st.layer_frames.items()},
                 "enc_fps": r["enc_fps"], "dec_fps": r["dec_fps"], **q}
            state["per_clip"].append(e)
            atomic_write_bytes(path, (json.dumps(state, indent=1) + "\n").encode())
            print(f"{clip.name[:28]:28s} {name:12s} {e['kbps']:6.2f} kbps (tok {e['kbps_tokens']:.2f}, "
                  f"{st.keys} keys) SSIM-Y {q['ssim_y']:.3f} PSNR-Y {q['psnr_y']:.2f} VMAF {q['vmaf']} "
                  f"enc {r['enc_fps']:.1f} dec {r['dec_fps']:.1f} fps", flush=True)
    # averages per setting over the clips of this run
    results = []
    names = [c.name for c in clips]
    for name in args.settings:
        es = [e for e in state["per_clip"] if e["setting"] == name and e["clip"] in names]
        if len(es) != len(names):
            continue
        avg = {"codec": "vqtalker", "setting": name, "n_clips": len(es)}
        for k in ("kbps", "kbps_tokens", "kbps_keys", "ssim_y", "psnr_y", "vmaf", "enc_fps", "dec_fps"):
            vals = [e[k] for e in es]
            avg[k] = None if any(v is None for v in vals) else float(np.mean(vals))
        results.append(avg)
    state["averaged"] = results
    atomic_write_bytes(path, (json.dumps(state, indent=1) + "\n").encode())
    report = ["# vqtalker codec: rate–distortion on the dev clips", ""]
    if args.baselines and Path(args.baselines).is_file():
        base = json.loads(Path(args.baselines).read_text())
        results = results + [r for r in base.get("averaged", []) if r.get("complete", True)]
    report += [rd_table_markdown(results), "", "## BD-rate of each baseline against vqtalker", "",
               bd_rate_table_markdown(results, anchor="vqtalker"), ""]
    for m in ("ssim_y", "psnr_y", "vmaf"):
        plot_rd(results, out_dir / f"rd_{m}.png", metric=m)
        report.append(f"![{m}](rd_{m}.png)")
    (out_dir / "report.md").write_text("\n".join(report) + "\n")
    print(f"wrote {out_dir / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
