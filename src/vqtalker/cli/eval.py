"""``vqtalker eval stage2``: dev metrics of a trained stage-2 model (:mod:`vqtalker.evaluation`).

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
