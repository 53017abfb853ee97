#!/usr/bin/env python
"""Throughput of GRFSQ quantize + decode on CPU: ours vs vector-quantize-pytorch, same run, same input.

Workload: a 60-s, 25-fps sequence (1500 frames x 120-d), paper configuration (12 groups x 4 layers x 5^4).
"ours" = vqtalker.quantize.GroupResidualFSQ(preset="lucidrains-1.32") (same math as the reference) and
the default preset; "lucidrains" = vector_quantize_pytorch.GroupedResidualFSQ (1.32.0 here). Eval mode,
no grad. Prints frames/s (median of --repeats interleaved timed runs after warm-up), the ratio,
and parameter counts.

    .venv/bin/python scripts/bench_quantize.py [--threads 1] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def bench_interleaved(fns: dict, repeats: int, warmup: int = 3) -> dict:
    """Median seconds per call of each function, timed round-robin so load changes hit all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--frames", type=int, default=1500, help="frames (default 1500 = 60 s at 25 fps)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from vqtalker.quantize import GroupResidualFSQ

    x = torch.randn(1, args.frames, 120)
    impls = {}
    ours132 = GroupResidualFSQ(preset="lucidrains-1.32").eval()
    impls["ours (lucidrains-1.32 preset)"] = (lambda: ours132(x), ours132.decode, ours132)
    ours = GroupResidualFSQ().eval()
    impls["ours (default vqtalker preset)"] = (lambda: ours(x), ours.decode, ours)
    try:
        from importlib.metadata import version

        import vector_quantize_pytorch as vqp

        ref = vqp.GroupedResidualFSQ(dim=120, groups=12, num_quantizers=4, levels=[5, 5, 5, 5]).eval()
        impls[f"vector-quantize-pytorch {version('vector-quantize-pytorch')}"] = (
            lambda: ref(x),
            ref.get_output_from_indices,
            ref,
        )
    except ImportError:
        print("vector_quantize_pytorch not installed: reference timing unavailable")

    print(
        f"torch {torch.__version__}, {args.threads} thread(s), input [1, {args.frames}, 120] "
        f"({args.frames / 25:.0f} s at 25 fps), median of {args.repeats}"
    )
    results = {}
    with torch.inference_mode():
        fns = {}
        for name, (enc, dec, _module) in impls.items():
            _, idx = enc()
            fns[(name, "enc")] = enc
            fns[(name, "dec")] = lambda dec=dec, idx=idx: dec(idx)
        med = bench_interleaved(fns, args.repeats)
        for name, (_enc, _dec, module) in impls.items():
            t_enc, t_dec = med[(name, "enc")], med[(name, "dec")]
            t_both = t_enc + t_dec
            params = sum(p.numel() for p in module.parameters())
            results[name] = (args.frames / t_enc, args.frames / t_dec, args.frames / t_both)
            print(
                f"{name:38s} quantize {args.frames / t_enc:12,.0f} frames/s | "
                f"decode {args.frames / t_dec:12,.0f} frames/s | "
                f"quantize+decode {args.frames / t_both:12,.0f} frames/s | params {params}"
            )
    names = list(results)
    ref_names = [n for n in names if n.startswith("vector-quantize")]
    if ref_names:
        r = results[ref_names[0]]
        for n in names:
            if n in ref_names:
                continue
            o = results[n]
            print(
                f"ratio {n} / reference: quantize x{o[0] / r[0]:.2f}, decode x{o[1] / r[1]:.2f}, "
                f"quantize+decode x{o[2] / r[2]:.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
