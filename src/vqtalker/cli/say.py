"""``vqtalker say``: portrait + text in one of ~120 languages → talking-head mp4 (espeak-ng speech).

Examples::

    vqtalker say --image me.jpg --text "Hello, how are you?" --lang en -o hello.mp4
    vqtalker say --image me.jpg --text "Habari yako?" --lang sw -o habari.mp4 --speaking-rate 150
    vqtalker say --image me.jpg --text "こんにちは" --lang ja -o ja.mp4 --text-weight 1   # visemes only

The speech is synthesised with the bundled espeak-ng; its own phoneme timings drive the mouth (exact
visemes: lips close on m/b/p, open on vowels, rest in pauses), blended with what the audio mouth model hears
(``--text-weight``). Same options as ``vqtalker animate`` otherwise (``vqtalker tts --list-languages``).
"""

from __future__ import annotations


def register(sub) -> None:
    from vqtalker.cli.animate import add_arguments, portrait_parser, run

    p = portrait_parser(sub, "say", "animate a portrait speaking a text in any espeak-ng language", __doc__)
    p.add_argument("--text", required=True, help="what to say")
    p.add_argument(
        "--lang", required=True, help="language code, e.g. en, sw, ja (vqtalker tts --list-languages)"
    )
    add_arguments(p)
    p.set_defaults(func=run, audio=None)
