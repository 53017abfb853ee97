"""Multilingual text-to-speech with per-phoneme timings (espeak-ng, bundled by the ``espeakng-loader`` wheel).

``synthesize(text, lang, voice=None, rate=175, pitch=50) -> (wave, 16000, timings)``:

* ``wave``: float32 ``[N]`` mono at 16 kHz (espeak-ng speaks at 22.05 kHz; resampled with soxr);
* ``timings``: list of :class:`PhonemeTiming` ``(phoneme, start_s, end_s)`` where ``phoneme`` is the IPA
  string espeak-ng reports (stress marks kept), ``end_s`` = start of the next event (or the end of speech),
  and word boundaries are kept as :class:`WordTiming` in :attr:`Synthesis.words`.

libespeak-ng is driven through ``ctypes`` in synchronous mode with phoneme events
(``espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA``). espeak-ng keeps global state, so every
call holds a module lock (thread-safe, not parallel).

Language notes:

* ``zh``: Chinese characters are converted to tone-numbered pinyin with ``pypinyin`` and spoken with the
  ``cmn-latn-pinyin`` voice (the plain ``cmn`` voice misreads characters as English letters).
* ``ja``: espeak-ng reads kana only. Kanji are converted to hiragana with ``pykakasi`` when it is installed
  (``pip install pykakasi``; its readings are dictionary-based and sometimes wrong); without it, text with
  kanji raises :class:`VQTalkerError`.
"""

from __future__ import annotations

import ctypes
import re
import threading
from dataclasses import dataclass, field

import numpy as np

from vqtalker.constants import SAMPLE_RATE
from vqtalker.errors import VQTalkerError

# language code -> espeak-ng voice name. The 12 languages of the issue come first.
LANGUAGES: dict[str, str] = {
    "en": "en-us",
    "de": "de",
    "fr": "fr",
    "es": "es",
    "ru": "ru",
    "ar": "ar",
    "tr": "tr",
    "sw": "sw",
    "hi": "hi",
    "ko": "ko",
    "ja": "ja",
    "zh": "cmn-latn-pinyin",
    "it": "it",
    "pt": "pt",
    "nl": "nl",
    "sv": "sv",
    "pl": "pl",
    "cs": "cs",
    "uk": "uk",
    "el": "el",
    "he": "he",
    "fa": "fa",
    "ur": "ur",
    "bn": "bn",
    "ta": "ta",
    "id": "id",
    "ms": "ms",
    "vi": "vi",
    "th": "th",
    "fi": "fi",
    "hu": "hu",
    "ro": "ro",
    "am": "am",
    "ka": "ka",
    "yue": "yue",
}

VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")

# espeak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_CHARS_UTF8 = 1
_EVENT_WORD, _EVENT_SENTENCE, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_PHONEME = 1, 2, 5, 6, 7
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class PhonemeTiming:
    """One phoneme: IPA string and its span in seconds from the start of ``wave``."""

    phoneme: str
    start: float
    end: float


@dataclass(frozen=True)
class WordTiming:
    """One word: its text (a slice of the spoken text) and start time in seconds."""

    word: str
    start: float


@dataclass
class Synthesis:
    """Full result of :meth:`Espeak.synthesize`."""

    wave: np.ndarray  # float32 [N] at sample_rate
    sample_rate: int
    phonemes: list[PhonemeTiming]
    words: list[WordTiming] = field(default_factory=list)
    spoken_text: str = ""

    @property
    def duration(self) -> float:
        return self.wave.shape[0] / self.sample_rate


class Espeak:
    """Process-wide wrapper of libespeak-ng (use :func:`get_engine`)."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - dependency is in pyproject
            raise VQTalkerError(
                "text-to-speech needs the `espeakng-loader` package (pip install espeakng-loader)"
            ) from exc
        self.lock = threading.Lock()
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA
        )
        if rate <= 0:
            raise VQTalkerError("could not initialise espeak-ng (bundled data missing?)")
        self.native_rate = int(rate)
        self.lib = lib
        self._pcm: list[np.ndarray] = []
        self._events: list[tuple[int, int, str, int, int]] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: ctypes must not free it
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._pcm.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while True:
            ev = events[i]
            if ev.type == 0:  # espeakEVENT_LIST_TERMINATED
                break
            if ev.type == _EVENT_PHONEME:
                ph = ev.id.string.decode("utf-8", errors="ignore")
                self._events.append((_EVENT_PHONEME, ev.audio_position, ph, 0, 0))
            elif ev.type in (_EVENT_WORD, _EVENT_SENTENCE, _EVENT_END):
                self._events.append((ev.type, ev.audio_position, "", ev.text_position, ev.length))
            i += 1
        return 0

    def synthesize(
        self,
        text: str,
        voice: str,
        variant: str = "",
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
    ) -> Synthesis:
        """Speak ``text`` (already in a form the voice reads) with the espeak-ng ``voice``.

        ``rate``: words per minute (80..450); ``pitch``/``pitch_range``: 0..100 (50 = voice default);
        ``variant``: an espeak-ng voice variant (``m1``..``m7``, ``f1``..``f5``, or ``""``).
        """
        if variant and variant not in VARIANTS:
            raise VQTalkerError(f"unknown voice variant {variant!r}; choose one of {', '.join(VARIANTS[1:])}")
        if not 80 <= rate <= 450:
            raise VQTalkerError("rate must be between 80 and 450 words per minute")
        if not (0 <= pitch <= 100 and 0 <= pitch_range <= 100):
            raise VQTalkerError("pitch and pitch_range must be between 0 and 100")
        name = f"{voice}+{variant}" if variant else voice
        encoded = text.encode("utf-8") + b"\0"
        with self.lock:
            if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise VQTalkerError(f"espeak-ng has no voice {name!r}")
            self.lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self.lib.espeak_SetParameter(_PARAM_RANGE, int(pitch_range), 0)
            self.lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
            self._pcm, self._events = [], []
            buf = ctypes.create_string_buffer(encoded)
            err = self.lib.espeak_Synth(buf, len(encoded), 0, 0, 0, _CHARS_UTF8, None, None)
            pcm, events = self._pcm, self._events
            self._pcm, self._events = [], []
        if err != 0:
            raise VQTalkerError(f"espeak-ng failed to synthesise (error {err})")
        native = np.concatenate(pcm).astype(np.float32) / 32768.0 if pcm else np.zeros(0, np.float32)
        from vqtalker.io.audio import resample

        wave = resample(native, self.native_rate, SAMPLE_RATE)
        return Synthesis(
            wave, SAMPLE_RATE, *_timings(events, encoded[:-1], wave.shape[0] / SAMPLE_RATE), text
        )


def _timings(events, text_bytes: bytes, duration: float) -> tuple[list[PhonemeTiming], list[WordTiming]]:
    """Turn raw events into phoneme spans (each ends where the next event starts) and word starts."""
    text = text_bytes.decode("utf-8", errors="ignore")
    boundaries = np.array(sorted({pos for _, pos, *_ in events} | {int(round(duration * 1000))}))
    phonemes, words = [], []
    for kind, pos, ph, tpos, tlen in events:
        start = pos / 1000.0
        if kind == _EVENT_PHONEME:
            if not ph.strip():
                continue
            k = int(np.searchsorted(boundaries, pos, side="right"))
            end = min(boundaries[k] / 1000.0 if k < boundaries.size else duration, duration)
            if end > start:
                phonemes.append(PhonemeTiming(ph, start, end))
        elif kind == _EVENT_WORD:
            # text_position is 1-based in characters
            words.append(WordTiming(text[max(tpos - 1, 0) : max(tpos - 1, 0) + tlen], start))
    return phonemes, words


_ENGINE: Espeak | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> Espeak:
    """The process-wide :class:`Espeak` instance (created on first use)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = Espeak()
        return _ENGINE


_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANZI_PUNCT = {"，": ", ", "。": ". ", "！": "! ", "？": "? ", "；": "; ", "：": ": ", "、": ", "}


def prepare_text(text: str, lang: str) -> str:
    """Convert ``text`` to what the language's espeak-ng voice reads (pinyin for zh, kana for ja)."""
    if lang == "zh":
        from pypinyin import Style, lazy_pinyin

        for k, v in _HANZI_PUNCT.items():
            text = text.replace(k, v)
        syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="default")
        out = " ".join(s.strip() for s in syllables if s.strip())
        return re.sub(r"\s+([,.!?;:])", r"\1", out)
    if lang == "ja" and _KANJI.search(text):
        try:
            import pykakasi
        except ImportError as exc:
            raise VQTalkerError(
                "Japanese text with kanji needs `pip install pykakasi` (or write the text in kana)"
            ) from exc
        return "".join(item["hira"] for item in pykakasi.kakasi().convert(text))
    return text


def espeak_voices() -> dict[str, str]:
    """Every language voice of the bundled espeak-ng data: ``{lower-case name: espeak name}`` (141 voices,
    ~120 languages: ``af``, ``qu``, ``pt-br``, ``en-gb-scotland`` …). Read from the data folder, no engine
    start."""
    import os

    try:
        import espeakng_loader
    except ImportError:  # pragma: no cover - a hard dependency
        return {}
    root = os.path.join(espeakng_loader.get_data_path(), "lang")
    out: dict[str, str] = {}
    for _, _, files in os.walk(root):
        for name in files:
            out[name.lower()] = name
    return dict(sorted(out.items()))


def resolve_language(lang: str) -> tuple[str, str]:
    """``lang`` → ``(key, espeak voice)``: one of the curated codes of :data:`LANGUAGES` (with text
    preparation, e.g. pinyin for zh), else any espeak-ng voice name (case-insensitive)."""
    key = (lang or "").strip().lower()
    if key in ("cmn", "zh-cn", "zh-hans"):
        key = "zh"
    if key in LANGUAGES:
        return key, LANGUAGES[key]
    voices = espeak_voices()
    if key in voices:
        return key, voices[key]
    raise VQTalkerError(
        f"unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}, or any of the {len(voices)} "
        "espeak-ng voices listed by `vqtalker tts --list-languages`"
    )


def supported_languages() -> list[str]:
    """Language codes accepted by :func:`synthesize`: the curated codes, then every other espeak-ng voice."""
    return list(LANGUAGES) + [v for v in espeak_voices() if v not in LANGUAGES]


def synthesize(
    text: str,
    lang: str,
    voice: str | None = None,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
) -> tuple[np.ndarray, int, list[PhonemeTiming]]:
    """Speak ``text`` in language ``lang`` → ``(wave float32 [N] at 16 kHz, 16000, phoneme timings)``.

    ``voice``: an espeak-ng voice variant (``m1``..``m7``, ``f1``..``f5``) or ``None`` for the language's
    default voice. ``rate`` in words per minute, ``pitch``/``pitch_range`` 0..100.
    Unknown ``lang`` → :class:`VQTalkerError` listing the supported codes.
    """
    result = synthesize_full(text, lang, voice=voice, rate=rate, pitch=pitch, pitch_range=pitch_range)
    return result.wave, result.sample_rate, result.phonemes


def synthesize_full(
    text: str,
    lang: str,
    voice: str | None = None,
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
) -> Synthesis:
    """Like :func:`synthesize` but returns the :class:`Synthesis` (also word timings and the spoken text)."""
    key, voice_name = resolve_language(lang)
    if not text or not text.strip():
        raise VQTalkerError("nothing to say: the text is empty")
    spoken = prepare_text(text, key)
    return get_engine().synthesize(
        spoken, voice_name, variant=voice or "", rate=rate, pitch=pitch, pitch_range=pitch_range
    )
