"""Text path: IPA phoneme timings (espeak-ng's own, :func:`vqtalker.tts.synthesize`) → a mouth-opening track.

Each phoneme gets an articulation target — **openness** in ``[0, 1]`` (0 = lips closed, 1 = an open vowel like
/a/) and a **dominance** (how strongly it wins over its neighbours). The track is the dominance-weighted
mix of Gaussian-windowed targets (co-articulation after Cohen & Massaro): bilabials /p b m/ have a high
dominance and a narrow window, so the lips reach closure at the centre of the consonant even between open
vowels; pauses pull towards the rest position. The openness is mapped to the predictor's units
(20 × inner-lip gap / crop side) by a :class:`TextCalibration` measured on real speakers.

Rates: phoneme spans in seconds → ``[T]`` at 25 fps (sampled at frame centres).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vqtalker.constants import FPS

_OPEN = {  # vowel height → openness
    **dict.fromkeys("aäɑɒæɐɶ", 1.0),
    **dict.fromkeys("ɛœɔʌɜɞ", 0.75),
    **dict.fromkeys("əɘɵɤ", 0.55),
    **dict.fromkeys("eøo", 0.5),
    **dict.fromkeys("ɪʏʊ", 0.35),
    **dict.fromkeys("iyɨʉɯu", 0.28),
}
_ROUNDED = set("oɔuʊyʏøœɒɶɵɞʉwɥ")
_BILABIAL = set("pbmɓʙɸβ")
_LABIODENTAL = set("fvɱʋ")
_BACK = set("kgɡŋxɣχʁqħʕhʔɦɢɴ")


@dataclass(frozen=True)
class Articulation:
    openness: float
    dominance: float
    width: float  # Gaussian window (s)
    rounded: bool = False
    closure: bool = False


REST = Articulation(0.0, 1.0, 0.08)


def _base(ph: str) -> str:
    """Strip stress, length, tone and combining diacritics: ``"ˈoʊ"`` → ``"oʊ"``."""
    s = unicodedata.normalize("NFD", ph)
    return "".join(c for c in s if not unicodedata.combining(c) and c not in "ˈˌːˑ.ʰʲʷˠˤ̃-_|'0123456789")


def articulation(ph: str) -> Articulation:
    """The articulation target of one IPA phoneme (unknown symbols: a neutral consonant)."""
    s = _base(ph)
    if not s:
        return REST
    vowels = [c for c in s if c in _OPEN]
    if vowels:  # vowel or diphthong: its most open part, rounded if any part is
        return Articulation(max(_OPEN[c] for c in vowels), 1.0, 0.06, any(c in _ROUNDED for c in s))
    c = s[0]
    if c in _BILABIAL:
        return Articulation(0.0, 6.0, 0.03, closure=True)
    if c in _LABIODENTAL:
        return Articulation(0.08, 3.0, 0.035)
    if c in "wɥ":
        return Articulation(0.15, 2.0, 0.04, rounded=True)
    if c in _BACK:
        return Articulation(0.3, 0.3, 0.04)
    return Articulation(0.2, 0.6, 0.035)  # coronal / palatal: the jaw follows the vowels


@dataclass
class TextCalibration:
    """Openness → opening units: ``rest + openness · (open − rest)`` (20 × inner-lip gap / crop side)."""

    rest: float = 0.05
    open: float = 0.75

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TextCalibration:
        return cls(**json.loads(text))

    @classmethod
    def fit(cls, openings: np.ndarray, speech: np.ndarray | None = None) -> TextCalibration:
        """From real openings ``[N]`` (and a speech mask): rest = 5th percentile, open (an /a/) = 90th
        percentile of the speech frames."""
        o = np.asarray(openings, np.float64)
        o = o[np.isfinite(o)]
        if speech is not None:
            sp = np.asarray(speech, bool)[: o.size]
            o = o[sp] if sp.any() else o
        return cls(float(np.percentile(o, 5)), float(np.percentile(o, 90)))


def openness_track(phonemes: Sequence, num_frames: int, fps: int = FPS) -> np.ndarray:
    """Phoneme spans (objects with ``phoneme``, ``start``, ``end`` in seconds) → openness ``[num_frames]``."""
    t = (np.arange(num_frames) + 0.5) / fps
    num = np.zeros(num_frames)
    den = np.zeros(num_frames)
    spans = sorted(
        ((float(p.start), float(p.end), articulation(p.phoneme)) for p in phonemes), key=lambda x: x[0]
    )
    # pauses: rest targets before, between (gaps > 60 ms) and after the phonemes
    rests = []
    prev_end = 0.0
    for s, e, _ in spans:
        if s - prev_end > 0.06 or not rests and s > 0.06:
            rests.append((prev_end, s))
        prev_end = max(prev_end, e)
    rests.append((prev_end, max(prev_end, num_frames / fps) + 1.0))
    for s, e in rests:
        spans.append((s, e, REST))
    for s, e, a in spans:
        c = 0.5 * (s + e)
        half = 0.5 * max(e - s, 1e-3)
        # a flat top over the span's core, Gaussian flanks of width a.width
        dist = np.maximum(np.abs(t - c) - (0.0 if a.closure else 0.5 * half), 0.0)
        w = a.dominance * np.exp(-((dist / a.width) ** 2))
        num += w * a.openness
        den += w
    return (num / np.maximum(den, 1e-6)).astype(np.float32)


def text_opening(
    phonemes: Sequence, num_frames: int, calibration: TextCalibration | None = None
) -> np.ndarray:
    """Phoneme spans → mouth opening ``[num_frames]`` at 25 fps in the predictor's units."""
    cal = calibration or TextCalibration()
    return (cal.rest + openness_track(phonemes, num_frames) * (cal.open - cal.rest)).astype(np.float32)


__all__ = ["Articulation", "TextCalibration", "articulation", "openness_track", "text_opening"]
