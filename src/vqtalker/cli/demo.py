"""``vqtalker demo``: the product end to end, offline, with the packaged weights.

Default: a talking-head video from the packaged portrait (a StyleGAN face of no real person, see
``vqtalker/assets/README.md``) and speech made by the bundled espeak-ng TTS, in English and in Swahili,
written to ``--out`` (default ``vqtalker-demo/``) as H.264 + AAC mp4 at 25 fps, tagged as synthetic
media. Prints timings (real-time factor) and whether the mouth guidance was on. ``--text/--lang`` speaks
your own sentence.

``--quantizers``: instead, fit every quantizer of the paper's Table-3 family on a seeded synthetic
facial-motion-like signal (120-d, 25 fps; see :mod:`vqtalker.quantize.report`) and print bits/frame, kbps at
25 fps, codebook utilisation (per residual layer), perplexity and reconstruction MSE; ``--quick`` runs a tiny
version (for tests). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEMO_PORTRAIT = ASSETS / "demo_portrait.jpg"
DEMO_LINES = (
    ("en", "Hello! I am a talking head. One photo and one sentence are all I need, and I run on a laptop."),
    ("sw", "Habari za asubuhi. Karibu sana, rafiki yangu."),
)


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the demo (talking-head videos from the packaged portrait; --quantizers: the GRFSQ table)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="vqtalker-demo", help="output folder (default vqtalker-demo)")
    p.add_argument("--text", default=None, help="speak this instead of the two demo lines (needs --lang)")
    p.add_argument("--lang", default=None, help="language of --text (vqtalker tts --list-languages)")
    p.add_argument("--image", default=None, help="portrait to animate (default: the packaged demo portrait)")
    from vqtalker.cli.runtime import add_runtime_arguments

    add_runtime_arguments(p)
    p.add_argument("--quantizers", action="store_true", help="print the Table-3 quantizer comparison instead")
    p.add_argument("--quick", action="store_true", help="with --quantizers: tiny signal, few steps (seconds)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic signal and the fits (default 0)"
    )
    p.add_argument("--steps", type=int, default=None, help="fit steps per quantizer (default 300; quick: 3)")
    p.set_defaults(func=run)


def run(args) -> int:
    return run_quantizers(args) if args.quantizers or args.quick else run_talking(args)


def run_talking(args) -> int:
    import sys
    import time

    from vqtalker.errors import VQTalkerError
    from vqtalker.pipeline import TalkingHeadPipeline
    from vqtalker.tts import synthesize

    if args.text is not None and not args.lang:
        raise VQTalkerError("--text needs --lang (e.g. --lang en; see vqtalker tts --list-languages)")
    image = Path(args.image) if args.image else DEMO_PORTRAIT
    if not image.is_file():
        raise VQTalkerError(f"image not found: {image}")
    lines = ((args.lang, args.text),) if args.text is not None else DEMO_LINES
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    from vqtalker.cli.runtime import apply_runtime

    device = apply_runtime(args)
    t0 = time.perf_counter()
    pipe = TalkingHeadPipeline.from_pretrained(device=device)
    print(f"loaded the packaged models in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    for lang, text in lines:
        t1 = time.perf_counter()
        wave, sr, phonemes = synthesize(text, lang)
        path = out_dir / f"demo_{lang}.mp4"
        res = pipe.animate_to_file(path, str(image), wave, sample_rate=sr, seed=args.seed, phonemes=phonemes)
        took = time.perf_counter() - t1
        n = res.motion.shape[0]
        guided = "on" if res.mouth is not None else "off"
        print(
            f"wrote {path}: {n} frames ({n / res.fps:.1f} s of video) in {took:.1f} s "
            f"({n / res.fps / took:.2f}x real time), mouth guidance {guided}, tagged as synthetic media; "
            f"text [{lang}]: {text}"
        )
    return 0


def run_quantizers(args) -> int:
    import time

    from vqtalker.errors import VQTalkerError
    from vqtalker.quantize.report import format_table, paper_bitrate_check, quantizer_table

    steps = args.steps if args.steps is not None else (3 if args.quick else 300)
    if steps < 0:
        raise VQTalkerError("--steps must be >= 0")
    sizes = (
        dict(train_seconds=4.0, eval_seconds=2.0)
        if args.quick
        else dict(train_seconds=120.0, eval_seconds=60.0)
    )
    t0 = time.perf_counter()
    rows = quantizer_table(fit_steps=steps, seed=args.seed, **sizes)
    elapsed = time.perf_counter() - t0
    print(
        "Quantizer comparison (paper Table 3 family) on a synthetic 120-d facial-motion-like signal, "
        f"25 fps; fit {steps} steps on {sizes['train_seconds']:g} s, "
        f"evaluated on another {sizes['eval_seconds']:g} s."
    )
    print(format_table(rows))
    print(
        f"Paper GRFSQ bitrate: 4 x 12 x log2(625) x 25 = {paper_bitrate_check():,.2f} bit/s. "
        f"Util. = codes used at least once (mean over groups); rel.MSE = MSE / signal variance."
    )
    print(f"done in {elapsed:.1f} s")
    return 0
