"""``vqtalker speech AUDIO [-o tokens.npy] [--tokenizer NAME]``: audio file → speech tokens at 50 Hz."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "audio", help="any audio or video file with an audio stream (wav, flac, mp3, m4a, mp4, ...)"
    )
    p.add_argument(
        "-o", "--output", default=None, help="write the tokens as .npy (int64 [N]; float32 [N, D] for logmel)"
    )
    p.add_argument(
        "--tokenizer", default="default", help="default | s3 | logmel | hash (default: the offline default)"
    )
    from vqtalker.cli.runtime import add_runtime_arguments

    add_runtime_arguments(p, device=False)
    p.add_argument("--weights", default=None, help="weights file (default codebook .safetensors or S3 .onnx)")
    p.add_argument(
        "--s3-onnx", default=None, help="path of speech_tokenizer_v1.onnx (same as --weights for s3)"
    )
    p.add_argument(
        "--frames", action="store_true", help="also print the 25-fps video frame count T = floor(N/2)"
    )


def run(args) -> int:
    import json
    import time
    from pathlib import Path

    import numpy as np

    from vqtalker.cli.runtime import apply_runtime
    from vqtalker.errors import VQTalkerError
    from vqtalker.io.audio import load_audio
    from vqtalker.speech import load_speech_tokenizer, tokens_to_frames

    apply_runtime(args)
    name = args.tokenizer.strip().lower()
    kwargs = {}
    weights = args.s3_onnx or args.weights
    if weights:
        if name not in ("default", "s3"):
            raise VQTalkerError(f"--weights is not used by the {name!r} tokenizer")
        kwargs["path"] = weights
    tok = load_speech_tokenizer(name, **kwargs)
    wave = load_audio(args.audio)
    t0 = time.perf_counter()
    units = tok(wave, 16000)
    elapsed = time.perf_counter() - t0
    info = {
        "file": str(args.audio),
        "tokenizer": tok.name,
        "rate_hz": tok.rate_hz,
        "count": int(units.shape[0]),
        "seconds": round(wave.shape[0] / 16000, 3),
    }
    if tok.is_discrete:
        info["vocab_size"] = tok.vocab_size
    else:
        info["feature_dim"] = int(units.shape[1])
    if args.frames:
        info["video_frames_25fps"] = tokens_to_frames(int(units.shape[0]), tok.rate_hz)
    info["encode_seconds"] = round(elapsed, 4)
    if args.output:
        from vqtalker.utils import atomic_output

        out = Path(args.output)
        arr = units.numpy().astype(np.int64 if tok.is_discrete else np.float32)
        with atomic_output(out, suffix=".npy") as tmp:
            np.save(tmp, arr)
        info["output"] = str(out)
    print(json.dumps(info))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "speech",
        help="turn an audio file into speech tokens (50 Hz)",
        description="Encode an audio file with a speech tokenizer; prints rate and count as one JSON line.",
    )
    add_arguments(p)
    p.set_defaults(func=run)
