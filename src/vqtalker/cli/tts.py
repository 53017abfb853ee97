"""``vqtalker tts TEXT --lang L -o out.wav``: multilingual text-to-speech (espeak-ng) with phoneme timings."""

from __future__ import annotations


def run(args) -> int:
    import json
    from pathlib import Path

    from vqtalker.errors import VQTalkerError
    from vqtalker.io.audio import save_audio
    from vqtalker.tts import supported_languages, synthesize_full

    if args.list_languages:
        print(" ".join(supported_languages()))
        return 0
    if args.text is None or args.lang is None or args.output is None:
        raise VQTalkerError("vqtalker tts needs TEXT, --lang and -o (or --list-languages)")

    result = synthesize_full(
        args.text, args.lang, voice=args.voice, rate=args.rate, pitch=args.pitch, pitch_range=args.pitch_range
    )
    save_audio(args.output, result.wave, result.sample_rate)
    info = {
        "output": str(args.output),
        "lang": args.lang,
        "seconds": round(result.duration, 3),
        "sample_rate": result.sample_rate,
        "phonemes": len(result.phonemes),
        "spoken_text": result.spoken_text,
    }
    if args.timings:
        from vqtalker.utils import atomic_write_bytes

        rows = [
            {"phoneme": p.phoneme, "start": round(p.start, 3), "end": round(p.end, 3)}
            for p in result.phonemes
        ]
        atomic_write_bytes(Path(args.timings), json.dumps(rows, ensure_ascii=False, indent=0).encode("utf-8"))
        info["timings"] = str(args.timings)
    print(json.dumps(info, ensure_ascii=False))
    return 0


def register(sub) -> None:
    from vqtalker.tts import LANGUAGES, VARIANTS

    p = sub.add_parser(
        "tts",
        help="speak text in any of ~120 languages (espeak-ng), write a 16 kHz wav",
        description="Text-to-speech with espeak-ng (bundled by espeakng-loader). Curated codes: "
        + ", ".join(LANGUAGES)
        + " (zh is converted to pinyin; ja needs kana, or pykakasi for kanji); any other espeak-ng voice "
        "name also works (--list-languages).",
    )
    p.add_argument("text", nargs="?", help="text to speak")
    p.add_argument(
        "--lang", default=None, help="language code, e.g. en, de, fr, es, ru, ar, tr, sw, hi, ko, ja, zh, qu"
    )
    p.add_argument("-o", "--output", default=None, help="output .wav (16 kHz mono)")
    p.add_argument("--list-languages", action="store_true", help="print every accepted language code")
    p.add_argument("--voice", default=None, choices=[v for v in VARIANTS if v], help="voice variant")
    p.add_argument("--rate", type=int, default=175, help="words per minute (80..450)")
    p.add_argument("--pitch", type=int, default=50, help="0..100")
    p.add_argument("--pitch-range", type=int, default=50, help="0..100")
    p.add_argument("--timings", default=None, help="also write phoneme timings as JSON")
    p.set_defaults(func=run)
