"""``vqtalker train stage2``: train the coarse-to-fine motion-token generator on a prepared dataset.

    vqtalker train stage2 --stage1 runs/stage1/stage1.safetensors --speech-tokenizer default \\
        --data data/prepared --out runs/stage2 [--preset lite] [--steps 20000] [--batch-size 8 --window 200]

Pipeline: (1) every prepared clip with speech is encoded once with the frozen stage-1 model and the speech
tokenizer into ``OUT/cache`` (:mod:`vqtalker.generate.data`; resumable, rebuilt if the weights change);
(2) random windows (reference = first frame of the window, ``--random-reference`` for a random one) give
targets ``GRFSQ(f_t − f_s)``; (3) each sample draws one residual layer r ~ U{0..3}, the model sees the
ground-truth layer r−1 (teacher forcing; zeros for r = 0) and is trained with cross-entropy over the 12 groups
on valid frames (padding masked). Continuous-output ablations regress ``f_t − f_s`` (L1/MSE).

Outputs in ``OUT``: ``step-XXXXXXXX.safetensors`` training checkpoints (model + AdamW state, atomic, the
newest ``--keep`` kept; a restarted run resumes from the newest), ``stage2.safetensors`` (inference weights +
metadata, refreshed at every checkpoint), ``metrics.csv`` (step, split, name, value) and ``metrics.png``,
``train.log``. Launch with ``torchrun --nproc_per_node N -m vqtalker train stage2 ...`` for DDP (gloo on CPU,
nccl on GPU).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage1", required=True, metavar="CKPT", help="frozen stage-1 weights (.safetensors)")
    p.add_argument(
        "--speech-tokenizer",
        default="default",
        metavar="NAME",
        help="speech tokenizer name (default, s3, logmel, hash); logmel = continuous-audio ablation",
    )
    p.add_argument(
        "--data", required=True, metavar="DATASET", help="prepared dataset (vqtalker prepare output)"
    )
    p.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run directory (resumes if it has checkpoints)"
    )
    p.add_argument(
        "--cache", default=None, metavar="DIR", help="stage-1/speech cache (default RUN_DIR/cache)"
    )
    p.add_argument("--preset", default="lite", choices=["lite", "paper", "tiny"])
    p.add_argument(
        "--variant",
        default=None,
        choices=["D-D", "C-D", "D-C", "C-C"],
        help="Table-4 ablation (audio-motion); default D-D, or C-D with a continuous speech backend",
    )
    p.add_argument(
        "--prev-cond",
        default="last",
        choices=["last", "all"],
        help="condition on the previous residual layer only (paper) or all lower layers",
    )
    p.add_argument("--train-split", default="train")
    p.add_argument("--dev-split", default="dev")
    p.add_argument("--max-clips", type=int, default=0, help="only the first N clips per split (smoke tests)")
    p.add_argument("--dropout", type=float, default=None, help="override the preset's dropout")
    p.add_argument("--d-model", type=int, default=None, help="override the preset's transformer width")
    p.add_argument("--n-layers", type=int, default=None, help="override the preset's transformer depth")
    p.add_argument("--n-heads", type=int, default=None, help="override the preset's attention heads")
    p.add_argument("--ffn", type=int, default=None, help="override the preset's feed-forward width")
    p.add_argument(
        "--pose-input",
        choices=["absolute", "both"],
        default="absolute",
        help="absolute head pose (paper) or also pose relative to the reference frame",
    )
    p.add_argument(
        "--mouth-aux",
        type=float,
        default=0.0,
        help="weight of the auxiliary mouth-opening loss (token output; default 0 = off)",
    )
    p.add_argument(
        "--mouth-token",
        type=float,
        default=0.0,
        help="weight of the mouth-direction token loss (vqtalker.generate.mouth; token output; 0 = off)",
    )
    p.add_argument(
        "--face-dropout",
        type=float,
        default=0.0,
        help="probability of zeroing f_g per training sample (identity dropout; default 0)",
    )
    p.add_argument("--window", type=int, default=200, help="training window, frames (default 200 = 8 s)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--random-reference", action="store_true", help="random reference frame in each window")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--keep", type=int, default=3, help="training checkpoints to keep")
    p.add_argument(
        "--eval-render",
        type=int,
        default=0,
        metavar="N",
        help="at each evaluation also render N dev clips and measure mouth-landmark distance (slow)",
    )
    p.add_argument(
        "--max-minutes", type=float, default=0.0, help="stop (with a checkpoint) after this wall time"
    )
    p.add_argument("--no-plot", action="store_true", help="do not draw metrics.png (plotting costs seconds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")


def lr_at(step: int, base: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10 % of ``base`` at ``total``."""
    if step < warmup:
        return base * (step + 1) / max(1, warmup)
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def training_loss(
    model, stage1, batch, generator: torch.Generator | None = None, mouth_values: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict]:
    """Masked loss of one batch: CE on a random residual layer per sample (tokens) or L1/MSE (continuous).

    ``mouth_values [R, G, C]`` (:func:`vqtalker.generate.mouth.mouth_code_values`) enables the mouth-direction
    token loss with weight ``cfg.mouth_token``."""
    cfg = model.module.cfg if hasattr(model, "module") else model.cfg
    m = batch.mask
    delta = batch.f - batch.f_ref[:, None]
    nvalid = m.sum().clamp(min=1)
    args = (batch.units, batch.pose, batch.gaze, batch.blink, batch.f_g)
    ref = batch.pose_ref
    if cfg.motion_output == "continuous":
        # regress the renderer's input Δ̂ = GRFSQ(f_t − f_s) (what a stage-1 trained with its quantizer
        # renders), as a continuous value: the ablation removes the token classification, not the space
        with torch.no_grad():
            delta, _ = stage1.model.quantizer(delta)
        pred = model(*args, None, 0, m, ref)
        err = (pred - delta).abs() if cfg.regression_loss == "l1" else (pred - delta) ** 2
        loss = (err.mean(-1) * m).sum() / nvalid
        return loss, {"loss": float(loss.detach())}
    with torch.no_grad():
        _, idx = stage1.model.quantizer(delta)
        idx = idx.long()
    b = idx.shape[0]
    r = torch.randint(0, cfg.num_layers_rvq, (b,), generator=generator).to(idx.device)
    aux: dict = {}
    logits = model(*args, idx, r, m, ref, aux=aux if cfg.mouth_aux > 0 else None)  # [B, T, G, C]
    tgt = idx.permute(0, 2, 1, 3)[torch.arange(b, device=idx.device), r]  # [B, T, G]
    ce = F.cross_entropy(logits.reshape(-1, cfg.codebook_size), tgt.reshape(-1), reduction="none").view_as(
        tgt.float()
    )
    loss = (ce * m[..., None]).sum() / (nvalid * cfg.groups)
    stats = {}
    if "mouth" in aux:
        from vqtalker.lips import MOUTH_OPEN_SCALE, mouth_open

        target = mouth_open(batch.mouth) * MOUTH_OPEN_SCALE  # [B, T], ≈ 0..1
        mouth_l1 = ((aux["mouth"] - target).abs() * m).sum() / nvalid
        stats["mouth_l1"] = float(mouth_l1.detach())
        loss = loss + cfg.mouth_aux * mouth_l1
    if cfg.mouth_token > 0 and mouth_values is not None:
        from vqtalker.generate.mouth import mouth_token_loss

        mt = mouth_token_loss(logits, tgt, mouth_values.to(logits.device)[r], m)
        stats["mouth_tok"] = float(mt.detach())
        loss = loss + cfg.mouth_token * mt
    with torch.no_grad():
        acc = ((logits.argmax(-1) == tgt) * m[..., None]).sum() / (nvalid * cfg.groups)
    return loss, {"loss": float(loss.detach()), "acc": float(acc), **stats}


def run(args) -> int:
    from vqtalker.errors import VQTalkerError
    from vqtalker.generate.checkpoint import save_stage2
    from vqtalker.generate.config import make_config
    from vqtalker.generate.controls import ControlStats
    from vqtalker.generate.data import (
        WindowSampler,
        build_cache,
        eval_windows,
        file_fingerprint,
        load_cache,
        planned_clips,
        stack_controls,
    )
    from vqtalker.generate.evaluate import lipsync_metrics, token_metrics
    from vqtalker.generate.model import build_model
    from vqtalker.generate.stage1 import FrozenStage1
    from vqtalker.pipeline import load_stage1_generator
    from vqtalker.speech import load_speech_tokenizer
    from vqtalker.training import (
        MetricsLogger,
        find_latest_checkpoint,
        init_distributed,
        load_checkpoint,
        plot_metrics,
        save_checkpoint,
    )
    from vqtalker.training.checkpoint import prune_checkpoints
    from vqtalker.utils import atomic_write_bytes, seed_everything

    if args.window < 8 or args.batch_size < 1 or args.steps < 1:
        raise VQTalkerError("--window must be >= 8, --batch-size and --steps >= 1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    ctx = init_distributed(args.device)
    dev = ctx.device
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"

    def log(msg: str) -> None:
        if ctx.is_main:
            line = f"[{time.strftime('%H:%M:%S')}] {msg}"
            print(line, flush=True)
            with open(log_path, "a") as f:
                f.write(line + "\n")

    seed_everything(args.seed + ctx.rank)
    stage1_path = Path(args.stage1)
    stage1 = FrozenStage1(load_stage1_generator(stage1_path, dev))
    tok = load_speech_tokenizer(args.speech_tokenizer)
    discrete = bool(getattr(tok, "is_discrete", True))
    variant = args.variant or ("D-D" if discrete else "C-D")
    if variant.startswith("D") != discrete:
        raise VQTalkerError(
            f"variant {variant} needs a {'discrete' if variant[0] == 'D' else 'continuous'} "
            f"speech tokenizer, {args.speech_tokenizer!r} is not"
        )
    cache_dir = Path(args.cache) if args.cache else out / "cache"
    key = {
        "stage1": file_fingerprint(stage1_path),
        "speech_tokenizer": args.speech_tokenizer,
        "tok": repr(tok),
    }
    plan = planned_clips(args.data, (args.train_split, args.dev_split), max_clips=args.max_clips)
    if ctx.is_main:
        build_cache(args.data, cache_dir, stage1, tok, key, plan, log=log)
    ctx.barrier()
    train_clips = load_cache(cache_dir, plan, args.train_split)
    dev_clips = load_cache(cache_dir, plan, args.dev_split)
    if not train_clips:
        raise VQTalkerError(f"no '{args.train_split}' clips with speech in {args.data}")
    cfg = make_config(
        args.preset,
        variant,
        prev_cond=args.prev_cond,
        face_dim=stage1.face_dim,
        motion_dim=stage1.motion_dim,
        speech_vocab=int(tok.vocab_size) if discrete else 4096,
        audio_dim=int(getattr(tok, "feature_dim", 0)) or 80,
        groups=int(stage1.cfg.quant_groups),
        num_layers_rvq=int(stage1.cfg.num_quantizers),
        codebook_size=int(math.prod(stage1.cfg.levels)),
        face_dropout=args.face_dropout,
        pose_input=args.pose_input,
        mouth_aux=args.mouth_aux,
        mouth_token=args.mouth_token,
        **{
            k: v
            for k, v in (
                ("d_model", args.d_model),
                ("n_layers", args.n_layers),
                ("n_heads", args.n_heads),
                ("ffn", args.ffn),
            )
            if v is not None
        },
        **({} if args.dropout is None else {"dropout": args.dropout}),
    )
    if cfg.max_len < args.window:
        cfg.max_len = args.window
    model = build_model(cfg).to(dev)
    log(
        f"stage-2 {args.preset} {variant}: {model.num_parameters():,} parameters; "
        f"{len(train_clips)} train clips "
        f"({sum(c.num_frames for c in train_clips)} frames), {len(dev_clips)} dev clips"
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.98))
    sampler = WindowSampler(train_clips, args.window, args.random_reference, seed=args.seed + 1000 * ctx.rank)
    step = 0
    latest = find_latest_checkpoint(out)
    if latest is not None:
        info = load_checkpoint(latest, models={"stage2": model}, optimizers={"adamw": opt}, map_location=dev)
        step = info["step"]
        if info["meta"].get("config") != cfg.to_dict():
            raise VQTalkerError(f"{latest} was trained with another configuration; use a new --out")
        st = info["meta"].get("sampler_state", {}).get(str(ctx.rank))
        if st is not None:
            sampler.set_state(st)
        log(f"resumed from {latest.name} at step {step}")
    logger = (
        MetricsLogger(out / "metrics.csv", resume_step=step if latest is not None else None)
        if ctx.is_main
        else None
    )
    mouth_values = None
    if cfg.mouth_token > 0:
        if cfg.motion_output != "tokens":
            raise VQTalkerError("--mouth-token needs token output (variant D-D or C-D)")
        from vqtalker.generate.mouth import fit_mouth_direction, mouth_code_values

        # deterministic on every rank: the same cached clips, closed-form ridge
        direction, mstats = fit_mouth_direction(stage1.model.quantizer, train_clips, dev_clips)
        mouth_values = mouth_code_values(stage1.model.quantizer, direction).to(dev)
        log("mouth direction: read-out corr with the inner-lip gap change "
            + ", ".join(f"{k} {v:.3f}" for k, v in mstats.items()))
        if ctx.is_main:
            atomic_write_bytes(
                out / "mouth_direction.json",
                json.dumps({"direction": direction.tolist(), **mstats}).encode(),
            )
    train_model = model
    if ctx.distributed:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[dev.index] if dev.type == "cuda" else None,
            find_unused_parameters=cfg.motion_output == "continuous",  # no R_{r-1} embedding is used then
        )
    stats = ControlStats.from_data(*stack_controls(train_clips))
    dev_batches = eval_windows(dev_clips, min(args.window, cfg.max_len)) if dev_clips else []
    rgen = torch.Generator().manual_seed(args.seed * 7919 + step + 31 * ctx.rank)
    t_start = time.time()
    t_last = time.time()
    last_logged = step
    run_meta = {"config": cfg.to_dict(), "speech_tokenizer": args.speech_tokenizer, "variant": variant}

    last_plot = [time.time()]

    def export_and_checkpoint(step: int, final: bool = False) -> None:
        if not ctx.is_main:
            return
        states = {str(ctx.rank): sampler.state()}
        save_checkpoint(
            out / f"step-{step:08d}.safetensors",
            step,
            {"stage2": model},
            {"adamw": opt},
            meta={**run_meta, "sampler_state": states, "stage1": str(stage1_path)},
        )
        prune_checkpoints(out, args.keep)
        save_stage2(
            out / "stage2.safetensors",
            model,
            speech_tokenizer=args.speech_tokenizer,
            control_stats=stats.to_json(),
            stage1=f"{stage1_path.name} sha256:{key['stage1']}",
            step=str(step),
            variant=variant,
        )
        # plotting costs seconds: only at the end and at most every 10 minutes
        if not args.no_plot and (final or time.time() - last_plot[0] > 600):
            plot_metrics(out / "metrics.csv", out / "metrics.png")
            last_plot[0] = time.time()

    def evaluate(step: int) -> None:
        if not ctx.is_main or not dev_batches:
            return
        t0 = time.time()
        metrics = token_metrics(model, stage1, dev_batches)
        if args.eval_render > 0:
            metrics.update(lipsync_metrics(model, stage1, args.data, dev_clips, args.eval_render, log=log))
        logger.log(step, "dev", metrics)
        log(
            f"dev @ {step}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))
            + f" ({time.time() - t0:.1f} s)"
        )

    stop = False
    while step < args.steps and not stop:
        train_model.train()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        batch = sampler.sample(args.batch_size).to(dev)
        loss, stats_step = training_loss(train_model, stage1, batch, rgen, mouth_values)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = (
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip) if args.grad_clip > 0 else None
        )
        opt.step()
        step += 1
        if not math.isfinite(stats_step["loss"]):
            raise VQTalkerError(f"training diverged at step {step} (loss {stats_step['loss']})")
        if args.max_minutes > 0:  # every rank must take the same decision, or DDP hangs
            late = torch.tensor(float((time.time() - t_start) / 60 >= args.max_minutes))
            stop = bool(ctx.all_reduce_mean(late) > 0)
        if ctx.is_main and (step % args.log_every == 0 or step == 1):
            dt = (time.time() - t_last) / max(1, step - last_logged)
            t_last, last_logged = time.time(), step
            vals = {**stats_step, "lr": opt.param_groups[0]["lr"], "sec_per_step": dt}
            if gn is not None:
                vals["grad_norm"] = float(gn)
            logger.log(step, "train", vals)
            log(f"step {step}/{args.steps} " + " ".join(f"{k} {v:.4g}" for k, v in vals.items()))
        if step % args.eval_every == 0 or step == args.steps or stop:
            evaluate(step)
        if step % args.ckpt_every == 0 or step == args.steps or stop:
            export_and_checkpoint(step, final=step == args.steps or stop)
            ctx.barrier()
    if ctx.is_main:
        summary = {**run_meta, "steps_done": step, "wall_s": round(time.time() - t_start, 1)}
        atomic_write_bytes(out / "run.json", json.dumps(summary, indent=1).encode())
        log(f"done at step {step}; weights: {out / 'stage2.safetensors'}")
    ctx.cleanup()
    return 0


__all__ = ["add_arguments", "lr_at", "run", "training_loss"]
