"""Speed benchmark of the stage-2 model: one training step and the 4-pass generation of a window.

    python scripts/bench_stage2.py [--preset lite] [--batch 8] [--frames 200] [--threads 2] [--steps 10]

Prints the parameter count, the median training-step time (forward + backward + AdamW, random residual
layer per sample, masked cross-entropy; targets from a GRFSQ) and the median time of a 4-pass coarse-to-fine
generation of one ``--frames`` window, on random inputs (speed does not depend on the values). On a shared
machine the wall time depends on the load: compare the process CPU time with ``--threads 1``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="lite")
    p.add_argument("--variant", default="D-D")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--vocab", type=int, default=1024, help="speech vocabulary (default tokenizer: 1024)")
    p.add_argument("--face-dim", type=int, default=256, help="f_g size (lite stage 1: 256)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    from types import SimpleNamespace

    from vqtalker.generate.config import make_config
    from vqtalker.generate.data import Batch
    from vqtalker.generate.inference import coarse_to_fine
    from vqtalker.generate.model import build_model
    from vqtalker.quantize import GroupResidualFSQ
    from vqtalker.solvers.stage2 import training_loss

    dev = torch.device(args.device)
    torch.manual_seed(0)
    cfg = make_config(args.preset, args.variant, speech_vocab=args.vocab, face_dim=args.face_dim)
    model = build_model(cfg).to(dev)
    quant = GroupResidualFSQ(dim=120, groups=12, num_quantizers=4, levels=(5, 5, 5, 5)).to(dev)
    stage1 = SimpleNamespace(model=SimpleNamespace(quantizer=quant))
    b, t = args.batch, args.frames
    batch = Batch(
        units=torch.randint(0, args.vocab, (b, 2 * t)),
        pose=torch.randn(b, t, 3) * 10,
        gaze=torch.randn(b, t, 2) * 0.1,
        blink=torch.rand(b, t, 2) * 0.3,
        f_g=torch.randn(b, args.face_dim),
        f=torch.randn(b, t, 120),
        f_ref=torch.randn(b, 120),
        mask=torch.ones(b, t, dtype=torch.bool),
        mouth=torch.zeros(b, t, 40, 2),
        pose_ref=torch.zeros(b, 3),
    ).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times, cpu = [], []
    for i in range(args.steps + 2):
        t0 = time.perf_counter()
        c0 = time.process_time()
        model.train()
        loss, _ = training_loss(model, stage1, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    gen_times = []
    model.eval()
    one = (batch.units[:1], batch.pose[:1], batch.gaze[:1], batch.blink[:1], batch.f_g[:1])
    for i in range(4):
        t0 = time.perf_counter()
        if cfg.motion_output == "tokens":
            coarse_to_fine(model, *one)
        else:
            with torch.no_grad():
                model(*one)
        if i >= 1:
            gen_times.append(time.perf_counter() - t0)
    print(
        f"stage-2 {args.preset} {args.variant}: {model.num_parameters():,} parameters, "
        f"torch threads {torch.get_num_threads()}, device {dev}"
    )
    print(
        f"train step (batch {b} x {t} frames): median {statistics.median(times) * 1000:.0f} ms "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) over {len(times)} steps; "
        f"process CPU time median {statistics.median(cpu) * 1000:.0f} ms/step "
        f"(= wall time on an idle machine with 1 thread)"
    )
    g = statistics.median(gen_times)
    print(
        f"generation of one {t}-frame window ({cfg.n_passes} passes): median "
        f"{g * 1000:.0f} ms = {t / 25 / g:.0f}x real time"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
