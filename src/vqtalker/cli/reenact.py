"""``vqtalker reenact``: a source picture driven by another person's video (stage 1: motion transfer).

The source keeps its identity; the driving video's head and face motion, taken relative to its own first
frame, is quantised into motion tokens (``--continuous``: not quantised) and rendered from the source
picture, which is pasted back into the whole picture (``--crop-only``: the square crop). The output keeps
the driving video's audio and frame rate and is tagged as synthetic media. Works best when the driver's
first frame is frontal and neutral, like the source. Library: :mod:`vqtalker.codec.reenact`.

Example::

    vqtalker reenact --image me.jpg --video driver.mp4 -o out.mp4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub) -> None:
    from vqtalker.cli.runtime import add_runtime_arguments

    p = sub.add_parser("reenact", help="drive a portrait with another person's video (motion transfer)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", required=True, help="source portrait (any picture with a face)")
    p.add_argument("--video", required=True, help="driving video (a talking head)")
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    p.add_argument("--stage1", default=None, help="stage-1 weights (default: the packaged model)")
    p.add_argument("--size", type=int, default=None, help="rendered crop side (default: the model's output)")
    p.add_argument("--face", type=int, default=0, help="which face of the source picture (0 = largest)")
    p.add_argument("--crop-only", action="store_true", help="write the square face crop")
    p.add_argument("--max-side", type=int, default=1280, help="cap on the pasted picture's longer side")
    p.add_argument("--continuous", action="store_true", help="do not quantise the motion into tokens")
    p.add_argument("--no-mouth-channel", action="store_true", help="do not add the driver's mouth opening")
    p.add_argument("--no-crop", action="store_true", help="the driving video is already a square face crop")
    p.add_argument("--max-frames", type=int, default=None)
    add_runtime_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from vqtalker.cli.runtime import apply_runtime
    from vqtalker.codec.encoder import _fixed_box_frames
    from vqtalker.codec.reenact import reenact_frames
    from vqtalker.errors import VQTalkerError
    from vqtalker.face.crop import crop_square, select_face
    from vqtalker.io.audio import load_audio
    from vqtalker.io.video import probe_video, write_video
    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.pipeline import DEFAULT_STAGE1

    if not args.output.lower().endswith(".mp4"):
        raise VQTalkerError("--output must end in .mp4")
    for name, val in (("--image", args.image), ("--video", args.video)):
        if not Path(val).is_file():
            raise VQTalkerError(f"{name} not found: {val}")
    device = apply_runtime(args)
    tok = MotionTokenizer.from_pretrained(args.stage1 or DEFAULT_STAGE1, device=device)
    size = int(args.size or tok.output_size)
    if size != tok.size and not tok.has_fullres:
        raise VQTalkerError(f"--size {size}: this stage-1 model renders {tok.size} px only")
    from vqtalker.pipeline import _read_image

    img = _read_image(args.image)  # EXIF orientation, GIF/AVIF, damaged pictures named
    choice = select_face(img, args.image, face=args.face)
    if choice.note(args.image):
        print(f"note: {choice.note(args.image)}", file=sys.stderr)
    src = crop_square(img, choice.box, max(size, tok.size))
    if args.no_crop:
        from vqtalker.io.video import iter_frames

        fps = float(probe_video(args.video).fps or 25.0)
        import itertools

        crops = (f for _, f in itertools.islice(iter_frames(args.video), args.max_frames))
    else:
        fps, _, _, _, crops = _fixed_box_frames(args.video, max(tok.size, 256), args.max_frames)
    frames = (f for chunk in reenact_frames(tok, src, crops, size, tokens=not args.continuous,
                                             mouth=not args.no_mouth_channel) for f in chunk)
    if not args.crop_only:
        from vqtalker.face.paste import Paster

        paster = Paster(img, choice.box, size, max_side=args.max_side)
        frames = paster.paste_many(frames)
    audio = None
    if probe_video(args.video).has_audio:
        audio = load_audio(args.video)
    write_video(args.output, frames, fps=fps, audio=audio)
    n = probe_video(args.output)
    print(f"wrote {args.output} ({n.width}x{n.height}, {fps:g} fps, synthetic-media tagged)", file=sys.stderr)
    return 0
