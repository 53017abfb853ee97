"""``vqtalker reconstruct``: the paper's video-reconstruction scenario (the ~11 kbps talking-head codec).

Crops the face of every frame (fixed square crop from the first frame's landmarks, the training crop
convention), tokenizes each frame against the first (``int16 [T, 4, 12]``), renders the video from the
first frame and the tokens alone, and writes it with the input's audio (tagged as synthetic media).
``--report`` writes SSIM / PSNR (against the cropped input, next to the copy-first-frame baseline), the
token bitrate and codebook utilisation as JSON (``--lip-metrics`` adds mouth-landmark distance and
mouth-opening correlation, see :mod:`vqtalker.lips`); ``--tokens`` saves the tokens as ``.npy``.
A model with the mouth channel (``MotionConfig.mouth_channel``, beyond the paper) also sends the measured
inner-lip gap, 5 bit/frame (+0.125 kbps at 25 fps; saved next to the tokens as ``*.mouth.npy``);
``--no-mouth-channel`` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("reconstruct", help="tokenize a talking-head video and re-render it from the tokens",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="stage-1 weights (exported .safetensors or a training checkpoint)")
    p.add_argument("--video", required=True, help="input video (any container PyAV reads)")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    p.add_argument("--layers", type=int, default=None, help="decode only the first k residual layers (1..4)")
    p.add_argument("--report", default=None, help="write metrics JSON here")
    p.add_argument("--tokens", default=None, help="save the tokens (int16 [T, 4, 12]) as .npy here")
    p.add_argument("--no-crop", action="store_true", help="input is already a square face crop")
    p.add_argument("--side-by-side", action="store_true", help="write input crop | reconstruction")
    p.add_argument("--lip-metrics", action="store_true",
                   help="also measure lip following (mediapipe on input crop and output; adds to --report)")
    p.add_argument("--no-mouth-channel", action="store_true",
                   help="with a mouth-channel model: send no lip-gap side information (tokens only)")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def _crop_video(frames, size: int):
    """Fixed square face crop for the whole clip (box from the first frame with a face)."""
    import numpy as np

    from vqtalker.data.face import FaceTracker, crop_box_from_landmarks, crop_square, fit_in_frame
    from vqtalker.errors import VQTalkerError

    with FaceTracker(static=True) as tr:
        lm = None
        for f in frames[: min(len(frames), 25)]:
            lm = tr.track(np.ascontiguousarray(f))
            if lm is not None:
                break
    if lm is None:
        raise VQTalkerError("no face found in the first second of the video")
    box = fit_in_frame(crop_box_from_landmarks(lm), frames.shape[1], frames.shape[2])
    return np.stack([crop_square(f, box, size) for f in frames])


def run(args) -> int:
    import numpy as np
    import torch

    from vqtalker.errors import VQTalkerError
    from vqtalker.io.video import read_video, write_video
    from vqtalker.metrics import psnr, ssim
    from vqtalker.motion.tokenizer import MotionTokenizer, to_model_frames, to_uint8
    from vqtalker.quantize import CodebookStats
    from vqtalker.utils import atomic_output, pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.output.lower().endswith(".mp4"):
        raise VQTalkerError("--output must end in .mp4")
    tok = MotionTokenizer.from_pretrained(args.checkpoint, device=pick_device(args.device))
    if args.layers is not None and not 1 <= args.layers <= tok.cfg.num_quantizers:
        raise VQTalkerError(f"--layers must be in 1..{tok.cfg.num_quantizers}")
    video = read_video(args.video, max_frames=args.max_frames)
    if video.num_frames < 1:
        raise VQTalkerError(f"{args.video}: no frames")
    fps = float(video.fps or 25.0)
    t0 = time.time()
    frames = video.frames
    if not args.no_crop:
        frames = _crop_video(frames, max(tok.size, 256))
    x = to_model_frames(frames, tok.size)
    mouth, side_bits, mouth_levels, found = None, 0.0, None, None
    if tok.has_mouth_channel and not args.no_mouth_channel:
        from vqtalker.motion.tokenizer import MOUTH_SIDE_BITS, mouth_side_info

        mouth_levels, mouth, found = mouth_side_info(np.asarray(frames))
        side_bits = float(MOUTH_SIDE_BITS)
    recon, idx = tok.reconstruct(x, n_layers=args.layers, mouth=mouth)
    elapsed = time.time() - t0
    out_frames = to_uint8(recon)
    if args.side_by_side:
        out_frames = np.concatenate([to_uint8(x), out_frames], axis=2)
    write_video(args.output, out_frames, fps=fps, audio=video.audio, sample_rate=video.sample_rate)
    if args.tokens:
        with atomic_output(args.tokens, suffix=".npy") as tmp:
            np.save(tmp, idx.cpu().numpy().astype(np.int16))
        if mouth_levels is not None:
            tokens = Path(args.tokens)
            side = tokens.with_name(tokens.stem + ".mouth.npy")  # t.npy -> t.mouth.npy
            with atomic_output(side, suffix=".npy") as tmp:
                np.save(tmp, mouth_levels.astype(np.uint8))
    stats = CodebookStats.for_quantizer(tok.generator.quantizer)
    stats.update(idx)
    summ = stats.summary()
    k = args.layers or tok.cfg.num_quantizers
    bits = tok.bits_per_frame * k / tok.cfg.num_quantizers
    report = {
        "video": str(args.video),
        "output": str(args.output),
        "checkpoint": str(args.checkpoint),
        "config": tok.cfg.name,
        "size": tok.size,
        "frames": int(x.shape[0]),
        "fps": fps,
        "layers": k,
        "ssim": float(ssim(recon, x).mean()),
        "psnr": float(psnr(recon, x).mean()),
        # copy-first-frame baseline: what a codec that sends no motion at all would score
        "ssim_static": float(ssim(x[:1].expand_as(x), x).mean()),
        "psnr_static": float(psnr(x[:1].expand_as(x), x).mean()),
        "bits_per_frame": bits + side_bits,
        "bitrate_kbps": (bits + side_bits) * fps / 1000.0,
        "token_bits_per_frame": bits,
        # mouth channel: the 5-bit lip gap per frame sent next to the tokens (0 without it)
        "mouth_side_bits_per_frame": side_bits,
        "mouth_side_face_found": found,
        "utilization": summ["utilization"],
        "utilization_per_layer": summ["utilization_per_layer"],
        "perplexity_per_layer": summ["perplexity_per_layer"],
        "seconds": elapsed,
        "note": "SSIM/PSNR against the model-resolution face crop of the input; frame 0 is the reference",
    }
    if args.lip_metrics:
        from vqtalker.lips import lip_metrics

        lips = lip_metrics(to_uint8(recon), to_uint8(x))
        report["lips"] = lips or "unavailable: face not found in enough frames"
    if args.report:
        with atomic_output(args.report) as tmp:
            tmp.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.output}: {report['frames']} frames, SSIM {report['ssim']:.4f}, "
          f"PSNR {report['psnr']:.2f} dB, {report['bitrate_kbps']:.2f} kbps ({k} layers)", file=sys.stderr)
    if isinstance(report.get("lips"), dict):
        lp = report["lips"]
        print(f"lips: mouth LMD {lp['mouth_lmd']:.2f}% (first frame held {lp['mouth_lmd_static']:.2f}%), "
              f"mouth-open corr {lp['mouth_open_corr']:.3f}, range {lp['mouth_open_range']:.2f}",
              file=sys.stderr)
    return 0
