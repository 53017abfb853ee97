"""``vqtalker reconstruct``: the paper's video-reconstruction scenario (the ~11 kbps talking-head codec).

Crops the face of every frame (fixed square crop from the first frame's landmarks, the training crop
convention), tokenizes each frame against the first (``int16 [T, 4, 12]``), renders the video from the
first frame and the tokens alone, and writes it with the input's audio (tagged as synthetic media).
``--report`` writes SSIM / PSNR (against the cropped input at the output size, next to the
copy-first-frame baseline), the token bitrate and codebook utilisation as JSON (``--lip-metrics`` adds
mouth-landmark distance and mouth-opening correlation, see :mod:`vqtalker.face.lips`); ``--tokens`` saves
the tokens as ``.npy``. A model with the mouth channel (``MotionConfig.mouth_channel``, beyond the paper)
also sends the measured inner-lip gap, 5 bit/frame (+0.125 kbps at 25 fps; saved next to the tokens as
``*.mouth.npy``); ``--no-mouth-channel`` leaves it out. The library behind it: :mod:`vqtalker.codec`.

The input is streamed (memory flat in its length). The output is the first input frame (the one picture
a receiver has) with each reconstructed face crop pasted back (feathered, :mod:`vqtalker.face.paste`);
``--crop-only`` writes the square crops. ``--size`` is the crop's side in real pixels (default: the
model's output size; nothing is upsampled).

Example::

    vqtalker reconstruct --video clip.mp4 -o back.mp4 --report back.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="tokenize a talking-head video and re-render it from the tokens",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--checkpoint",
        "--stage1",
        dest="checkpoint",
        default=None,
        help="stage-1 weights (exported .safetensors or a training checkpoint; default: the packaged model)",
    )
    p.add_argument("--video", required=True, help="input video (any container PyAV reads)")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="output size in pixels (default: the model's training output size; sizes above the "
        "network's need a model with the full-resolution head)",
    )
    p.add_argument("--layers", type=int, default=None, help="decode only the first k residual layers (1..4)")
    p.add_argument("--report", default=None, help="write metrics JSON here")
    p.add_argument("--tokens", default=None, help="save the tokens (int16 [T, 4, 12]) as .npy here")
    p.add_argument("--no-crop", action="store_true", help="input is already a square face crop")
    p.add_argument("--crop-only", action="store_true",
                   help="write the square face crops instead of pasting them into the first frame")
    p.add_argument("--max-side", type=int, default=1280,
                   help="cap on the longer side of the pasted-back output (default 1280)")
    p.add_argument("--side-by-side", action="store_true", help="write input crop | reconstruction")
    p.add_argument(
        "--lip-metrics",
        action="store_true",
        help="also measure lip following (mediapipe on input crop and output; adds to --report)",
    )
    p.add_argument(
        "--no-mouth-channel",
        action="store_true",
        help="with a mouth-channel model: send no lip-gap side information (tokens only)",
    )
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    import numpy as np
    import torch

    from vqtalker.codec.reconstruct import reconstruct_stream
    from vqtalker.errors import VQTalkerError
    from vqtalker.evaluation.reconstruction import ReconstructionMeter
    from vqtalker.io.video import probe_video, write_video
    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.pipeline import DEFAULT_STAGE1
    from vqtalker.utils import atomic_output, pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.output.lower().endswith(".mp4"):
        raise VQTalkerError("--output must end in .mp4")
    if not Path(args.video).is_file():
        raise VQTalkerError(f"--video not found: {args.video}")
    if args.max_frames is not None and args.max_frames < 1:
        raise VQTalkerError("--max-frames must be >= 1")
    weights = args.checkpoint or DEFAULT_STAGE1
    tok = MotionTokenizer.from_pretrained(weights, device=pick_device(args.device))
    size = args.size or tok.output_size
    if size != tok.size and not tok.has_fullres:
        raise VQTalkerError(
            f"--size {size}: this stage-1 model renders {tok.size} px only (no full-resolution head)"
        )
    if not 16 <= size <= 1024:
        raise VQTalkerError("--size must be between 16 and 1024")
    info = probe_video(args.video)
    if not info.has_video:
        raise VQTalkerError(f"{args.video} has no video stream")
    box = first = None
    if args.no_crop:
        from vqtalker.io.video import iter_frames

        fps = float(info.fps or 25.0)
        import itertools

        crops = (f for _, f in itertools.islice(iter_frames(args.video), args.max_frames))
    else:
        from vqtalker.codec.encoder import _fixed_box_frames

        fps, box, _, first, crops = _fixed_box_frames(args.video, max(tok.size, size, 256), args.max_frames)
    side = tok.has_mouth_channel and not args.no_mouth_channel
    r = tok.cfg.num_quantizers
    k = args.layers or r
    from vqtalker.codec.sideinfo import MOUTH_SIDE_BITS

    meter = ReconstructionMeter(tok.quantizer, fps, k, tok.bits_per_frame * k / r,
                                float(MOUTH_SIDE_BITS) if side else 0.0, lips=args.lip_metrics)
    tokens, levels = [], []
    t0 = time.time()

    def frames():
        for c in reconstruct_stream(tok, crops, n_layers=args.layers, mouth_channel=not args.no_mouth_channel,
                                    size=size):
            meter.update(c)
            tokens.append(c.tokens)
            if c.mouth_levels is not None:
                levels.append(c.mouth_levels)
            out = np.concatenate([c.reference, c.frames], axis=2) if args.side_by_side else c.frames
            yield from out

    out_frames = frames()
    if box is not None and not args.crop_only and not args.side_by_side:
        from vqtalker.face.paste import Paster

        out_frames = Paster(first, box, size, max_side=args.max_side).paste_many(out_frames)
    audio = None
    if info.has_audio:
        from vqtalker.io.audio import load_audio

        audio = load_audio(args.video)
    write_video(args.output, out_frames, fps=fps, audio=audio)
    meter.seconds = time.time() - t0
    if args.tokens:
        with atomic_output(args.tokens, suffix=".npy") as tmp:
            np.save(tmp, np.concatenate(tokens))
        if levels:
            tpath = Path(args.tokens)
            with atomic_output(tpath.with_name(tpath.stem + ".mouth.npy"), suffix=".npy") as tmp:
                np.save(tmp, np.concatenate(levels))
    report = {
        "video": str(args.video),
        "output": str(args.output),
        "checkpoint": str(weights),
        "config": tok.cfg.name,
        **meter.report(),
    }
    if args.report:
        with atomic_output(args.report) as tmp:
            tmp.write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"wrote {args.output}: {report['frames']} frames at {size}x{size}, SSIM {report['ssim']:.4f}, "
        f"PSNR {report['psnr']:.2f} dB, {report['bitrate_kbps']:.2f} kbps ({k} layers)",
        file=sys.stderr,
    )
    if isinstance(report.get("lips"), dict):
        lp = report["lips"]
        print(
            f"lips: mouth LMD {lp['mouth_lmd']:.2f}% (first frame held {lp['mouth_lmd_static']:.2f}%), "
            f"mouth-open corr {lp['mouth_open_corr']:.3f}, range {lp['mouth_open_range']:.2f}",
            file=sys.stderr,
        )
    return 0
