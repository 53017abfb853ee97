#!/usr/bin/env python
"""Speed of each speech tokenizer backend (and of TTS) on CPU: tokens per second and real-time factor.

RTF = encode time / audio duration (lower is faster; 0.01 = 100x faster than real time). The S3 backend
uses random weights of the full CosyVoice S3Tokenizer v1 size (speed does not depend on the values) unless
``--s3-onnx`` / ``$VQTALKER_S3_ONNX`` points at the real file.

    python scripts/bench_speech.py --seconds 10 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch


def test_wave(seconds: float) -> np.ndarray:
    from vqtalker.tts import synthesize

    text = (
        "The quick brown fox jumps over the lazy dog. We walked through the old market and bought "
        "fresh bread, "
        "cheese and apples. My brother thinks the weather will change before the weekend. "
    )
    wave, _, _ = synthesize(text * 4, "en")
    n = int(seconds * 16000)
    reps = int(np.ceil(n / wave.size))
    return np.tile(wave, reps)[:n]


def bench(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--backends", default="default,hash,logmel,s3")
    ap.add_argument("--s3-onnx", default=os.environ.get("VQTALKER_S3_ONNX"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from vqtalker.speech import load_speech_tokenizer

    wave = test_wave(args.seconds)
    rows = []
    for name in args.backends.split(","):
        if name == "s3":
            from vqtalker.speech.s3 import S3SpeechTokenizer

            if args.s3_onnx:
                tok, label = S3SpeechTokenizer.from_onnx(args.s3_onnx), "s3 (ONNX weights)"
            else:
                tok, label = S3SpeechTokenizer.from_random(seed=0), "s3 (random full-size weights)"
            params = sum(p.numel() for p in tok.model.parameters())
            label += f", {params / 1e6:.0f}M params"
        else:
            tok, label = load_speech_tokenizer(name), name
        out = tok(wave, 16000)
        t = bench(lambda tok=tok: tok(wave, 16000), args.repeats)
        rows.append({
            "backend": label, "units": int(out.shape[0]), "rate_hz": tok.rate_hz,
            "seconds_audio": args.seconds, "encode_s": round(t, 4),
            "tokens_per_s": round(out.shape[0] / t, 1), "rtf": round(t / args.seconds, 5),
        })  # fmt: skip
        print(json.dumps(rows[-1]), file=sys.stderr)

    from vqtalker.tts import synthesize

    text = "The quick brown fox jumps over the lazy dog near the river bank. " * 3
    w, _, _ = synthesize(text, "en")
    t = bench(lambda: synthesize(text, "en"), args.repeats)
    rows.append({
        "backend": "tts (espeak-ng, en, incl. resampling to 16 kHz)", "units": 0, "rate_hz": 0,
        "seconds_audio": round(w.size / 16000, 2), "encode_s": round(t, 4), "tokens_per_s": 0,
        "rtf": round(t / (w.size / 16000), 5),
    })  # fmt: skip

    print(f"| backend | audio | time | tokens/s | RTF |  (torch threads: {args.threads})")
    print("|---|---|---|---|---|")
    for r in rows:
        tps = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "-"
        print(
            f"| {r['backend']} | {r['seconds_audio']:.1f} s | {r['encode_s'] * 1000:.1f} ms | {tps} "
            f"| {r['rtf']:.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
