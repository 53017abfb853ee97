"""``load_speech_tokenizer(name, **kw)``: build a speech tokenizer backend by name.

=========  ==========  ==========  =====================================================================
name       rate        units       notes
=========  ==========  ==========  =====================================================================
default    50 Hz       1024 codes  offline k-means codebook trained here (``path=`` to use another one)
s3         50 Hz       4096 codes  CosyVoice S3Tokenizer v1; ``path=`` or ``$VQTALKER_S3_ONNX`` (local ONNX)
logmel     50 Hz       [N, 128]    continuous (``is_discrete=False``; use ``encode_features``)
hash       50 Hz       1024 codes  deterministic weight-free LSH tokens (tests, random-codebook baseline)
=========  ==========  ==========  =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable

from vqtalker.errors import VQTalkerError
from vqtalker.speech.base import SpeechTokenizer


def _default(path=None, **kw) -> SpeechTokenizer:
    from vqtalker.speech.backends import KMeansSpeechTokenizer

    if kw:
        raise VQTalkerError(f"unexpected options for the default tokenizer: {sorted(kw)}")
    return KMeansSpeechTokenizer.load(path)


def _s3(path=None, **kw) -> SpeechTokenizer:
    from vqtalker.speech.s3 import S3SpeechTokenizer

    return S3SpeechTokenizer.from_onnx(path, **kw)


def _logmel(**kw) -> SpeechTokenizer:
    from vqtalker.speech.backends import LogMelFeatures

    return LogMelFeatures(**kw)


def _hash(**kw) -> SpeechTokenizer:
    from vqtalker.speech.backends import HashSpeechTokenizer

    return HashSpeechTokenizer(**kw)


BUILDERS: dict[str, Callable[..., SpeechTokenizer]] = {
    "default": _default,
    "s3": _s3,
    "logmel": _logmel,
    "hash": _hash,
}


def available_speech_tokenizers() -> list[str]:
    return list(BUILDERS)


def load_speech_tokenizer(name: str = "default", **kwargs) -> SpeechTokenizer:
    """Build the backend ``name`` (see the module table). Unknown name → :class:`VQTalkerError`."""
    key = (name or "default").strip().lower()
    if key not in BUILDERS:
        raise VQTalkerError(
            f"unknown speech tokenizer {name!r}; choose one of {', '.join(available_speech_tokenizers())}"
        )
    try:
        return BUILDERS[key](**kwargs)
    except TypeError as exc:
        raise VQTalkerError(f"bad options for speech tokenizer {key!r}: {exc}") from exc
