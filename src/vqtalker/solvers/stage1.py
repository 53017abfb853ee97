"""Stage-1 solver: the facial motion tokenizer (generator + discriminator) on the
:class:`~vqtalker.training.trainer.Trainer`.

Runs single-process or under ``torchrun --nproc_per_node N`` (DDP; gloo on CPU, nccl on GPU; bf16 autocast
on GPU only). Every ``ckpt_every`` steps an atomic safetensors checkpoint (G, D, EMA-G, both optimisers)
is written to ``RUN_DIR/step-XXXXXXXX.safetensors``; ``resume="auto"`` continues from the newest one after
a kill. Every ``eval_every`` steps the EMA generator is evaluated on the held-out split (SSIM, PSNR, L1,
per-layer codebook utilisation, per-level warp mask and flow size; at the output size for a model with the
full-resolution head) and a sample grid ``RUN_DIR/samples/step-XXXXXXXX.png`` (rows: source | target |
reconstruction) is written. Metrics go to ``RUN_DIR/metrics.csv`` and ``RUN_DIR/curves.png``. SIGTERM /
Ctrl-C stop cleanly after the current step with a final checkpoint. The EMA generator is exported (fp16
safetensors with its config) to ``RUN_DIR/generator-ema-fp16.safetensors`` at every checkpoint.

Example (CPU, 2 threads)::

    vqtalker train stage1 --config lite-128 --data /work/prepared --out runs/s1 --batch-size 8 --threads 2
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtalker.errors import VQTalkerError
from vqtalker.training.trainer import Trainer, TrainerOptions

EXPORT_NAME = "generator-ema-fp16.safetensors"


@dataclass
class Stage1Options(TrainerOptions):
    """Stage-1 options on top of :class:`TrainerOptions` (CLI flags map 1:1 onto these fields)."""

    config: str = "lite-128"
    out: str = "runs/stage1"
    steps: int = 20000
    lr: float = 0.002
    d_lr: float = 0.002
    mouth_lr_mult: float = 10.0  # learning rate of the mouth-channel vector v relative to lr
    betas: tuple[float, float] = (0.0, 0.99)
    accum: int = 1
    val_batches: int = 4
    ema_decay: float = 0.999
    ema_start: int = 0
    amp: bool = True
    perceptual: str = "fm"  # fm | vgg | none
    vgg_weights: str | None = None
    adv_start: int = 0  # steps without the adversarial term (feature matching still on)
    num_workers: int = 0
    freeze_motion: bool = False  # keep the token path fixed: tokens (and f_g) stay exactly as they are
    only_mouth_channel: bool = False  # train nothing but the mouth-channel vector v (and D)
    train_only: tuple[str, ...] = ()  # train only generator parameters whose names start with these (and D)
    reset_warp: tuple[int, ...] = ()  # with init: reset these levels' warp heads to the identity warp
    config_overrides: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------
# evaluation helpers


@torch.no_grad()
def evaluate(generator, loader, device, max_batches: int, grid_path: Path | None = None) -> dict:
    """SSIM / PSNR / L1 of reconstructions + codebook utilisation on up to ``max_batches`` batches (with the
    mouth channel also ``l1_mouth`` / ``l1_mouth_m0``: mouth-box L1 with the channel and with it at 0)."""
    from vqtalker.evaluation.metrics import psnr, ssim
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
        src_hr = batch["source_hr"].to(device) if "source_hr" in batch else None
        out = generator(src, tgt, mouth=mouth, source_hr=src_hr)
        img = out["image"].float()
        if "image_hr" in out:  # full-resolution head: measure at the output size
            img, src, tgt = out["image_hr"].float(), src_hr, batch["target_hr"].to(device)
        ssims.append(ssim(img, tgt))
        psnrs.append(psnr(img, tgt))
        l1s.append((img.clamp(-1, 1) - tgt).abs().flatten(1).mean(1))
        stats.update(out["indices"])
        aux: dict = {}
        state = generator.encode_source(batch["source"].to(device), src_hr)
        img0 = generator.renderer(generator.latent(state, out["delta"]), state.feats, aux=aux).float()
        if src_hr is not None:
            img0 = generator.render(state, out["delta"], size=src_hr.shape[-1]).float()
        if mouth is not None and "mouth_mask" in batch:
            # mouth-region L1 with the mouth channel and with it at 0: how much the channel contributes
            mm = batch["mouth_mask"].to(device)
            if mm.shape[-1] != img.shape[-1]:  # masks are stored at the network size
                mm = torch.nn.functional.interpolate(mm, size=img.shape[-2:], mode="nearest")
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
    res = {
        "ssim": float(torch.cat(ssims).mean()),
        "psnr": float(torch.cat(psnrs).mean()),
        "l1": float(torch.cat(l1s).mean()),
    }
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
# the solver


class Stage1Trainer(Trainer):
    """Generator + discriminator steps (gradient accumulation, adversarial warm-up, EMA with warm-up)."""

    curves_name = "curves.png"

    def __init__(self, opts: Stage1Options, train_set, val_set=None, ctx=None, log=None):
        super().__init__(opts, ctx, log)
        self.train_set, self.val_set = train_set, val_set

    def setup(self) -> None:
        from vqtalker.motion.config import get_config
        from vqtalker.motion.losses import VGG19Features, VGGPyramidLoss
        from vqtalker.motion.model import build_discriminator, build_generator, count_parameters

        opts, device = self.opts, self.device
        if self.ctx.is_main:
            (self.out / "samples").mkdir(parents=True, exist_ok=True)
        self.cfg = cfg = get_config(opts.config, **opts.config_overrides)
        self.G = G = build_generator(cfg).to(device)
        self.D = D = build_discriminator(cfg).to(device)
        self.use_d = bool(cfg.lambda_adv) or (opts.perceptual == "fm" and bool(cfg.lambda_perc))
        self.perceptual = None
        if opts.perceptual == "vgg":
            self.perceptual = VGGPyramidLoss(VGG19Features.from_file(opts.vgg_weights)).to(device)
        elif opts.perceptual == "none":
            cfg.lambda_perc = 0.0
        # the mouth-channel vector starts at 0 in an otherwise trained model: it gets a higher learning rate
        # so a gentle fine-tune (low lr, the renderer barely moves) still learns it
        mouth_params = list(G.mouth.parameters()) if G.mouth is not None else []
        other = [p for n, p in G.named_parameters() if not n.startswith("mouth.")]
        groups = [{"params": other}] + (
            [{"params": mouth_params, "lr": opts.lr * opts.mouth_lr_mult}]
            if mouth_params
            else []
        )
        self.g_opt = torch.optim.Adam(groups, lr=opts.lr, betas=opts.betas)
        self.d_opt = torch.optim.Adam(D.parameters(), lr=opts.d_lr, betas=opts.betas)
        self.models = {"generator": G, "discriminator": D}
        self.optimizers = {"generator": self.g_opt, "discriminator": self.d_opt}
        self.ema = self.add_ema("ema", G, opts.ema_decay, self._ema_decay)
        if self.ctx.is_main:
            (self.out / "config.json").write_text(cfg.to_json())
            (self.out / "options.json").write_text(json.dumps(vars(opts), indent=1, default=str))
            self.log(
                f"config {cfg.name}: G {count_parameters(G):,} params, D {count_parameters(D):,} params, "
                f"{cfg.bits_per_frame:.1f} bits/frame; world size {self.ctx.world_size}, device {device}"
            )

    def _ema_decay(self, step: int) -> float:
        # EMA warm-up: decay ramps (1+n)/(10+n) -> ema_decay so short runs are not dominated by the init
        # (from --init the EMA starts as a trained average: no warm-up, or a fine-tune's EMA would track
        # the noisy live weights for its first thousand steps)
        opts = self.opts
        ramp = opts.ema_decay if opts.init else min(opts.ema_decay, (1 + step) / (10 + step))
        return 0.0 if step < opts.ema_start else ramp

    def initialize(self, path: str) -> None:
        from vqtalker.motion.model import grow

        G, D, opts = self.G, self.D, self.opts
        _init_from(G, D, path, grow, self.log)
        for res in opts.reset_warp:
            # a dead warp level (mask ~0, saturated flow: see the mask_/flow_px_ validation figures) gets no
            # useful gradient; restart it at the identity warp with mask 1/2
            if str(res) not in G.renderer.levels:
                raise VQTalkerError(f"--reset-warp {res}: the renderer has levels {list(G.renderer.levels)}")
            head = G.renderer.levels[str(res)].to_flow
            with torch.no_grad():
                head.conv.weight.zero_()
                head.bias.zero_()
            self.log(f"reset the warp head of renderer level {res} to the identity warp")
        # the EMA starts as the initialised model
        self.ema.module.load_state_dict(G.state_dict())

    def set_lr(self, step: int) -> float:
        """Constant learning rates: ``lr`` for G (× ``mouth_lr_mult`` for the mouth vector), ``d_lr`` for D
        (set every step, so a resumed run follows the current flags)."""
        opts = self.opts
        for i, g in enumerate(self.g_opt.param_groups):
            g["lr"] = opts.lr * (opts.mouth_lr_mult if i == 1 else 1.0)
        for g in self.d_opt.param_groups:
            g["lr"] = opts.d_lr
        return opts.lr

    def after_resume(self) -> None:
        from vqtalker.training.loop import infinite_loader

        opts, G = self.opts, self.G
        if opts.train_only:
            names = [n for n, _ in G.named_parameters() if n.startswith(tuple(opts.train_only))]
            if not names:
                raise VQTalkerError(f"--train-only {' '.join(opts.train_only)}: no such generator parameters")
            for n, prm in G.named_parameters():
                prm.requires_grad_(n.startswith(tuple(opts.train_only)))
            self.log(
                f"training only {', '.join(opts.train_only)} "
                f"({sum(G.get_parameter(n).numel() for n in names):,} "
                "parameters); the rest of the generator is frozen"
            )
        elif opts.only_mouth_channel:
            if G.mouth is None:
                raise VQTalkerError(
                    "--only-mouth-channel needs a model with the mouth channel (--mouth-channel)"
                )
            for n, prm in G.named_parameters():
                prm.requires_grad_(n.startswith("mouth."))
            self.log("training only the mouth-channel vector; everything else is frozen")
        elif opts.freeze_motion:
            # the token path (encoder -> [decoupling MLPs] -> motion MLP -> GRFSQ projections) gets no
            # gradient, so Adam skips it and the EMA copy keeps it bit-identical: a stage-2 model trained on
            # these tokens
            # stays valid
            frozen = [G.encoder, G.motion_mlp, G.quantizer] + ([G.decouple] if G.decouple is not None else [])
            ema_mods = {id(m): getattr(self.ema.module, n) for n, m in G.named_children()}
            with torch.no_grad():
                for m in frozen:
                    # the exported (EMA) weights define the tokens: the trained copy takes them over exactly
                    m.load_state_dict(ema_mods[id(m)].state_dict())
                    m.requires_grad_(False)
            self.log(
                f"frozen token path: {sum(p.numel() for m in frozen for p in m.parameters()):,} parameters"
            )
        self.G_ddp = self.wrap_ddp(G, find_unused_parameters=self.cfg.decouple_mlps)
        self.D_ddp = self.wrap_ddp(self.D)
        self.val_loader = None
        if self.val_set is not None and self.ctx.is_main:
            n_val = opts.val_batches * opts.batch_size
            val_set = self.val_set
            if len(val_set) > n_val:  # a fixed, evenly spread subset (covers every held-out clip)
                val_set = torch.utils.data.Subset(
                    val_set, torch.linspace(0, len(val_set) - 1, n_val).round().long().tolist()
                )
            self.val_loader = torch.utils.data.DataLoader(
                val_set, batch_size=opts.batch_size, shuffle=False, drop_last=False
            )
        self.it = infinite_loader(
            self.train_set,
            opts.batch_size,
            self.ctx,
            seed=opts.seed + self.step,
            num_workers=opts.num_workers,
        )

    def train_step(self, step: int) -> dict[str, float]:
        from vqtalker.motion.fullres import photometric_loss
        from vqtalker.motion.losses import d_logistic, generator_loss, warp_loss
        from vqtalker.training.loop import autocast, move

        opts, cfg, ctx, device = self.opts, self.cfg, self.ctx, self.device
        G_ddp, D_ddp, D = self.G_ddp, self.D_ddp, self.D
        self.G.train()
        D.train()
        acc: dict[str, float] = {}
        adv_on = self.use_d and step >= opts.adv_start
        lam_adv = cfg.lambda_adv
        if not adv_on:
            cfg.lambda_adv = 0.0
        # ---- generator step
        D.requires_grad_(False)
        self.g_opt.zero_grad(set_to_none=True)
        saved = []
        for micro in range(opts.accum):
            batch = move(next(self.it), device)
            sync = micro == opts.accum - 1 or not ctx.distributed
            with G_ddp.no_sync() if not sync else contextlib.nullcontext(), autocast(device, opts.amp):
                fl: dict | None = {"flows": {}} if cfg.lambda_warp else None
                res = G_ddp(
                    batch["source"],
                    batch["target"],
                    aux=fl,
                    mouth=_mouth_input(cfg, batch),
                    source_hr=batch.get("source_hr"),
                )
                hr = "image_hr" in res
                pred, target = (
                    (res["image_hr"], batch["target_hr"]) if hr else (res["image"], batch["target"])
                )
                loss, parts = generator_loss(
                    cfg,
                    pred.float(),
                    target,
                    batch.get("eye_mask"),
                    batch.get("mouth_mask"),
                    disc=D if self.use_d else None,
                    perceptual=self.perceptual,
                )
                if fl is not None:
                    parts["warp"] = warp_loss(fl["flows"], batch["source"], batch["target"])
                    loss = loss + cfg.lambda_warp * parts["warp"]
                if hr and cfg.lambda_photo:
                    parts["photo"] = photometric_loss(res["offset"], batch["source_hr"], target)
                    loss = loss + cfg.lambda_photo * parts["photo"]
                if hr and cfg.lambda_blend:
                    parts["blend"] = (1 - torch.sigmoid(res["mask_logit"].float())).mean()
                    loss = loss + cfg.lambda_blend * parts["blend"]
                (loss / opts.accum).backward()
            saved.append((target, pred.detach()))
            for k, v in parts.items():
                acc[k] = acc.get(k, 0.0) + float(v.detach()) / opts.accum
            acc["g_total"] = acc.get("g_total", 0.0) + float(loss.detach()) / opts.accum
        cfg.lambda_adv = lam_adv
        self.g_opt.step()
        # ---- discriminator step
        if self.use_d and (adv_on or opts.perceptual == "fm"):
            D.requires_grad_(True)
            self.d_opt.zero_grad(set_to_none=True)
            for micro, (real, fake) in enumerate(saved):
                sync = micro == len(saved) - 1 or not ctx.distributed
                with D_ddp.no_sync() if not sync else contextlib.nullcontext(), autocast(device, opts.amp):
                    d_loss = d_logistic(D_ddp(real).float(), D_ddp(fake).float())
                    (d_loss / len(saved)).backward()
                acc["d_loss"] = acc.get("d_loss", 0.0) + float(d_loss.detach()) / len(saved)
            self.d_opt.step()
        return acc

    def evaluate(self, step: int) -> dict[str, float]:
        if self.val_loader is None:
            return {}
        return evaluate(
            self.ema.module,
            self.val_loader,
            self.device,
            self.opts.val_batches,
            self.out / "samples" / f"step-{step:08d}.png",
        )

    def state(self) -> dict:
        return {"config": self.cfg.to_dict(), "options": self.opts.config}

    def export(self, step: int, final: bool) -> None:
        from vqtalker.motion.weights import save_generator

        save_generator(
            self.ema.module, self.out / EXPORT_NAME, dtype=torch.float16, extra={"step": str(step)}
        )


def train_stage1(opts: Stage1Options, train_set, val_set=None, ctx=None, log=None) -> dict:
    """Train on ``train_set`` (items: source/target/eye_mask/mouth_mask[/source_hr/target_hr]); return the
    run summary (see :meth:`Trainer.run`)."""
    return Stage1Trainer(opts, train_set, val_set, ctx, log).run()


def _mouth_input(cfg, batch: dict) -> torch.Tensor | None:
    """``o_t − o_s [B]`` for a generator with the mouth channel (None otherwise)."""
    if not cfg.mouth_channel:
        return None
    if "target_mouth" not in batch:
        raise VQTalkerError("the mouth channel needs source_mouth / target_mouth in the dataset items")
    return batch["target_mouth"].float() - batch["source_mouth"].float()


def _init_from(G, D, path: str, grow, log) -> None:
    """Initialise G (and D when present) from a checkpoint or exported generator, growing if needed."""
    from vqtalker.motion.weights import load_generator
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
    # a model without the mouth channel / full-resolution head initialises one with it (v = 0, head at the
    # base level's flow); anything else must match
    missing = [k for k in missing if not k.startswith(("mouth.", "fullres."))]
    if missing or unexpected:
        raise VQTalkerError(
            f"--init {path}: parameters do not match (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    if src_d is not None:
        if src_d.cfg.size != D.cfg.size:
            src_d = grow(src_d, D.cfg.size)
        D.load_state_dict(src_d.state_dict())
    log(f"initialised from {path} (size {src_g.cfg.size})")


def build_dataset(root: str, split: str, size: int, seed: int, hr_size: int | None = None):
    if root == "synthetic":
        from vqtalker.motion.synthetic import SyntheticPairs

        return SyntheticPairs(
            n=64 if split == "train" else 16, size=size, seed=seed + (split != "train"), hr_size=hr_size
        )
    if not Path(root).is_dir():
        raise VQTalkerError(f"dataset directory not found: {root}")
    from vqtalker.data.datasets import FramePairDataset

    ds = FramePairDataset(root, size=size, split=split, seed=seed, hr_size=hr_size)
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
        ds = FramePairDataset(root, size=size, split=split, seed=seed, clip_ids=ok, hr_size=hr_size)
        for i in range(len(ds.entries)):
            ds.clip(i).array("frames")
    return ds


__all__ = ["EXPORT_NAME", "Stage1Options", "Stage1Trainer", "build_dataset", "evaluate", "train_stage1"]
