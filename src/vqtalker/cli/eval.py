"""``vqtalker eval stage2|codec|reconstruct|animate``: dev metrics of trained models (vqtalker.evaluation).

``eval animate`` — speech-driven animation as a user gets it (portrait = the clip's first frame, speech =
its own audio, the whole pipeline) against the real video: lip sync next to the first frame held and the
audio-energy heuristic, CSIM, sharpness, jitter; per clip, per language, mean.

``eval reconstruct`` — the paper's reconstruction scenario (frame 0 + tokens) on every clip: SSIM / PSNR
(RGB) and SSIM-Y / VMAF (luma), copy-frame-0, CSIM, mouth LMD and opening correlation, sharpness, codebook
utilisation and perplexity per layer, and x264 at the same bitrate; per clip, per language and mean.

``eval codec`` — rate–distortion of the ``.vqt`` codec at several settings next to x264 / x265 / SVT-AV1 /
libaom at matched bitrates and copy-frame-0, all scored with the same tools on the same crops (SSIM-Y,
PSNR-Y, VMAF; CSIM for vqtalker), writing ``OUT/report.md``, ``report.json``, ``results.json`` (resumable)
and RD plots (:mod:`vqtalker.evaluation.codec`).

``eval stage2`` —
Prints (and with ``--json`` writes) per-layer token accuracy (teacher-forced and generated, next to the
majority class), motion-space L1 against the static reference, and with ``--render N`` the speech-driven
lip-sync protocol on N dev clips (:mod:`vqtalker.evaluation.lipsync`) through the same mouth guidance as
``vqtalker animate``.

Example::

    vqtalker eval stage2 --stage1 S1.safetensors --stage2 RUN/stage2.safetensors --data PREPARED/talking \\
        --mouth-predictor src/vqtalker/weights/stage2/mouth.safetensors --render 4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate trained models on a prepared dev split",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    esub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    s2 = esub.add_parser("stage2", help="stage-2 token metrics and the speech-driven lip-sync protocol")
    s2.add_argument("--stage1", required=True, help="stage-1 weights the stage-2 model was trained with")
    s2.add_argument("--stage2", required=True, help="stage-2 weights (RUN_DIR/stage2.safetensors)")
    s2.add_argument("--data", required=True, help="prepared dataset")
    s2.add_argument("--split", default="dev")
    s2.add_argument("--cache", default=None, help="cache dir (default: the run's cache next to --stage2)")
    s2.add_argument("--window", type=int, default=200)
    s2.add_argument("--render", type=int, default=4, metavar="N", help="clips for the lip metric (0 = skip)")
    s2.add_argument("--max-clips", type=int, default=0)
    s2.add_argument("--json", default=None, help="also write the metrics here")
    s2.add_argument("--threads", type=int, default=0)
    s2.add_argument("--temperature", type=float, default=0.0, help="0 = argmax (paper); > 0 = sampling")
    s2.add_argument("--top-k", type=int, default=0)
    s2.add_argument("--seed", type=int, default=0)
    s2.add_argument(
        "--mouth-predictor",
        default=None,
        help="mouth predictor + control (vqtalker train mouth) for mouth guidance (default: none)",
    )
    s2.add_argument(
        "--mouth-gain",
        type=float,
        default=None,
        help="mouth guidance gain (default: the predictor file's; 0 = off, the paper)",
    )
    s2.add_argument(
        "--mouth-channel-gain",
        type=float,
        default=None,
        help="with a stage-1 mouth channel: scale of the predicted opening it receives (0 = off)",
    )
    s2.add_argument("--no-silence", action="store_true", help="no voice-activity gate on the mouth track")
    s2.add_argument("--param-gain", type=float, default=None, help="gain of the mouth-parameter directions")
    s2.set_defaults(func=run_stage2)

    from vqtalker.cli.runtime import add_runtime_arguments
    from vqtalker.evaluation.codec import DEFAULT_KBPS, DEFAULT_SETTINGS

    c = esub.add_parser("codec", help="rate-distortion of the .vqt codec against x264/x265/AV1 on dev crops",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _suite_arguments(c)
    c.add_argument("--size", type=int, default=256, help="crop side in pixels (default 256)")
    c.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS),
                   help="vqtalker settings: tokens, kbps=B[,q=Q][,ssim=S][,keyint=K][,layers=L]")
    c.add_argument("--baselines", nargs="*", default=["x264", "x265", "svt-av1", "libaom"],
                   help="classical codecs to compare (none: only vqtalker and copy-frame-0)")
    c.add_argument("--kbps", type=float, nargs="+", default=list(DEFAULT_KBPS), help="baseline target rates")
    c.add_argument("--clips", type=int, default=None, help="only the first N clips")
    c.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each clip")
    add_runtime_arguments(c)
    c.set_defaults(func=run_codec)

    rr = esub.add_parser("reconstruct", help="frame 0 + tokens reconstruction of every dev clip + baselines",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _suite_arguments(rr)
    rr.add_argument("--size", type=int, default=None, help="output size (default: the model's)")
    rr.add_argument("--layers", type=int, default=None, help="residual layers decoded (default: all)")
    rr.add_argument("--baselines", nargs="*", default=["x264"], help="classical codecs at the same bitrate")
    rr.add_argument("--clips", type=int, default=None)
    rr.add_argument("--max-frames", type=int, default=None)
    add_runtime_arguments(rr)
    rr.set_defaults(func=run_reconstruct)

    an = esub.add_parser("animate", help="speech-driven animation of every dev clip vs the real video",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    an.add_argument("--data", required=True, help="prepared dataset (DATA/<split>/<clip>/frames.npy)")
    an.add_argument("--out", required=True, help="report directory (results.json there is resumed)")
    an.add_argument("--split", default="dev")
    an.add_argument("--weights", default=None, metavar="DIR", help="directory with stage1/stage2 weights")
    an.add_argument("--size", type=int, default=256)
    an.add_argument("--seed", type=int, default=0)
    an.add_argument("--clips", type=int, default=None)
    an.add_argument("--max-frames", type=int, default=None)
    add_runtime_arguments(an)
    an.set_defaults(func=run_animate)


def run_animate(args) -> int:
    from vqtalker.cli.runtime import apply_runtime
    from vqtalker.errors import VQTalkerError
    from vqtalker.evaluation.animation import run_animate_eval
    from vqtalker.pipeline import TalkingHeadPipeline

    device = apply_runtime(args)
    if not Path(args.data).is_dir():
        raise VQTalkerError(f"--data: not a directory: {args.data}")
    pipe = TalkingHeadPipeline.from_pretrained(args.weights, device=device)
    run_animate_eval(pipe, args.data, args.out, split=args.split, size=args.size, clips=args.clips,
                     max_frames=args.max_frames, seed=args.seed,
                     log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"wrote {Path(args.out) / 'report.md'}", file=sys.stderr)
    return 0


def _suite_arguments(p) -> None:
    """Options every report-writing suite shares."""
    p.add_argument("--data", required=True, help="prepared dataset (DATA/<split>/<clip>/frames.npy)")
    p.add_argument("--out", required=True, help="report directory (results.json there is resumed)")
    p.add_argument("--split", default="dev")
    p.add_argument("--stage1", default=None, help="stage-1 weights (default: the packaged model)")


def _suite_tokenizer(args):
    """(stage-1 tokenizer, log function) of a suite verb, after the run-time options and --data checks."""
    from vqtalker.cli.runtime import apply_runtime
    from vqtalker.errors import VQTalkerError
    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.pipeline import DEFAULT_STAGE1

    device = apply_runtime(args)
    if not Path(args.data).is_dir():
        raise VQTalkerError(f"--data: not a directory: {args.data}")
    tok = MotionTokenizer.from_pretrained(args.stage1 or DEFAULT_STAGE1, device=device)
    return tok, (lambda m: print(m, file=sys.stderr, flush=True))


def run_reconstruct(args) -> int:
    from vqtalker.evaluation.reconstruction import run_reconstruction_eval

    tok, log = _suite_tokenizer(args)
    run_reconstruction_eval(tok, args.data, args.out, split=args.split, size=args.size, layers=args.layers,
                            baselines=args.baselines, clips=args.clips, max_frames=args.max_frames,
                            threads=args.threads or 1, log=log)
    print(f"wrote {Path(args.out) / 'report.md'}", file=sys.stderr)
    return 0


def run_codec(args) -> int:
    from vqtalker.evaluation.codec import run_codec_eval

    tok, log = _suite_tokenizer(args)
    run_codec_eval(tok, args.data, args.out, split=args.split, settings=args.settings,
                   baselines=args.baselines, kbps=args.kbps, size=args.size, clips=args.clips,
                   max_frames=args.max_frames, threads=args.threads or 1, log=log)
    print(f"wrote {Path(args.out) / 'report.md'}", file=sys.stderr)
    return 0


def run_stage2(args) -> int:
    import torch

    from vqtalker.evaluation.lipsync import lipsync_metrics
    from vqtalker.evaluation.tokens import token_metrics
    from vqtalker.generate.checkpoint import load_stage2
    from vqtalker.generate.data import build_cache, eval_windows, file_fingerprint, load_cache, planned_clips
    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.mouth.guidance import MouthGuidance
    from vqtalker.pipeline import GenerationConfig
    from vqtalker.speech import load_speech_tokenizer

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, meta = load_stage2(args.stage2)
    stage1_path = Path(args.stage1)
    stage1 = MotionTokenizer.from_pretrained(stage1_path, frozen=True)
    guidance = (
        MouthGuidance.from_file(args.mouth_predictor, stage1.has_mouth_channel)
        if args.mouth_predictor
        else MouthGuidance()
    )
    if args.no_silence:
        guidance.silence = False
    if args.param_gain is not None:
        guidance.param_gain = float(args.param_gain)
    config = GenerationConfig(
        seed=args.seed,
        temperature=args.temperature,
        top_k=args.top_k,
        mouth_gain=args.mouth_gain,
        mouth_channel_gain=args.mouth_channel_gain,
    ).validate()
    name = meta.get("speech_tokenizer", "default")
    tok = load_speech_tokenizer(name)
    cache = Path(args.cache) if args.cache else Path(args.stage2).parent / "cache"
    key = {"stage1": file_fingerprint(stage1_path), "speech_tokenizer": name, "tok": repr(tok)}
    plan = planned_clips(args.data, (args.split,), max_clips=args.max_clips)
    build_cache(args.data, cache, stage1, tok, key, plan, log=lambda m: print(m, file=sys.stderr))
    clips = load_cache(cache, plan, args.split)
    metrics = token_metrics(model, stage1, eval_windows(clips, min(args.window, model.cfg.max_len)))
    if args.render > 0:
        lip = lipsync_metrics(
            model,
            stage1,
            args.data,
            clips,
            args.render,
            config=config,
            mouth=guidance,
            log=lambda m: print(m, file=sys.stderr),
        )
        metrics.update(lip or {"mouth_lmd": None})  # None = unavailable (no face in the renders)
    gain, cgain = guidance.gains(config.mouth_gain, config.mouth_channel_gain)
    metrics = {
        "split": args.split,
        "clips": len(clips),
        "frames": sum(c.num_frames for c in clips),
        "step": meta.get("step"),
        "temperature": args.temperature,
        "top_k": args.top_k,
        "mouth_gain": gain if guidance.predictor is not None else 0.0,
        "mouth_channel_gain": cgain if stage1.has_mouth_channel and guidance.predictor is not None else 0.0,
        **metrics,
    }
    text = json.dumps(metrics, indent=1)
    print(text)
    if args.json:
        from vqtalker.utils import atomic_write_bytes

        atomic_write_bytes(args.json, text.encode())
    return 0
