"""Speed of the .vqt codec (encode and decode, frames per second) against the 25 fps real-time target.

Runs the packaged stage-1 model on a clip (a prepared dev clip ``--frames PATH/frames.npy`` or a video
file with ``--video``), at ``--size`` (256, 512), with ``--threads`` torch threads, and prints per stage:
encode fps (face mesh for the mouth side information, motion encoder, quantiser, entropy coder, key
pictures), decode fps (entropy decoder, renderer), the renderer alone (the floor of decoding), and the ratio
of each to the 25 fps target. Peak RSS is printed too (memory must stay flat in length).

    .venv/bin/python scripts/bench_codec.py --frames /work/prepared/talking/dev/CLIP/frames.npy --threads 2
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True, help="uint8 [T, S, S, 3] .npy of face crops at 25 fps")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kbps", type=float, default=16.0)
    ap.add_argument("--max-frames", type=int, default=250)
    args = ap.parse_args()

    import torch

    from vqtalker.codec.decoder import VQTDecoder
    from vqtalker.codec.encoder import EncoderConfig, VQTEncoder
    from vqtalker.codec.ratecontrol import RateControlConfig
    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.pipeline import DEFAULT_STAGE1

    torch.set_num_threads(args.threads)
    frames = np.array(np.load(args.frames, mmap_mode="r")[: args.max_frames])
    tok = MotionTokenizer.from_pretrained(DEFAULT_STAGE1)
    cfg = EncoderConfig(size=args.size, rate=RateControlConfig(kbps=args.kbps))
    # warm-up (model load, mediapipe graph, first-call allocations)
    VQTEncoder(tok, cfg, lambda b: None, 25.0).add(frames[:25])
    n = len(frames)
    buf = io.BytesIO()
    t = time.perf_counter()
    enc = VQTEncoder(tok, cfg, buf.write, 25.0)
    enc.add(frames)
    st = enc.close()
    t_enc = time.perf_counter() - t
    data = buf.getvalue()
    t = time.perf_counter()
    dec = VQTDecoder(tok)
    out = dec.feed(data) + dec.finish()
    t_dec = time.perf_counter() - t
    assert len(out) == n
    state = tok.encode_source(frames[0])
    delta = tok.detokenize(tok.tokenize(frames, state))
    t = time.perf_counter()
    for _ in tok.render_uint8(state, delta, None, size=args.size):
        pass
    t_ren = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n} frames at {args.size}x{args.size}, {args.threads} threads, --kbps {args.kbps:g} "
          f"({st.kbps():.2f} kbps written, {st.keys} key pictures)")
    for name, sec in (("encode", t_enc), ("decode", t_dec), ("renderer alone", t_ren)):
        fps = n / sec
        print(f"  {name:15s} {fps:6.1f} fps   {fps / 25.0:5.2f} x real time (25 fps target)")
    print(f"  peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
