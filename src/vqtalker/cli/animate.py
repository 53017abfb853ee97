"""``vqtalker animate``: portrait + speech → talking-head mp4 (H.264 + AAC, 25 fps, tagged synthetic).

Examples::

    vqtalker animate --image me.jpg --audio hello.wav -o talking.mp4
    vqtalker animate --image me.jpg --text "Hola, ¿qué tal?" --lang es -o hola.mp4   # espeak-ng speech
    vqtalker animate --image me.jpg --audio speech_zh.mp3 -o out.mp4 --pose-from head_motion.mp4 --seed 3 \\
        --temperature 0.8 --top-k 20
    vqtalker animate --image me.jpg --audio hello.wav -o face.mp4 --size 512 --crop-only   # the square crop

The output is the whole picture with the animated face pasted back (feathered; longer side capped by
``--max-side``, even dimensions); ``--crop-only`` writes the square face crop instead. ``--size`` is the
face crop's side in real pixels (default: the model's output size); nothing is upsampled.

Weights: ``--weights DIR`` (default: the packaged ``vqtalker/weights``) with ``stage1.safetensors`` and
``stage2.safetensors``, or explicit ``--stage1`` / ``--stage2`` files. Nothing is downloaded; a missing
file is a one-line error that names it and the command that trains it.
"""

from __future__ import annotations

import sys


def portrait_parser(sub, name: str, help_: str, doc: str):
    """A verb parser with ``--image`` (shared by ``animate`` and ``say``)."""
    p = sub.add_parser(
        name, help=help_, description=doc, formatter_class=__import__("argparse").RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--image", required=True, help="portrait image (jpg/png/...), any size; the face is cropped"
    )
    return p


def register(sub) -> None:
    p = portrait_parser(sub, "animate", "animate a portrait with speech (audio-driven talking head)", __doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--audio", help="speech file (wav/mp3/flac/m4a/... or a video's audio), any language")
    src.add_argument("--text", help="text to speak with the bundled espeak-ng TTS (needs --lang)")
    p.add_argument("--lang", default=None, help="language of --text (vqtalker tts --list-languages)")
    add_arguments(p)


def add_arguments(p) -> None:
    """The options ``animate`` and ``say`` share (everything but the speech source)."""
    p.add_argument("-o", "--output", required=True, help="output .mp4")
    p.add_argument(
        "--pose-from",
        default=None,
        metavar="VIDEO",
        help="take head pose, gaze and blinks from this video's face (default: neutral with natural blinks)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and blink timing (default 0)")
    p.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="sampling temperature; 0 = argmax as in the paper (default 0)",
    )
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0 = all)")
    p.add_argument("--weights", default=None, metavar="DIR", help="directory with stage1/stage2 .safetensors")
    p.add_argument("--stage1", default=None, metavar="CKPT", help="stage-1 weights (.safetensors)")
    p.add_argument("--stage2", default=None, metavar="CKPT", help="stage-2 weights (.safetensors)")
    p.add_argument(
        "--speech-tokenizer",
        default=None,
        metavar="NAME",
        help="speech tokenizer (default: the one the stage-2 model was trained with)",
    )
    p.add_argument(
        "--mouth",
        default=None,
        metavar="FILE",
        help="mouth predictor for mouth guidance (default: the packaged one when present)",
    )
    p.add_argument(
        "--mouth-gain",
        type=float,
        default=None,
        help="mouth guidance strength (default: the mouth file's; 0 = off, the paper's pure token output)",
    )
    p.add_argument(
        "--mouth-channel-gain",
        type=float,
        default=None,
        help="with a stage-1 model that has a mouth channel: scale of the predicted lip gap it receives "
        "(default: the mouth file's, else 1; 0 = off)",
    )
    p.add_argument("--no-crop", action="store_true", help="the image is already a square face crop")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="face crop side in real pixels, e.g. 256 or 512 (default: the stage-1 model's output size; "
        "sizes other than its network size need a model with the full-resolution head)",
    )
    p.add_argument(
        "--crop-only", action="store_true", help="write the square face crop, not the whole picture"
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=1280,
        help="cap on the longer side of the whole-picture output in pixels (default 1280)",
    )
    p.add_argument("--no-blinks", action="store_true", help="no natural blinks (same as --blink off)")
    p.add_argument("--blink", default="auto", metavar="auto|off|VIDEO",
                   help="natural blinks every 2-6 s (auto, default), none (off), or a video's blinks")
    p.add_argument("--face", type=int, default=0,
                   help="which face of the picture to animate: 0 = the largest (default), 1 = the next, ...")
    p.add_argument("--still", action="store_true",
                   help="no generated head motion (a frontal, still head; default: gentle natural motion)")
    p.add_argument("--motion-scale", type=float, default=1.0,
                   help="scale of the generated natural head motion (default 1; 0 = --still)")
    p.add_argument("--pose", default=None, metavar="YAW,PITCH,ROLL",
                   help="head-pose offset in degrees added to every frame, e.g. --pose 10,0,0 (turn right)")
    p.add_argument(
        "--no-silence",
        action="store_true",
        help="keep the predicted mouth motion in pauses (default: the mouth rests where voice activity "
        "detection hears nobody speak)",
    )
    p.add_argument(
        "--text-weight",
        type=float,
        default=None,
        help="with --text: weight of espeak-ng's phoneme timings (exact visemes) against the audio model's "
        "mouth track (default 0.6; 1 = visemes only)",
    )
    p.add_argument(
        "--speaking-rate",
        type=int,
        default=None,
        help="with --text: espeak-ng words per minute (default 175)",
    )
    p.add_argument(
        "--window", type=int, default=250, help="frames per generation window (default 250 = 10 s)"
    )
    p.add_argument("--overlap", type=int, default=50, help="cross-faded frames between windows (default 50)")
    from vqtalker.cli.runtime import add_runtime_arguments

    add_runtime_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from vqtalker.errors import VQTalkerError

    out = Path(args.output)
    if out.suffix.lower() != ".mp4":
        raise VQTalkerError(f"output must be an .mp4 file, got {out}")
    args.audio = getattr(args, "audio", None)
    blink_video = None if args.blink in ("auto", "off") else args.blink
    for name, val in (("image", args.image), ("audio", args.audio), ("pose video", args.pose_from),
                      ("--blink video", blink_video)):
        if val is not None and not Path(val).is_file():
            raise VQTalkerError(f"{name} not found: {val}")
    if getattr(args, "text", None) is not None and not args.lang:
        raise VQTalkerError("--text needs --lang (e.g. --lang en; see vqtalker tts --list-languages)")
    from vqtalker.pipeline import GenerationConfig

    config = GenerationConfig(
        seed=args.seed,
        temperature=args.temperature,
        top_k=args.top_k,
        window=args.window,
        overlap=args.overlap,
        crop=not args.no_crop,
        blink_every=0.0 if (args.no_blinks or args.blink == "off") else 3.5,
        head_motion=0.0 if args.still else args.motion_scale,
        pose_offset=_pose_offset(args.pose),
        face=args.face,
        mouth_gain=args.mouth_gain,
        mouth_channel_gain=args.mouth_channel_gain,
        size=args.size,
        paste_back=not args.crop_only,
        max_side=args.max_side,
    ).validate()
    if args.mouth is not None and not Path(args.mouth).is_file():
        raise VQTalkerError(f"mouth predictor not found: {args.mouth}")

    from vqtalker.cli.runtime import apply_runtime
    from vqtalker.pipeline import TalkingHeadPipeline

    device = apply_runtime(args)

    audio, sample_rate, phonemes = args.audio, 16000, None
    if args.text is not None:
        from vqtalker.tts import synthesize

        kw = {} if args.speaking_rate is None else {"rate": args.speaking_rate}
        audio, sample_rate, phonemes = synthesize(args.text, args.lang, **kw)
    pipe = TalkingHeadPipeline.from_pretrained(
        args.weights,
        stage1=args.stage1,
        stage2=args.stage2,
        speech_tokenizer=args.speech_tokenizer,
        device=device,
        mouth=args.mouth,
    )
    pipe.render_size(config)  # an impossible --size fails before any work
    if args.no_silence:
        pipe.mouth.silence = False
    if args.text_weight is not None:
        if not 0 <= args.text_weight <= 1:
            raise VQTalkerError(f"--text-weight must be in [0, 1], got {args.text_weight}")
        pipe.mouth.text_weight = float(args.text_weight)
    blink = None
    if blink_video is not None:
        from vqtalker.generate.controls import controls_from_video

        blink = controls_from_video(blink_video)["blink"]
    if sys.stderr.isatty():
        print("generating motion ...", end="", file=sys.stderr, flush=True)
    result = pipe.animate_to_file(
        out, args.image, audio, sample_rate=sample_rate, config=config, pose_from=args.pose_from,
        phonemes=phonemes, blink=blink, progress=_progress if sys.stderr.isatty() else None,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    n = result.motion.shape[0]
    from vqtalker.io.video import probe_video

    info = probe_video(out)
    w, h = info.width, info.height
    print(
        f"wrote {out} ({n} frames, {n / result.fps:.2f} s, {w}x{h}, face crop {result.crop_size} px, "
        f"{'mouth-guided, ' if result.mouth is not None else ''}synthetic-media tagged)",
        file=sys.stderr,
    )
    return 0


def _pose_offset(text: str | None) -> tuple[float, float, float]:
    """``"yaw,pitch,roll"`` degrees → a tuple (one-line error otherwise)."""
    from vqtalker.errors import VQTalkerError

    if text is None:
        return (0.0, 0.0, 0.0)
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(abs(v) <= 45 for v in vals):
        raise VQTalkerError(f"--pose must be YAW,PITCH,ROLL in degrees (each within ±45), got {text!r}")
    return vals


def _progress(stage: str, done: int, total: int) -> None:
    """One updating stderr line while rendering (only on a terminal)."""
    if stage == "render" and (done == total or done % 10 == 0):
        pct = 100 * done // max(total, 1)
        print(f"\rrendering {done}/{total} frames ({pct} %)   ", end="", file=sys.stderr, flush=True)
