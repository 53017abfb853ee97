"""Stage-2 solver: the coarse-to-fine motion-token generator on :class:`~vqtalker.training.trainer.Trainer`.

    vqtalker train stage2 --stage1 runs/stage1/stage1.safetensors --speech-tokenizer default \\
        --data data/prepared --out runs/stage2 [--preset lite] [--steps 20000] [--batch-size 8 --window 200]

Pipeline: (1) every prepared clip with speech is encoded once with the frozen stage-1 model and the speech
tokenizer into ``OUT/cache`` (:mod:`vqtalker.generate.data`; resumable, rebuilt if the weights change);
(2) random windows (reference = first frame of the window, ``random_reference`` for a random one) give
targets ``GRFSQ(f_t − f_s)``; (3) each sample draws one residual layer r ~ U{0..3}, the model sees the
ground-truth layer r−1 (teacher forcing; zeros for r = 0) and is trained with cross-entropy over the 12 groups
on valid frames (padding masked). Continuous-output ablations regress ``f_t − f_s`` (L1/MSE).

Outputs in ``OUT``: ``step-XXXXXXXX.safetensors`` training checkpoints (model + AdamW state, atomic, the
newest ``keep`` kept; a restarted run resumes from the newest), ``stage2.safetensors`` (inference weights +
metadata, refreshed at every checkpoint), ``metrics.csv`` (step, split, name, value) and ``metrics.png``,
``train.log``. Launch with ``torchrun --nproc_per_node N -m vqtalker train stage2 ...`` for DDP (gloo on CPU,
nccl on GPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from vqtalker.errors import VQTalkerError
from vqtalker.training.trainer import Trainer, TrainerOptions


@dataclass
class Stage2Options(TrainerOptions):
    """Stage-2 options on top of :class:`TrainerOptions` (CLI flags map 1:1)."""

    stage1: str = ""
    data: str = ""
    speech_tokenizer: str = "default"
    cache: str | None = None
    preset: str = "lite"
    variant: str | None = None
    prev_cond: str = "last"
    train_split: str = "train"
    dev_split: str = "dev"
    max_clips: int = 0
    window: int = 200
    steps: int = 6000
    lr: float = 3e-4
    schedule: str = "warmup-cosine"
    warmup: int = 500
    min_lr_frac: float = 0.1
    log_every: int = 20
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    random_reference: bool = False
    eval_render: int = 0
    overrides: dict = field(default_factory=dict)  # d_model, n_layers, n_heads, ffn, dropout
    pose_input: str = "absolute"
    mouth_aux: float = 0.0
    mouth_token: float = 0.0
    face_dropout: float = 0.0


def lr_at(step: int, base: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10 % of ``base`` at ``total`` (the stage-2 schedule)."""
    from vqtalker.training.trainer import lr_at as schedule

    return schedule(
        step, TrainerOptions(lr=base, schedule="warmup-cosine", warmup=warmup, steps=total, min_lr_frac=0.1)
    )


def training_loss(
    model, stage1, batch, generator: torch.Generator | None = None, mouth_values: torch.Tensor | None = None
) -> tuple[torch.Tensor, dict]:
    """Masked loss of one batch: CE on a random residual layer per sample (tokens) or L1/MSE (continuous).

    ``mouth_values [R, G, C]`` (:func:`vqtalker.mouth.direction.mouth_code_values`) enables the
    mouth-direction
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
            delta, _ = stage1.quantizer(delta)
        pred = model(*args, None, 0, m, ref)
        err = (pred - delta).abs() if cfg.regression_loss == "l1" else (pred - delta) ** 2
        loss = (err.mean(-1) * m).sum() / nvalid
        return loss, {"loss": float(loss.detach())}
    with torch.no_grad():
        _, idx = stage1.quantizer(delta)
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
        from vqtalker.face.lips import mouth_opening

        target = mouth_opening(batch.mouth)  # [B, T], ≈ 0..1
        mouth_l1 = ((aux["mouth"] - target).abs() * m).sum() / nvalid
        stats["mouth_l1"] = float(mouth_l1.detach())
        loss = loss + cfg.mouth_aux * mouth_l1
    if cfg.mouth_token > 0 and mouth_values is not None:
        from vqtalker.mouth.direction import mouth_token_loss

        mt = mouth_token_loss(logits, tgt, mouth_values.to(logits.device)[r], m)
        stats["mouth_tok"] = float(mt.detach())
        loss = loss + cfg.mouth_token * mt
    with torch.no_grad():
        acc = ((logits.argmax(-1) == tgt) * m[..., None]).sum() / (nvalid * cfg.groups)
    return loss, {"loss": float(loss.detach()), "acc": float(acc), **stats}


class Stage2Trainer(Trainer):
    """See the module docstring."""

    curves_name = "metrics.png"

    def setup(self) -> None:
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
        from vqtalker.generate.model import build_model
        from vqtalker.motion.tokenizer import MotionTokenizer
        from vqtalker.speech import load_speech_tokenizer
        from vqtalker.utils import atomic_write_bytes

        opts, ctx, dev = self.opts, self.ctx, self.device
        if opts.window < 8:
            raise VQTalkerError("--window must be >= 8")
        self.stage1_path = Path(opts.stage1)
        self.stage1 = stage1 = MotionTokenizer.from_pretrained(self.stage1_path, dev, frozen=True)
        tok = load_speech_tokenizer(opts.speech_tokenizer)
        discrete = bool(getattr(tok, "is_discrete", True))
        variant = opts.variant or ("D-D" if discrete else "C-D")
        if variant.startswith("D") != discrete:
            raise VQTalkerError(
                f"variant {variant} needs a {'discrete' if variant[0] == 'D' else 'continuous'} "
                f"speech tokenizer, {opts.speech_tokenizer!r} is not"
            )
        cache_dir = Path(opts.cache) if opts.cache else self.out / "cache"
        self.key = key = {
            "stage1": file_fingerprint(self.stage1_path),
            "speech_tokenizer": opts.speech_tokenizer,
            "tok": repr(tok),
        }
        plan = planned_clips(opts.data, (opts.train_split, opts.dev_split), max_clips=opts.max_clips)
        if ctx.is_main:
            build_cache(opts.data, cache_dir, stage1, tok, key, plan, log=self.log)
        ctx.barrier()
        train_clips = load_cache(cache_dir, plan, opts.train_split)
        self.dev_clips = load_cache(cache_dir, plan, opts.dev_split)
        if not train_clips:
            raise VQTalkerError(f"no '{opts.train_split}' clips with speech in {opts.data}")
        self.cfg = cfg = make_config(
            opts.preset,
            variant,
            prev_cond=opts.prev_cond,
            face_dim=stage1.face_dim,
            motion_dim=stage1.motion_dim,
            speech_vocab=int(tok.vocab_size) if discrete else 4096,
            audio_dim=int(getattr(tok, "feature_dim", 0)) or 80,
            groups=int(stage1.cfg.quant_groups),
            num_layers_rvq=int(stage1.cfg.num_quantizers),
            codebook_size=int(math.prod(stage1.cfg.levels)),
            face_dropout=opts.face_dropout,
            pose_input=opts.pose_input,
            mouth_aux=opts.mouth_aux,
            mouth_token=opts.mouth_token,
            **{k: v for k, v in opts.overrides.items() if v is not None},
        )
        if cfg.max_len < opts.window:
            cfg.max_len = opts.window
        self.model = model = build_model(cfg).to(dev)
        self.log(
            f"stage-2 {opts.preset} {variant}: {model.num_parameters():,} parameters; "
            f"{len(train_clips)} train clips "
            f"({sum(c.num_frames for c in train_clips)} frames), {len(self.dev_clips)} dev clips"
        )
        self.opt = torch.optim.AdamW(
            model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay, betas=(0.9, 0.98)
        )
        self.models, self.optimizers = {"stage2": model}, {"adamw": self.opt}
        self.sampler = WindowSampler(
            train_clips, opts.window, opts.random_reference, seed=opts.seed + 1000 * ctx.rank
        )
        self.mouth_values = None
        if cfg.mouth_token > 0:
            if cfg.motion_output != "tokens":
                raise VQTalkerError("--mouth-token needs token output (variant D-D or C-D)")
            import json

            from vqtalker.mouth.direction import fit_mouth_direction, mouth_code_values

            # deterministic on every rank: the same cached clips, closed-form ridge
            direction, mstats = fit_mouth_direction(stage1.quantizer, train_clips, self.dev_clips)
            self.mouth_values = mouth_code_values(stage1.quantizer, direction).to(dev)
            self.log(
                "mouth direction: read-out corr with the inner-lip gap change "
                + ", ".join(f"{k} {v:.3f}" for k, v in mstats.items())
            )
            if ctx.is_main:
                atomic_write_bytes(
                    self.out / "mouth_direction.json",
                    json.dumps({"direction": direction.tolist(), **mstats}).encode(),
                )
        self.stats = ControlStats.from_data(*stack_controls(train_clips))
        self.dev_batches = (
            eval_windows(self.dev_clips, min(opts.window, cfg.max_len)) if self.dev_clips else []
        )
        self.variant = variant
        self.run_meta = {
            "config": cfg.to_dict(),
            "speech_tokenizer": opts.speech_tokenizer,
            "variant": variant,
        }

    def load_state(self, meta: dict) -> None:
        if meta.get("config") != self.cfg.to_dict():
            raise VQTalkerError(f"{self.out} holds a run with another configuration; use a new --out")
        st = meta.get("sampler_state", {}).get(str(self.ctx.rank))
        if st is not None:
            self.sampler.set_state(st)

    def state(self) -> dict:
        return {
            **self.run_meta,
            "sampler_state": {str(self.ctx.rank): self.sampler.state()},
            "stage1": str(self.stage1_path),
        }

    def after_resume(self) -> None:
        self.train_model = self.wrap_ddp(
            self.model,
            find_unused_parameters=self.cfg.motion_output == "continuous",  # no R_{r-1} embedding
        )
        self.rgen = torch.Generator().manual_seed(self.opts.seed * 7919 + self.step + 31 * self.ctx.rank)

    def train_step(self, step: int) -> dict[str, float]:
        self.train_model.train()
        batch = self.sampler.sample(self.opts.batch_size).to(self.device)
        loss, stats = training_loss(self.train_model, self.stage1, batch, self.rgen, self.mouth_values)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.opts.grad_clip > 0:
            stats["grad_norm"] = float(
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.opts.grad_clip)
            )
        self.opt.step()
        return stats

    def evaluate(self, step: int) -> dict[str, float]:
        from vqtalker.evaluation.lipsync import lipsync_metrics
        from vqtalker.evaluation.tokens import token_metrics

        if not self.dev_batches:
            return {}
        metrics = token_metrics(self.model, self.stage1, self.dev_batches)
        if self.opts.eval_render > 0:
            lip = lipsync_metrics(
                self.model, self.stage1, self.opts.data, self.dev_clips, self.opts.eval_render, log=self.log
            )
            lip.pop("per_clip", None)  # the metrics CSV holds numbers
            metrics.update(lip)
        return metrics

    def export(self, step: int, final: bool) -> None:
        from vqtalker.generate.checkpoint import save_stage2

        save_stage2(
            self.out / "stage2.safetensors",
            self.model,
            speech_tokenizer=self.opts.speech_tokenizer,
            control_stats=self.stats.to_json(),
            stage1=f"{self.stage1_path.name} sha256:{self.key['stage1']}",
            step=str(step),
            variant=self.variant,
        )


def train_stage2(opts: Stage2Options, ctx=None, log=None) -> dict:
    return Stage2Trainer(opts, ctx, log).run()


__all__ = ["Stage2Options", "Stage2Trainer", "lr_at", "train_stage2", "training_loss"]
