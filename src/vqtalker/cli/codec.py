"""``vqtalker encode`` / ``decode`` / ``info``: the talking-head codec on ``.vqt`` files.

``encode`` cuts one square face crop for the whole clip (the training convention), codes key pictures
and entropy-coded motion tokens (+ the mouth side information and Opus audio) with the sender-side rate
control of :mod:`vqtalker.codec.ratecontrol`. ``decode`` renders the crops back (or pastes them into the
full first frame with ``--full-frame``, if the file carries it) and writes an mp4 tagged as synthetic
media. ``info`` explains a file: header, duration and the bitrate of each part. Format:
``docs/vqt-format.md``.

Examples::

    vqtalker encode clip.mp4 -o clip.vqt                      # key picture every 10 s at most
    vqtalker encode clip.mp4 -o clip.vqt --kbps 16            # spend 16 kbit/s (tokens + key pictures)
    vqtalker encode clip.mp4 -o clip.vqt --min-ssim 0.7 --keyint-max 4
    vqtalker decode clip.vqt -o back.mp4
    vqtalker info clip.vqt
"""

from __future__ import annotations

import argparse
import json
import sys


def _common(p) -> None:
    p.add_argument("--stage1", default=None,
                   help="stage-1 weights (default: the packaged model; must be the one that made the file)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, mps)")


def register(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("encode", help="encode a talking-head video into a .vqt file", description=__doc__,
                       formatter_class=fmt)
    p.add_argument("input", help="input video (any container PyAV reads)")
    p.add_argument("-o", "--output", required=True, help="output .vqt")
    p.add_argument("--size", type=int, default=256, help="side of the coded face crop in pixels (256 or 512)")
    p.add_argument("--kbps", type=float, default=None,
                   help="video bitrate budget in kbit/s, key pictures included (default: no budget)")
    p.add_argument("--min-ssim", type=float, default=None,
                   help="send a key picture when the receiver's SSIM drops below this (e.g. 0.7)")
    p.add_argument("--keyint-max", type=float, default=10.0,
                   help="at most this many seconds between key pictures (0 = only the first)")
    p.add_argument("--keyint-min", type=float, default=0.5, help="at least this many seconds between them")
    p.add_argument("--layers", type=int, default=None, help="send at most the first k residual layers")
    p.add_argument("--key-format", default="avif", choices=["avif", "webp", "jpeg"])
    p.add_argument("--key-quality", type=int, default=None,
                   help="key-picture quality 0..100 (default: 40, or 6 + 0.4 x --kbps)")
    p.add_argument("--check-every", type=int, default=5,
                   help="frames between receiver-side quality checks (--min-ssim)")
    p.add_argument("--full-frame", action="store_true",
                   help="also send the full first frame, so the decoder can paste the face back")
    p.add_argument("--no-audio", action="store_true", help="leave the audio track out")
    p.add_argument("--audio-kbps", type=float, default=16.0, help="Opus bitrate of the audio track")
    p.add_argument("--no-mouth-channel", action="store_true", help="send no mouth side information")
    p.add_argument("--no-crop", action="store_true", help="the input is already a square face crop")
    p.add_argument("--max-frames", type=int, default=None)
    _common(p)
    p.set_defaults(func=run_encode)

    p = sub.add_parser("decode", help="decode a .vqt file into an mp4", description=__doc__,
                       formatter_class=fmt)
    p.add_argument("input", help="input .vqt")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    p.add_argument("--full-frame", action="store_true", help="paste the face into the full first frame")
    p.add_argument("--max-side", type=int, default=1280, help="cap on the pasted picture's longer side")
    _common(p)
    p.set_defaults(func=run_decode)

    p = sub.add_parser("info", help="show a .vqt file's header and bitrate breakdown", description=__doc__,
                       formatter_class=fmt)
    p.add_argument("input", help="input .vqt")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_info)


def _tokenizer(args):
    import torch

    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.pipeline import DEFAULT_STAGE1
    from vqtalker.utils import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    return MotionTokenizer.from_pretrained(args.stage1 or DEFAULT_STAGE1, device=pick_device(args.device))


def run_encode(args) -> int:
    from pathlib import Path

    from vqtalker.codec.encoder import EncoderConfig, encode_video
    from vqtalker.codec.ratecontrol import RateControlConfig
    from vqtalker.errors import VQTalkerError

    if not args.output.lower().endswith(".vqt"):
        raise VQTalkerError("--output must end in .vqt")
    if not Path(args.input).is_file():
        raise VQTalkerError(f"input not found: {args.input}")
    if args.max_frames is not None and args.max_frames < 1:
        raise VQTalkerError("--max-frames must be >= 1")
    rate = RateControlConfig(kbps=args.kbps, min_ssim=args.min_ssim,
                             keyint_max=None if args.keyint_max == 0 else args.keyint_max,
                             keyint_min=args.keyint_min, max_layers=args.layers, check_every=args.check_every)
    cfg = EncoderConfig(size=args.size, rate=rate, key_format=args.key_format, key_quality=args.key_quality,
                        mouth=not args.no_mouth_channel, audio_kbps=args.audio_kbps,
                        full_frame=args.full_frame)
    cfg.validate()
    rate.validate(4)
    tok = _tokenizer(args)

    def progress(n):
        print(f"\rencoded {n} frames", end="", file=sys.stderr, flush=True)

    stats = encode_video(tok, args.input, args.output, cfg, max_frames=args.max_frames,
                         audio=not args.no_audio, crop=not args.no_crop,
                         progress=progress if sys.stderr.isatty() else None)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(
        f"wrote {args.output}: {stats.frames} frames ({stats.duration:.1f} s) at {args.size}x{args.size}, "
        f"video {stats.kbps():.2f} kbps (tokens {stats.kbps('tokens'):.2f}, {stats.keys} key pictures "
        f"{stats.kbps('keys'):.2f}), audio {stats.kbps('audio'):.2f} kbps; "
        f"{stats.frames / max(stats.seconds, 1e-9):.1f} fps",
        file=sys.stderr,
    )
    return 0


def run_decode(args) -> int:
    import itertools
    from pathlib import Path

    from vqtalker.codec.decoder import decode_file
    from vqtalker.errors import VQTalkerError
    from vqtalker.io.video import write_video

    if not args.output.lower().endswith(".mp4"):
        raise VQTalkerError("--output must end in .mp4")
    if not Path(args.input).is_file():
        raise VQTalkerError(f"input not found: {args.input}")
    tok = _tokenizer(args)
    dec, frames = decode_file(tok, args.input, full_frame=args.full_frame, max_side=args.max_side)
    try:
        first = next(frames)
    except StopIteration:
        raise VQTalkerError(f"{args.input}: no frames could be decoded") from None
    write_video(args.output, itertools.chain([first], frames), fps=dec.header.fps, audio=dec.audio)
    s = dec.stats
    note = ""
    if s.held or s.damaged or s.truncated:
        note = (f"; {s.damaged} damaged chunk(s), {s.held} frame(s) held"
                + (", the file is truncated" if s.truncated else ""))
    print(f"wrote {args.output}: {s.frames} frames at {dec.header.fps:g} fps{note}", file=sys.stderr)
    return 0


def run_info(args) -> int:
    from vqtalker.codec.decoder import read_info

    info = read_info(args.input)
    h = info.header
    kinds = {"tokens": "tokens (+ modes, mouth side info)", "keys": "key pictures", "overhead":
             "header + framing", "audio": "audio (Opus)", "full": "full first frame"}
    video = info.kbps("tokens", "keys", "overhead")
    d = {
        "file": args.input,
        "model_id": h.model_id,
        "model_name": h.model_name,
        "fps": h.fps,
        "size": h.size,
        "frames": info.frames,
        "duration_s": round(info.duration, 3),
        "key_pictures": info.keys,
        "packets": info.packets,
        "damaged_chunks": info.damaged,
        "truncated": info.truncated,
        "token_layout": {"layers": h.layers, "groups": h.groups, "levels": h.levels},
        "mouth_side_info_bits": h.mouth_bits,
        "key_format": h.key_format,
        "crop_box": h.crop_box,
        "frame_size": h.frame_size,
        "bytes": info.bytes,
        "kbps": {k: round(info.kbps(k), 3) for k in kinds},
        "video_kbps": round(video, 3),
        "raw_token_kbps": round(h.layers * h.groups * _log2_codebook(h.levels) * h.fps / 1000, 3),
    }
    if args.json:
        print(json.dumps(d, indent=1))
        return 0
    print(f"{args.input}: .vqt, model {h.model_name or '?'} ({h.model_id}), {h.size}x{h.size} face crop, "
          f"{h.fps:g} fps, {info.frames} frames = {info.duration:.2f} s")
    print(f"  token layout {h.layers} layers x {h.groups} groups, levels {h.levels} "
          f"(fixed-length: {d['raw_token_kbps']:.2f} kbps); mouth side info {h.mouth_bits} bit/frame")
    print(f"  {info.keys} key pictures ({h.key_format}), {info.packets} token packets"
          + (f", {info.damaged} damaged chunks" if info.damaged else "")
          + (", truncated" if info.truncated else ""))
    print(f"  video {video:.2f} kbps =")
    for k in ("tokens", "keys", "overhead"):
        print(f"    {info.kbps(k):7.2f} kbps  {kinds[k]} ({info.bytes.get(k, 0)} bytes)")
    for k in ("audio", "full"):
        if info.bytes.get(k):
            print(f"  + {info.kbps(k):7.2f} kbps  {kinds[k]} ({info.bytes[k]} bytes)")
    return 0


def _log2_codebook(levels) -> float:
    import math

    return math.log2(math.prod(levels))
