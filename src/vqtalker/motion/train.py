"""``vqtalker train stage1``: train the facial motion tokenizer (generator + discriminator).

Runs single-process or under ``torchrun --nproc_per_node N`` (DDP; gloo on CPU, nccl on GPU; bf16 autocast
on GPU only). Every ``--ckpt-every`` steps an atomic safetensors checkpoint (G, D, EMA-G, both optimisers)
is written to ``RUN_DIR/step-XXXXXXXX.safetensors``; ``--resume auto`` (default) continues from the newest
one with the same step count after a kill. Every ``--val-every`` steps the EMA generator is evaluated on
the held-out split (SSIM, PSNR, L1, per-layer codebook utilisation, per-level warp mask and flow size)
and a sample grid
``RUN_DIR/samples/step-XXXXXXXX.png`` (rows: source | target | reconstruction) is written. Metrics go to
``RUN_DIR/metrics.csv`` (long format) and ``RUN_DIR/curves.png``. SIGTERM / Ctrl-C stop cleanly after the
current step with a final checkpoint. At the end the EMA generator is exported (fp16 safetensors with its
config) to ``RUN_DIR/generator-ema-fp16.safetensors``.

Example (CPU, 2 threads)::

    vqtalker train stage1 --config lite-128 --data /work/prepared --out runs/s1 --batch 8 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from vqtalker.errors import VQTalkerError


@dataclass
class TrainOptions:
    """Everything the loop needs besides the datasets (all CLI flags map 1:1 onto these fields)."""

    config: str = "lite-128"
    out: str = "runs/stage1"
    steps: int = 20000
    batch: int = 8
    lr: float = 0.002
    d_lr: float = 0.002
    mouth_lr_mult: float = 10.0  # learning rate of the mouth-channel vector v relative to lr
    betas: tuple[float, float] = (0.0, 0.99)
    accum: int = 1
    ckpt_every: int = 500
    keep: int = 3
    val_every: int = 500
    val_batches: int = 4
    log_every: int = 10
    resume: str = "auto"
    init: str | None = None
    ema_decay: float = 0.999
    ema_start: int = 0
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    threads: int | None = None
    perceptual: str = "fm"  # fm | vgg | none
    vgg_weights: str | None = None
    adv_start: int = 0  # steps without the adversarial term (feature matching still on)
    num_workers: int = 0
    freeze_motion: bool = False  # keep the token path fixed: tokens (and f_g) stay exactly as they are
    only_mouth_channel: bool = False  # train nothing but the mouth-channel vector v (and D)
    reset_warp: tuple[int, ...] = ()  # with init: reset these levels' warp heads to the identity warp
    config_overrides: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------
# evaluation helpers


@torch.no_grad()
def evaluate(generator, loader, device, max_batches: int, grid_path: Path | None = None) -> dict:
    """SSIM / PSNR / L1 of reconstructions + codebook utilisation on up to ``max_batches`` batches (with the
    mouth channel also ``l1_mouth`` / ``l1_mouth_m0``: mouth-box L1 with the channel and with it at 0)."""
    from vqtalker.metrics import psnr, ssim
    from vqtalker.quantize import CodebookStats

    was_training = generator.training
    generator.eval()
    stats = CodebookStats.for_quantizer(generator.quantizer)
    ssims, psnrs, l1s = [], [], []
    warp: dict[str, list[float]] = {}
    picks = []
    mouth_l1: list[float] = []
    mouth_l1_0: list[float] = []
    for i, batch in enumerate(loader):
        if i >= max_batches:
            break
        src = batch["source"].to(device)
        tgt = batch["target"].to(device)
        mouth = _mouth_input(generator.cfg, batch)
        mouth = mouth.to(device) if mouth is not None else None
        out = generator(src, tgt, mouth=mouth)
        img = out["image"].float()
        ssims.append(ssim(img, tgt))
        psnrs.append(psnr(img, tgt))
        l1s.append((img.clamp(-1, 1) - tgt).abs().flatten(1).mean(1))
        stats.update(out["indices"])
        aux: dict = {}
        state = generator.encode_source(src)
        img0 = generator.renderer(generator.latent(state, out["delta"]), state.feats, aux=aux).float()
        if mouth is not None and "mouth_mask" in batch:
            # mouth-region L1 with the mouth channel and with it at 0: how much the channel contributes
            mm = batch["mouth_mask"].to(device)
            den = mm.sum().clamp_min(1.0) * 3
            mouth_l1.append(float(((img.clamp(-1, 1) - tgt).abs() * mm).sum() / den))
            mouth_l1_0.append(float(((img0.clamp(-1, 1) - tgt).abs() * mm).sum() / den))
        for k, v in aux.items():
            warp.setdefault(k, []).append(v)
        if len(picks) < 8:  # first item of each batch: the grid spans the held-out clips
            picks.append((src[:1].cpu(), tgt[:1].cpu(), img[:1].cpu()))
    generator.train(was_training)
    if not ssims:
        return {}
    res = {"ssim": float(torch.cat(ssims).mean()), "psnr": float(torch.cat(psnrs).mean()),
           "l1": float(torch.cat(l1s).mean())}
    summ = stats.summary()
    for r, u in enumerate(summ["utilization_per_layer"]):
        res[f"util_l{r + 1}"] = u
    for r, p in enumerate(summ["perplexity_per_layer"]):
        res[f"ppl_l{r + 1}"] = p
    res.update({k: sum(v) / len(v) for k, v in warp.items()})  # warp diagnostics per renderer level
    if mouth_l1:
        res["l1_mouth"] = sum(mouth_l1) / len(mouth_l1)
        res["l1_mouth_m0"] = sum(mouth_l1_0) / len(mouth_l1_0)
    if grid_path is not None and picks:
        save_grid(grid_path, *(torch.cat(col) for col in zip(*picks)))
    return res


def save_grid(path: Path, *rows_of_images: torch.Tensor) -> None:
    """Save a PNG: one row per tensor ``[N, 3, S, S]`` in [-1, 1], N images side by side."""
    import numpy as np
    from PIL import Image

    from vqtalker.utils import atomic_output

    rows = []
    for t in rows_of_images:
        t = ((t.float().clamp(-1, 1) + 1) * 127.5).round().byte()  # [N,3,S,S]
        rows.append(torch.cat(list(t), dim=2))  # [3, S, N*S]
    grid = torch.cat(rows, dim=1).permute(1, 2, 0).numpy()
    with atomic_output(path) as tmp:
        Image.fromarray(np.ascontiguousarray(grid)).save(tmp, format="PNG")


# ------------------------------------------------------------------------------------------------------
# the loop


class _StopFlag:
    def __init__(self):
        self.stop = False
        self._old = {}

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass

    def _handle(self, signum, frame):
        self.stop = True

    def restore(self):
        for sig, h in self._old.items():
            signal.signal(sig, h)


def train_stage1(opts: TrainOptions, train_set, val_set=None, ctx=None, log=print) -> dict:
    """Train on ``train_set`` (items: source/target/eye_mask/mouth_mask); return a summary dict.

    ``ctx``: a :class:`~vqtalker.training.DistContext` (default: from the environment / torchrun).
    """
    from vqtalker.motion.config import get_config
    from vqtalker.motion.export import export_generator
    from vqtalker.motion.losses import VGG19Features, VGGPyramidLoss, d_logistic, generator_loss, warp_loss
    from vqtalker.motion.model import build_discriminator, build_generator, count_parameters, grow
    from vqtalker.training import EMA, MetricsLogger, init_distributed, load_checkpoint, plot_metrics
    from vqtalker.training.checkpoint import (
        checkpoint_name,
        find_latest_checkpoint,
        prune_checkpoints,
        save_checkpoint,
    )
    from vqtalker.training.loop import autocast, infinite_loader, move
    from vqtalker.utils import seed_everything

    if opts.threads:
        torch.set_num_threads(opts.threads)
    ctx = ctx or init_distributed(opts.device)
    device = ctx.device
    out = Path(opts.out)
    if ctx.is_main:
        (out / "samples").mkdir(parents=True, exist_ok=True)
    ctx.barrier()
    seed_everything(opts.seed + 1000 * ctx.rank)

    cfg = get_config(opts.config, **opts.config_overrides)
    seed_everything(opts.seed)  # identical initial weights on every rank
    G = build_generator(cfg).to(device)
    D = build_discriminator(cfg).to(device)
    use_d = bool(cfg.lambda_adv) or (opts.perceptual == "fm" and bool(cfg.lambda_perc))
    perceptual = None
    if opts.perceptual == "vgg":
        perceptual = VGGPyramidLoss(VGG19Features.from_file(opts.vgg_weights)).to(device)
    elif opts.perceptual == "none":
        cfg.lambda_perc = 0.0

    # the mouth-channel vector starts at 0 in an otherwise trained model: it gets a higher learning rate so a
    # gentle fine-tune (low lr, the renderer barely moves) still learns it
    mouth_params = list(G.mouth.parameters()) if G.mouth is not None else []
    other = [p for n, p in G.named_parameters() if not n.startswith("mouth.")]
    groups = [{"params": other}] + (
        [{"params": mouth_params, "lr": opts.lr * opts.mouth_lr_mult}] if mouth_params else []
    )
    g_opt = torch.optim.Adam(groups, lr=opts.lr, betas=opts.betas)
    d_opt = torch.optim.Adam(D.parameters(), lr=opts.d_lr, betas=opts.betas)

    start = 0
    ckpt = find_latest_checkpoint(out) if opts.resume == "auto" else (
        Path(opts.resume) if opts.resume not in ("none", "", None) else None)
    ema = None
    if ckpt is not None:
        ema = EMA(G, opts.ema_decay)
        info = load_checkpoint(ckpt, {"generator": G, "discriminator": D, "ema": ema.module},
                               {"generator": g_opt, "discriminator": d_opt}, map_location=device)
        start = info["step"]
        log(f"resumed from {ckpt} at step {start}")
    elif opts.init:
        _init_from(G, D, opts.init, grow, log)
        for res in opts.reset_warp:
            # a dead warp level (mask ~0, saturated flow: see the mask_/flow_px_ validation figures) gets no
            # useful gradient; restart it at the identity warp with mask 1/2
            if str(res) not in G.renderer.levels:
                raise VQTalkerError(f"--reset-warp {res}: the renderer has levels {list(G.renderer.levels)}")
            head = G.renderer.levels[str(res)].to_flow
            with torch.no_grad():
                head.conv.weight.zero_()
                head.bias.zero_()
            log(f"reset the warp head of renderer level {res} to the identity warp")
    if ema is None:
        ema = EMA(G, opts.ema_decay)
    if opts.only_mouth_channel:
        if G.mouth is None:
            raise VQTalkerError("--only-mouth-channel needs a model with the mouth channel (--mouth-channel)")
        for n, prm in G.named_parameters():
            prm.requires_grad_(n.startswith("mouth."))
        log("training only the mouth-channel vector; everything else is frozen")
    elif opts.freeze_motion:
        # the token path (encoder -> [decoupling MLPs] -> motion MLP -> GRFSQ projections) gets no gradient,
        # so Adam skips it and the EMA copy keeps it bit-identical: a stage-2 model trained on these tokens
        # stays valid
        frozen = [G.encoder, G.motion_mlp, G.quantizer] + ([G.decouple] if G.decouple is not None else [])
        ema_mods = {id(m): getattr(ema.module, n) for n, m in G.named_children()}
        with torch.no_grad():
            for m in frozen:
                # the exported (EMA) weights define the tokens: the trained copy takes them over exactly
                m.load_state_dict(ema_mods[id(m)].state_dict())
                m.requires_grad_(False)
        log(f"frozen token path: {sum(p.numel() for m in frozen for p in m.parameters()):,} parameters")

    if ctx.is_main:
        (out / "config.json").write_text(cfg.to_json())
        (out / "options.json").write_text(json.dumps({k: v for k, v in vars(opts).items()}, indent=1,
                                                     default=str))
        log(f"config {cfg.name}: G {count_parameters(G):,} params, D {count_parameters(D):,} params, "
            f"{cfg.bits_per_frame:.1f} bits/frame; world size {ctx.world_size}, device {device}")

    if ctx.distributed:
        G_ddp = DDP(G, find_unused_parameters=cfg.decouple_mlps)
        D_ddp = DDP(D)
    else:
        G_ddp, D_ddp = G, D

    metrics = MetricsLogger(out / "metrics.csv", resume_step=start) if ctx.is_main else None
    val_loader = None
    if val_set is not None and ctx.is_main:
        n_val = opts.val_batches * opts.batch
        if len(val_set) > n_val:  # a fixed, evenly spread subset (covers every held-out clip)
            val_set = torch.utils.data.Subset(
                val_set, torch.linspace(0, len(val_set) - 1, n_val).round().long().tolist())
        val_loader = torch.utils.data.DataLoader(val_set, batch_size=opts.batch, shuffle=False,
                                                 drop_last=False)
    it = infinite_loader(train_set, opts.batch, ctx, seed=opts.seed + start, num_workers=opts.num_workers)

    stop = _StopFlag()
    stop.install()
    step = start
    acc: dict[str, float] = {}
    n_acc = 0
    t_last = time.time()
    step_last = step
    t0 = time.time()

    def checkpoint(step_now: int):
        if ctx.is_main:
            save_checkpoint(out / checkpoint_name(step_now), step_now,
                            {"generator": G, "discriminator": D, "ema": ema.module},
                            {"generator": g_opt, "discriminator": d_opt},
                            meta={"config": cfg.to_dict(), "options": opts.config})
            prune_checkpoints(out, opts.keep)
        ctx.barrier()

    try:
        while step < opts.steps and not stop.stop:
            G_ddp.train()
            D_ddp.train()
            adv_on = use_d and step >= opts.adv_start
            lam_adv = cfg.lambda_adv
            if not adv_on:
                cfg.lambda_adv = 0.0
            # ---- generator step
            D.requires_grad_(False)
            g_opt.zero_grad(set_to_none=True)
            saved = []
            for micro in range(opts.accum):
                batch = move(next(it), device)
                sync = micro == opts.accum - 1 or not ctx.distributed
                with (G_ddp.no_sync() if not sync else _null()), autocast(device, opts.amp):
                    fl: dict | None = {"flows": {}} if cfg.lambda_warp else None
                    res = G_ddp(batch["source"], batch["target"], aux=fl, mouth=_mouth_input(cfg, batch))
                    loss, parts = generator_loss(cfg, res["image"].float(), batch["target"],
                                                 batch.get("eye_mask"), batch.get("mouth_mask"),
                                                 disc=D if use_d else None, perceptual=perceptual)
                    if fl is not None:
                        parts["warp"] = warp_loss(fl["flows"], batch["source"], batch["target"])
                        loss = loss + cfg.lambda_warp * parts["warp"]
                    (loss / opts.accum).backward()
                saved.append((batch["target"], res["image"].detach()))
                for k, v in parts.items():
                    acc[k] = acc.get(k, 0.0) + float(v.detach()) / opts.accum
                acc["g_total"] = acc.get("g_total", 0.0) + float(loss.detach()) / opts.accum
            cfg.lambda_adv = lam_adv
            g_opt.step()
            # EMA warm-up: decay ramps (1+n)/(10+n) -> ema_decay so short runs are not dominated by the init
            # (from --init the EMA starts as a trained average: no warm-up, or a fine-tune's EMA would track
            # the noisy live weights for its first thousand steps)
            ramp = opts.ema_decay if opts.init else min(opts.ema_decay, (1 + step) / (10 + step))
            ema.update(G, 0.0 if step < opts.ema_start else ramp)
            # ---- discriminator step
            if use_d and (adv_on or opts.perceptual == "fm"):
                D.requires_grad_(True)
                d_opt.zero_grad(set_to_none=True)
                for micro, (real, fake) in enumerate(saved):
                    sync = micro == len(saved) - 1 or not ctx.distributed
                    with (D_ddp.no_sync() if not sync else _null()), autocast(device, opts.amp):
                        d_loss = d_logistic(D_ddp(real).float(), D_ddp(fake).float())
                        (d_loss / len(saved)).backward()
                    acc["d_loss"] = acc.get("d_loss", 0.0) + float(d_loss.detach()) / len(saved)
                d_opt.step()
            step += 1
            n_acc += 1

            if ctx.is_main and (step % opts.log_every == 0 or step == opts.steps):
                now = time.time()
                sps = (step - step_last) / max(now - t_last, 1e-9)
                vals = {k: v / n_acc for k, v in acc.items()}
                vals["steps_per_s"] = sps
                metrics.log(step, "train", vals)
                log(f"step {step}/{opts.steps} " + " ".join(f"{k}={v:.4g}" for k, v in vals.items()))
                acc, n_acc, t_last, step_last = {}, 0, now, step
            if step % opts.ckpt_every == 0:
                checkpoint(step)
            if val_loader is not None and (step % opts.val_every == 0):
                res_v = evaluate(ema.module, val_loader, device, opts.val_batches,
                                 out / "samples" / f"step-{step:08d}.png")
                metrics.log(step, "val", res_v)
                log(f"val step {step}: " + " ".join(f"{k}={v:.4g}" for k, v in res_v.items()))
                plot_metrics(out / "metrics.csv", out / "curves.png")
            if not math.isfinite(acc.get("g_total", 0.0)):
                raise FloatingPointError("non-finite loss")
    finally:
        stop.restore()

    if step % opts.ckpt_every != 0 and step > start:
        checkpoint(step)
    summary = {"step": step, "start_step": start, "stopped_early": stop.stop and step < opts.steps,
               "wall_s": time.time() - t0}
    if ctx.is_main:
        if metrics is not None and (out / "metrics.csv").exists():
            plot_metrics(out / "metrics.csv", out / "curves.png")
        export_generator(ema.module, out / "generator-ema-fp16.safetensors", dtype=torch.float16,
                         extra={"step": str(step)})
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        log(f"done: step {step}, exported {out / 'generator-ema-fp16.safetensors'}")
    return summary


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _mouth_input(cfg, batch: dict) -> torch.Tensor | None:
    """``o_t − o_s [B]`` for a generator with the mouth channel (None otherwise)."""
    if not cfg.mouth_channel:
        return None
    if "target_mouth" not in batch:
        raise VQTalkerError("the mouth channel needs source_mouth / target_mouth in the dataset items")
    return batch["target_mouth"].float() - batch["source_mouth"].float()


def _init_from(G, D, path: str, grow, log) -> None:
    """Initialise G (and D when present) from a checkpoint or exported generator, growing if needed."""
    from vqtalker.motion.export import load_generator
    from vqtalker.training.checkpoint import load_checkpoint, read_metadata

    p = Path(path)
    try:
        md = read_metadata(p)
    except VQTalkerError:
        md = None
    if md is None:
        src_g = load_generator(p)
        src_d = None
    else:
        from vqtalker.motion.config import MotionConfig
        from vqtalker.motion.model import build_discriminator, build_generator

        cfg0 = MotionConfig.from_dict(json.loads(md["meta"])["config"])
        src_g, src_d = build_generator(cfg0), build_discriminator(cfg0)
        load_checkpoint(p, {"ema": src_g, "discriminator": src_d})
    if src_g.cfg.size != G.cfg.size:
        src_g = grow(src_g, G.cfg.size)
        src_d = grow(src_d, G.cfg.size) if src_d is not None else None
    missing, unexpected = G.load_state_dict(src_g.state_dict(), strict=False)
    # a model without the mouth channel initialises one with it (v stays 0); anything else must match
    missing = [k for k in missing if not k.startswith("mouth.")]
    if missing or unexpected:
        raise VQTalkerError(f"--init {path}: parameters do not match (missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]})")
    if src_d is not None:
        D.load_state_dict(src_d.state_dict())
    log(f"initialised from {path} (size {src_g.cfg.size})")


# ------------------------------------------------------------------------------------------------------
# CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainOptions()
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--config", default=d.config,
                   help="paper-256 | paper-512 | lite-128 | lite-256 (+hal, +decouple options)")
    p.add_argument("--data", nargs="+", required=True,
                   help="prepared dataset directory(ies) (vqtalker prepare output), or 'synthetic'")
    p.add_argument("--split", nargs="+", default=["train"], help="training split(s) (default: train)")
    p.add_argument("--val-data", default=None, help="dataset for validation (default: the first --data)")
    p.add_argument("--val-split", default="dev", help="held-out split for validation (default: dev)")
    p.add_argument("--out", required=True, help="run directory (checkpoints, metrics, samples)")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--batch", type=int, default=d.batch, help="per-process batch size")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--mouth-lr-mult", type=float, default=d.mouth_lr_mult,
                   help="learning rate of the mouth-channel vector relative to --lr")
    p.add_argument("--d-lr", type=float, default=d.d_lr)
    p.add_argument("--betas", type=float, nargs=2, default=list(d.betas), help="Adam betas (LIA: 0 0.99)")
    p.add_argument("--accum", type=int, default=d.accum, help="gradient accumulation steps")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--keep", type=int, default=d.keep, help="checkpoints to keep")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--val-batches", type=int, default=d.val_batches)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--resume", default="auto", help="auto (newest checkpoint in --out) | none | PATH")
    p.add_argument("--init", default=None,
                   help="initialise from a checkpoint/exported generator (grown if it is smaller)")
    p.add_argument("--ema-decay", type=float, default=d.ema_decay)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu | cuda | auto")
    p.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on GPU")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--perceptual", choices=["fm", "vgg", "none"], default=d.perceptual,
                   help="fm: discriminator feature matching (offline default); vgg: VGG19 pyramid "
                        "(needs --vgg-weights)")
    p.add_argument("--vgg-weights", default=None, help="local VGG19 safetensors (torchvision key names)")
    p.add_argument("--adv-start", type=int, default=d.adv_start,
                   help="step from which the adversarial term is on (paper: 0)")
    p.add_argument("--lambda", dest="lambdas", action="append", default=[], metavar="NAME=VALUE",
                   help="override a loss weight, e.g. --lambda eye=500 (l1, eye, mouth, perc, adv, warp)")
    p.add_argument("--size", type=int, default=None, help="frame size of the data (default: the config's)")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--reset-warp", type=int, nargs="+", default=[], metavar="RES",
                   help="with --init: reset these renderer levels' warp heads (e.g. a dead 128) to identity")
    p.add_argument("--mouth-channel", action="store_true",
                   help="give the renderer the lip-gap input (MotionConfig.mouth_channel; same as the config "
                        "suffix +mouth); with --init from a model without it, the channel starts at 0")
    p.add_argument("--only-mouth-channel", action="store_true",
                   help="with --mouth-channel: learn only the mouth-channel vector; the rest stays as --init "
                        "(tokens and the m = 0 output are unchanged)")
    p.add_argument("--freeze-motion", action="store_true",
                   help="train only the renderer side (direction bank, renderer, D): the encoder, motion MLP "
                        "and quantizer projections stay fixed, so motion tokens and f_g do not change "
                        "(a stage 2 trained on them stays valid)")


def _build_dataset(root: str, split: str, size: int, seed: int):
    if root == "synthetic":
        from vqtalker.motion.synthetic import SyntheticPairs

        return SyntheticPairs(n=64 if split == "train" else 16, size=size, seed=seed + (split != "train"))
    if not Path(root).is_dir():
        raise VQTalkerError(f"dataset directory not found: {root}")
    from vqtalker.data.datasets import FramePairDataset

    ds = FramePairDataset(root, size=size, split=split, seed=seed)
    # open (memory-map) every clip now: a clip that is unreadable (e.g. still being written by
    # `vqtalker prepare`) is left out instead of failing hours into the run
    ok = []
    for i, entry in enumerate(ds.entries):
        try:
            clip = ds.clip(i)
            clip.array("frames")
            clip.array("regions")
            ok.append(entry["id"])
        except (VQTalkerError, OSError, ValueError) as exc:
            print(f"warning: skipping clip {entry['id']}: {exc}", file=sys.stderr)
    if len(ok) < len(ds.entries):
        if not ok:
            raise VQTalkerError(f"no readable clips in {root} split {split}")
        ds = FramePairDataset(root, size=size, split=split, seed=seed, clip_ids=ok)
        for i in range(len(ds.entries)):
            ds.clip(i).array("frames")
    return ds


def run(args: argparse.Namespace) -> int:
    from torch.utils.data import ConcatDataset

    from vqtalker.motion.config import get_config

    overrides = {}
    for item in args.lambdas:
        if "=" not in item:
            raise VQTalkerError(f"--lambda expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if k not in ("l1", "eye", "mouth", "perc", "adv", "warp"):
            raise VQTalkerError(f"unknown loss weight {k!r}")
        overrides[f"lambda_{k}"] = float(v)
    if args.mouth_channel:
        overrides["mouth_channel"] = True
    cfg = get_config(args.config, **overrides)
    size = args.size or cfg.size
    sets = [_build_dataset(r, s, size, args.seed) for r in args.data for s in args.split]
    sets = [s for s in sets if len(s) > 0]
    if not sets:
        raise VQTalkerError("no training items found in --data for --split " + " ".join(args.split))
    train_set = sets[0] if len(sets) == 1 else ConcatDataset(sets)
    val_set = None
    if args.val_split:
        try:
            val_set = _build_dataset(args.val_data or args.data[0], args.val_split, size, args.seed)
            if len(val_set) == 0:
                val_set = None
        except VQTalkerError as exc:
            print(f"warning: no validation set ({exc})", file=sys.stderr)
    opts = TrainOptions(
        config=args.config, out=args.out, steps=args.steps, batch=args.batch, lr=args.lr, d_lr=args.d_lr,
        mouth_lr_mult=args.mouth_lr_mult,
        accum=args.accum, betas=tuple(args.betas), ckpt_every=args.ckpt_every, keep=args.keep,
        val_every=args.val_every,
        val_batches=args.val_batches, log_every=args.log_every, resume=args.resume, init=args.init,
        ema_decay=args.ema_decay, seed=args.seed, device=args.device, amp=not args.no_amp,
        threads=args.threads, perceptual=args.perceptual, vgg_weights=args.vgg_weights,
        adv_start=args.adv_start, num_workers=args.num_workers, freeze_motion=args.freeze_motion,
        only_mouth_channel=args.only_mouth_channel,
        reset_warp=tuple(args.reset_warp),
        config_overrides=overrides,
    )
    summary = train_stage1(opts, train_set, val_set, log=lambda s: print(s, flush=True))
    from vqtalker.training import init_distributed

    init_distributed(opts.device).cleanup()
    return 0 if summary["step"] >= 0 else 1
