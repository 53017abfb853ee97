"""Stage-1 cost per configuration: parameters, GFLOP per rendered frame, measured render fps on this CPU.

"Render" = the renderer only (latent composition + synthesis with flow warping), per frame, the source
encoded once (the audio-driven / codec-decoder case). The encoder cost per frame (needed once per frame
when tokenizing a video) is reported separately. FLOPs come from ``torch.utils.flop_counter``
(multiply-add = 2 FLOPs; convolutions, matmuls, grid_sample not counted). Timings use ``--threads`` torch
threads; the machine load average is printed with each result because the figures depend on it.

    python scripts/bench_motion.py --threads 2 --configs lite-128 lite-256 paper-256
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vqtalker.motion.config import get_config
from vqtalker.motion.model import build_discriminator, build_generator, count_parameters


def gflops(fn) -> float:
    fc = FlopCounterMode(display=False)
    with torch.enable_grad(), fc:  # FlopCounterMode's module tracker needs grad mode
        fn()
    return fc.get_total_flops() / 1e9


def bench(name: str, batch: int, seconds: float) -> dict:
    cfg = get_config(name)
    torch.manual_seed(0)
    g = build_generator(cfg).eval()
    d = build_discriminator(cfg)
    x = torch.randn(1, 3, cfg.size, cfg.size)
    with torch.no_grad():
        state = g.encode_source(x)
    delta1 = torch.zeros(1, cfg.motion_dim)
    render_gf = gflops(lambda: g.render(state, delta1))
    enc_gf = gflops(lambda: g.encoder(x))
    deltas = torch.randn(batch, cfg.motion_dim) * 0.1
    with torch.no_grad():
        g.render(state, deltas)  # warm-up
        n, t0 = 0, time.perf_counter()
        while True:
            g.render(state, deltas)
            n += batch
            if time.perf_counter() - t0 >= seconds:
                break
        dt = time.perf_counter() - t0
    return {
        "config": name, "size": cfg.size, "G_params": count_parameters(g), "D_params": count_parameters(d),
        "render_gflop_per_frame": round(render_gf, 3), "encoder_gflop_per_frame": round(enc_gf, 3),
        "render_fps": round(n / dt, 2), "frames_timed": n, "batch": batch,
        "threads": torch.get_num_threads(), "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+",
                    default=["lite-128", "lite-256", "paper-256", "paper-512", "paper-256+hal+decouple"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8, help="frames per render call (lite configs)")
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum timing window per config")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.configs:
        batch = args.batch if name.startswith("lite") or name.startswith("tiny") else 1
        r = bench(name, batch, args.seconds)
        rows.append(r)
        print(f"{r['config']:<24} {r['size']:>4}px  G {r['G_params']:>11,}  D {r['D_params']:>11,}  "
              f"render {r['render_gflop_per_frame']:7.2f} GFLOP/frame  {r['render_fps']:7.2f} fps  "
              f"(encoder {r['encoder_gflop_per_frame']:.2f} GFLOP/frame; {r['threads']} threads, "
              f"load {r['loadavg_1min']})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
