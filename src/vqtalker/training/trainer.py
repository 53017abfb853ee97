"""The one training loop of the project: :class:`Trainer` owns everything a solver does not need to know.

A solver (``vqtalker.solvers.*``) subclasses :class:`Trainer` and fills in four hooks:

* :meth:`Trainer.setup` — build models, optimisers and data; register what a checkpoint holds in
  ``self.models`` / ``self.optimizers`` (name → module with ``state_dict``; name → optimiser);
* :meth:`Trainer.train_step` — one optimisation step, returns scalar metrics;
* :meth:`Trainer.evaluate` (optional) — dev metrics every ``eval_every`` steps;
* :meth:`Trainer.export` (optional) — write the inference weights (at checkpoints and at the end).

The base owns: the run directory and ``train.log``; threads and seeding; DDP (``torchrun``: gloo on CPU,
nccl on GPU, :mod:`vqtalker.training.distributed`); auto-resume from the newest ``step-XXXXXXXX.safetensors``
(or ``--resume PATH`` / ``none``) with the solver's extra state (:meth:`Trainer.state` /
:meth:`Trainer.load_state`); atomic, pickle-free checkpoints every ``ckpt_every`` steps keeping the newest
``keep``; exponential moving averages registered with :meth:`Trainer.add_ema`; the learning-rate schedule
(:func:`lr_at`, applied to every optimiser's param groups; a solver with other rates overrides
:meth:`Trainer.set_lr`); a clean stop after the current
step on SIGTERM / SIGINT / SIGHUP or after ``max_minutes`` (all ranks agree), always with a checkpoint;
``metrics.csv`` (long format, resume-safe) and its PNG curves; a summary ``run.json``.
"""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vqtalker.errors import VQTalkerError


@dataclass
class TrainerOptions:
    """Flags every trainer shares (the CLI spells them the same for every ``vqtalker train`` component).

    ``resume``: ``auto`` (newest checkpoint in ``out``) | ``none`` | a checkpoint path; ``init``: weights to
    start from (solver-specific); ``schedule``: ``constant`` | ``cosine`` (to ``min_lr_frac`` × ``lr`` at
    ``steps``, reached after the last step) | ``warmup-cosine`` (linear warm-up over ``warmup`` steps,
    then cosine); ``max_minutes``: 0 =
    no limit; ``threads``: torch CPU threads (0 = torch's default).
    """

    out: str = "runs/train"
    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    schedule: str = "constant"
    warmup: int = 0
    min_lr_frac: float = 0.0
    ckpt_every: int = 500
    keep: int = 3
    log_every: int = 10
    eval_every: int = 500
    resume: str = "auto"
    init: str | None = None
    max_minutes: float = 0.0
    threads: int = 0
    device: str = "cpu"
    seed: int = 0
    plot: bool = True
    stop_after: int | None = None  # stop (with a checkpoint, as if interrupted) after this step


def lr_at(step: int, opts: TrainerOptions) -> float:
    """Learning rate for optimisation step ``step`` (0-based) under ``opts.schedule``."""
    base, total = opts.lr, max(1, opts.steps)
    if opts.schedule == "constant":
        return base
    if opts.schedule == "warmup-cosine":
        if step < opts.warmup:
            return base * (step + 1) / max(1, opts.warmup)
        t = min(1.0, (step - opts.warmup) / max(1, total - opts.warmup))
    elif opts.schedule == "cosine":
        t = min(1.0, (step + 1) / total)
    else:
        raise VQTalkerError(
            f"unknown learning-rate schedule {opts.schedule!r} (constant, cosine, warmup-cosine)"
        )
    lo = opts.min_lr_frac
    return base * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * t)))


class StopFlag:
    """Set by SIGTERM / SIGINT / SIGHUP (the loop stops after the current step, with a checkpoint)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self):
        self.stop = False
        self._old: dict = {}

    def install(self) -> StopFlag:
        for sig in self.SIGNALS:
            if signal.getsignal(sig) is signal.SIG_IGN:  # e.g. SIGHUP under nohup: keep ignoring it
                continue
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.stop = True

    def restore(self) -> None:
        for sig, h in self._old.items():
            signal.signal(sig, h)
        self._old = {}


class Trainer:
    """Base of every solver (see the module docstring). ``ctx``: a
    :class:`~vqtalker.training.distributed.DistContext` (default: from the environment); ``log``: a callable
    for progress lines (default: print, plus ``train.log`` on the main rank)."""

    #: checkpoint file pattern is fixed (``step-XXXXXXXX.safetensors``); solvers name their parts here
    log_name = "train.log"
    curves_name = "curves.png"

    def __init__(self, opts: TrainerOptions, ctx=None, log=None):
        from vqtalker.training.distributed import init_distributed

        self.opts = opts
        if opts.threads and opts.threads > 0:
            torch.set_num_threads(int(opts.threads))
        self.ctx = ctx or init_distributed(opts.device)
        self.device = self.ctx.device
        self.out = Path(opts.out)
        self.models: dict[str, object] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.emas: dict[str, tuple] = {}
        self.step = 0
        self.start_step = 0
        self.resumed_from: Path | None = None
        self._log = log
        self._t_start = time.time()

    # -- hooks -----------------------------------------------------------------------------------------------
    def setup(self) -> None:
        raise NotImplementedError

    def train_step(self, step: int) -> dict[str, float]:
        raise NotImplementedError

    def evaluate(self, step: int) -> dict[str, float]:
        return {}

    def export(self, step: int, final: bool) -> None:
        """Write inference weights (called at each checkpoint and at the end; main rank only)."""

    def state(self) -> dict:
        """Extra JSON-serialisable state stored in every checkpoint (sampler positions, config …)."""
        return {}

    def load_state(self, meta: dict) -> None:
        """Restore :meth:`state` from a checkpoint's metadata."""

    def initialize(self, path: str) -> None:
        """Start from ``opts.init`` when there is nothing to resume (solver-specific)."""
        raise VQTalkerError(f"--init is not supported by this trainer ({type(self).__name__})")

    # -- services --------------------------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if not self.ctx.is_main:
            return
        if self._log is not None:
            self._log(msg)
            return
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with open(self.out / self.log_name, "a") as f:
            f.write(line + "\n")

    def add_ema(self, name: str, module: torch.nn.Module, decay: float, decay_at=None):
        """Track an EMA copy of ``module`` (checkpointed as ``name``); ``decay_at(step) -> float`` overrides
        the decay per step (e.g. a warm-up). Returns the :class:`~vqtalker.training.ema.EMA`."""
        from vqtalker.training.ema import EMA

        ema = EMA(module, decay)
        self.emas[name] = (ema, module, decay_at)
        self.models[name] = ema.module
        return ema

    def update_emas(self, step: int) -> None:
        for ema, module, decay_at in self.emas.values():
            ema.update(module, None if decay_at is None else decay_at(step))

    def wrap_ddp(self, module: torch.nn.Module, **kw) -> torch.nn.Module:
        """``module`` wrapped in DistributedDataParallel under torchrun, else unchanged."""
        if not self.ctx.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(module, device_ids=ids, **kw)

    def set_lr(self, step: int) -> float:
        lr = lr_at(step, self.opts)
        for opt in self.optimizers.values():
            for g in opt.param_groups:
                g["lr"] = lr
        return lr

    # -- checkpoints ----------------------------------------------------------------------------------------
    def checkpoint(self, step: int) -> None:
        from vqtalker.training.checkpoint import checkpoint_name, prune_checkpoints, save_checkpoint

        if self.ctx.is_main:
            meta = {**self.state(), "trainer": type(self).__name__}
            save_checkpoint(self.out / checkpoint_name(step), step, self.models, self.optimizers, meta=meta)
            prune_checkpoints(self.out, self.opts.keep)
            self.export(step, final=False)
        self.ctx.barrier()

    def _resume(self) -> int:
        from vqtalker.training.checkpoint import find_latest_checkpoint, load_checkpoint

        r = self.opts.resume
        if r in ("none", "", None):
            return 0
        path = find_latest_checkpoint(self.out) if r == "auto" else Path(r)
        if path is None:
            return 0
        info = load_checkpoint(path, self.models, self.optimizers, map_location=self.device)
        self.load_state(info["meta"])
        self.resumed_from = path
        self.log(f"resumed from {path.name} at step {info['step']} ({path.parent})")
        return int(info["step"])

    # -- the loop --------------------------------------------------------------------------------------------
    def run(self) -> dict:
        """Set up, resume or initialise, train to ``opts.steps`` (or a stop), checkpoint, export; returns a
        summary ``{"step", "start_step", "stopped_early", "wall_s"}``."""
        from vqtalker.training.curves import MetricsLogger, plot_metrics
        from vqtalker.utils import atomic_write_bytes, seed_everything

        opts = self.opts
        if opts.steps < 1 or opts.batch_size < 1:
            raise VQTalkerError("--steps and --batch-size must be >= 1")
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.ctx.barrier()
        seed_everything(opts.seed)  # identical initial weights on every rank
        self.setup()
        if self.ctx.distributed:  # different dropout / augmentation draws per rank
            seed_everything(opts.seed + 1000 * self.ctx.rank)
        start = self._resume()
        if start == 0 and self.resumed_from is None and opts.init:
            self.initialize(opts.init)
        self.step = self.start_step = start
        self.after_resume()
        self._t_start = time.time()  # --max-minutes counts training time, not data preparation
        metrics = (
            MetricsLogger(self.out / "metrics.csv", resume_step=start if self.resumed_from else None)
            if self.ctx.is_main
            else None
        )
        stop = StopFlag().install()
        t_log, step_log = time.time(), start
        acc: dict[str, float] = {}
        n_acc = 0
        try:
            last = opts.steps if opts.stop_after is None else min(opts.steps, opts.stop_after)
            while self.step < last and not stop.stop:
                self.set_lr(self.step)
                vals = self.train_step(self.step)
                self.update_emas(self.step)
                self.step += 1
                step = self.step
                for k, v in vals.items():
                    acc[k] = acc.get(k, 0.0) + float(v)
                n_acc += 1
                if not all(math.isfinite(float(v)) for v in vals.values()):
                    raise VQTalkerError(f"training diverged at step {step} ({vals})")
                if opts.max_minutes > 0:  # every rank must take the same decision, or DDP hangs
                    late = torch.tensor(float((time.time() - self._t_start) / 60 >= opts.max_minutes),
                                        device=self.device)
                    if bool(self.ctx.all_reduce_mean(late) > 0):
                        stop.stop = True
                if self.ctx.is_main and (
                    step % opts.log_every == 0 or step == opts.steps or step == start + 1
                ):
                    now = time.time()
                    row = {k: v / n_acc for k, v in acc.items()}
                    row["steps_per_s"] = (step - step_log) / max(now - t_log, 1e-9)
                    row["lr"] = lr_at(step - 1, opts)
                    metrics.log(step, "train", row)
                    self.log(f"step {step}/{opts.steps} " + " ".join(f"{k}={v:.4g}" for k, v in row.items()))
                    acc, n_acc, t_log, step_log = {}, 0, now, step
                if step % opts.eval_every == 0 or step == opts.steps:
                    self._evaluate(step, metrics)
                if step % opts.ckpt_every == 0 or step == opts.steps:
                    self.checkpoint(step)
        finally:
            stop.restore()
        if self.step > start and self.step % opts.ckpt_every != 0 and self.step != opts.steps:
            self.checkpoint(self.step)  # a stop (signal / max-minutes) always leaves a resume point
        summary = {
            "step": self.step,
            "start_step": start,
            "stopped_early": self.step < opts.steps,
            "wall_s": round(time.time() - self._t_start, 1),
        }
        if self.ctx.is_main:
            self.export(self.step, final=True)
            if opts.plot and (self.out / "metrics.csv").exists():
                plot_metrics(self.out / "metrics.csv", self.out / self.curves_name)
            atomic_write_bytes(
                self.out / "run.json",
                json.dumps({**summary, "options": asdict(opts)}, indent=1, default=str).encode(),
            )
            self.log(
                f"done at step {self.step}"
                + (" (stopped early; rerun to resume)" if summary["stopped_early"] else "")
            )
        return summary

    def after_resume(self) -> None:
        """Called once the start step is known (e.g. to build a data iterator seeded by it)."""

    def _evaluate(self, step: int, metrics) -> None:
        if not self.ctx.is_main:
            return
        t0 = time.time()
        res = self.evaluate(step)
        if res:
            metrics.log(step, "dev", res)
            self.log(
                f"dev @ {step}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in sorted(res.items()) if isinstance(v, int | float))
                + f" ({time.time() - t0:.1f} s)"
            )


__all__ = ["StopFlag", "Trainer", "TrainerOptions", "lr_at"]
