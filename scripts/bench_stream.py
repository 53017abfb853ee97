"""Time to first frame of ``TalkingHeadPipeline.stream`` against the whole-clip path, on one speech file.

Prints, for the packaged models on ``--threads`` CPU threads: seconds until the first frame of
``stream()`` (``--first`` / ``--segment`` seconds), the whole stream's wall time and real-time factor, and
the same for ``__call__`` (whose first frame exists only when every frame is done). The ratio is the
speed-up of the first frame.

    .venv/bin/python scripts/bench_stream.py --audio speech.wav [--image portrait.jpg] [--seconds 30]
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--image", default=None)
    ap.add_argument("--seconds", type=float, default=30.0, help="use (and loop to) this much speech")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--first", type=float, default=1.0)
    ap.add_argument("--segment", type=float, default=6.0)
    args = ap.parse_args()

    import numpy as np
    import torch

    from vqtalker.cli.demo import DEMO_PORTRAIT
    from vqtalker.io.audio import load_audio
    from vqtalker.pipeline import TalkingHeadPipeline

    torch.set_num_threads(args.threads)
    wave = load_audio(args.audio)
    n = int(args.seconds * 16000)
    wave = np.resize(wave, n) if len(wave) < n else wave[:n]
    image = args.image or str(DEMO_PORTRAIT)
    pipe = TalkingHeadPipeline.from_pretrained()
    list(pipe.stream(image, wave[:16000], 16000))  # warm-up
    t0 = time.perf_counter()
    first = None
    count = 0
    for _ in pipe.stream(image, wave, 16000, first=args.first, segment=args.segment):
        if first is None:
            first = time.perf_counter() - t0
        count += 1
    t_stream = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = pipe(image, wave, 16000)
    t_call = time.perf_counter() - t0
    dur = len(wave) / 16000
    print(f"{dur:.1f} s of speech, {count} frames (__call__: {len(out.frames)}), {args.threads} threads")
    print(f"  stream():  first frame after {first:.2f} s, all in {t_stream:.1f} s (RTF {t_stream / dur:.2f})")
    print(f"  __call__:  first frame after {t_call:.2f} s (= all), RTF {t_call / dur:.2f}")
    print(f"  first-frame speed-up {t_call / first:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
