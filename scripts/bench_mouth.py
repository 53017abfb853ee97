"""Benchmark: what the mouth pathway adds to ``vqtalker animate``, as a real-time factor (seconds of compute
per second of speech) on this machine, next to the wave-1 log-mel predictor in the same run.

    python scripts/bench_mouth.py [--mouth FILE] [--seconds 60] [--threads 2]

Prints one line per part (log-mel, phoneme posteriors, voice activity, predictor, whole guidance track) and
the ratio new / wave-1. Target (issue 14): the whole mouth path ≤ 0.1× real time on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed(fn, repeat=2):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mouth", default="src/vqtalker/weights/stage2/mouth.safetensors")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from vqtalker.mouth.guidance import MouthGuidance
    from vqtalker.mouth.predictor import MouthPredictor, MouthPredictorConfig, log_mel
    from vqtalker.speech.phonetic import phoneme_posteriors
    from vqtalker.speech.vad import speech_probability
    from vqtalker.tts import synthesize

    text = "The quick brown fox jumps over the lazy dog, and then it rests for a while. "
    wave, sr, _ = synthesize(text * 8, "en")
    reps = int(np.ceil(args.seconds * sr / len(wave)))
    wave = np.tile(np.concatenate([wave, np.zeros(sr // 2, np.float32)]), reps)[: int(args.seconds * sr)]
    t = len(wave) // 640
    dur = len(wave) / sr
    g = MouthGuidance.from_file(args.mouth)
    legacy = MouthPredictor(MouthPredictorConfig()).eval()
    rows = [
        ("log-mel (100 fps)", _timed(lambda: log_mel(wave))),
        ("phoneme posteriors (hama)", _timed(lambda: phoneme_posteriors(wave))),
        ("voice activity (Silero)", _timed(lambda: speech_probability(wave))),
        ("wave-1 predictor (log-mel, opening)", _timed(lambda: legacy.predict(wave, t))),
        (
            f"guidance track ({g.predictor.cfg.features}, gate {'on' if g.silence else 'off'})",
            _timed(lambda: g.track(wave, t)),
        ),
    ]
    print(f"{dur:.0f} s of speech, {args.threads} threads")
    for name, s in rows:
        print(f"{name:48s} {s:7.2f} s  RTF {s / dur:.3f}")
    print(
        f"ratio new track / wave-1 predictor: {rows[-1][1] / rows[-2][1]:.2f}x; "
        f"target RTF <= 0.1: {'met' if rows[-1][1] / dur <= 0.1 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
