"""Speech features of the mouth predictor, named by a spec such as ``"mel+phonemes+vad"``.

Parts (all at **50 fps**, one row per 20 ms; video frame ``t`` at 25 fps owns rows ``2t, 2t+1``):

* ``mel`` ``[F, 128]``: the per-utterance normalised log-mel of :func:`vqtalker.mouth.predictor.log_mel`
  (100 fps), averaged over pairs of frames;
* ``phonemes`` ``[F, 191]``: IPA phoneme posteriors of the ``hama`` recogniser
  (:mod:`vqtalker.speech.phonetic`) — phonetic and largely speaker-independent;
* ``logphonemes`` ``[F, 191]``: the same posteriors as clipped log-probabilities,
  ``clip(log p, −12, 0) / 6 + 1``
  (the CTC posteriors are peaky: the log keeps the runner-up phonemes and the blank's confidence);
* ``vad`` ``[F, 1]``: Silero speech probability (:mod:`vqtalker.speech.vad`);
* ``tokens`` ``[F, 1024]``: one-hot of the project's own ``default`` speech tokens (50 Hz k-means codes, the
  stage-2 input).

The legacy spec ``"mel100"`` is the wave-1 input (log-mel at 100 fps, ``[4T, 128]``).
"""

from __future__ import annotations

import numpy as np
import torch

PARTS = {"mel": 128, "phonemes": 191, "logphonemes": 191, "vad": 1, "tokens": 1024}
#: parts derived from another part's raw data (what is computed and cached)
SOURCE = {"logphonemes": "phonemes"}
LEGACY = "mel100"


def parse(spec: str) -> list[str]:
    """``"mel+phonemes"`` → ``["mel", "phonemes"]`` (one clear error for an unknown part)."""
    if spec == LEGACY:
        return [LEGACY]
    parts = [p for p in spec.split("+") if p]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ValueError(f"unknown mouth feature {bad or spec!r}; use parts of {'+'.join(PARTS)}")
    return parts


def feature_dim(spec: str) -> int:
    return 128 if spec == LEGACY else sum(PARTS[p] for p in parse(spec))


def rows_per_frame(spec: str) -> int:
    """Feature rows per 25-fps video frame: 4 for the legacy 100-fps log-mel, else 2."""
    return 4 if spec == LEGACY else 2


def raw_parts(spec: str) -> list[str]:
    """The parts whose raw data ``spec`` needs (``logphonemes`` → ``phonemes``), in order, no repeats."""
    return list(dict.fromkeys(SOURCE.get(p, p) for p in parse(spec)))


def compute_parts(wave16k: np.ndarray, spec: str, num_frames: int) -> dict[str, np.ndarray]:
    """The raw parts of ``spec`` for ``num_frames`` video frames (each ``[rows_per_frame · T, d]``)."""
    from vqtalker.mouth.predictor import log_mel

    w = np.asarray(wave16k, np.float32)
    r = rows_per_frame(spec)
    out: dict[str, np.ndarray] = {}
    for p in raw_parts(spec):
        if p in (LEGACY, "mel"):
            m = log_mel(w).numpy()
            if p == "mel":
                m = m[: m.shape[0] // 2 * 2].reshape(-1, 2, m.shape[1]).mean(1)
            out[p] = _fit_rows(m, r * num_frames)
        elif p == "phonemes":
            from vqtalker.speech.phonetic import phoneme_posteriors

            out[p] = phoneme_posteriors(w, 2 * num_frames)
        elif p == "vad":
            from vqtalker.speech.vad import speech_probability

            out[p] = np.repeat(speech_probability(w, num_frames), 2)[:, None]
        elif p == "tokens":
            from vqtalker.speech import align_tokens

            tok = _tokenizer()
            codes = align_tokens(tok.encode(w, 16000), num_frames).numpy()
            one_hot = np.zeros((codes.size, PARTS["tokens"]), np.float32)
            one_hot[np.arange(codes.size), codes % PARTS["tokens"]] = 1.0
            out[p] = one_hot
    return out


_TOK = None


def _tokenizer():
    global _TOK
    if _TOK is None:
        from vqtalker.speech import load_speech_tokenizer

        _TOK = load_speech_tokenizer("default")
    return _TOK


def assemble(parts: dict[str, np.ndarray], spec: str, num_frames: int) -> torch.Tensor:
    """Concatenate cached/computed parts into the ``[rows_per_frame · T, feature_dim]`` float32 input."""
    n = rows_per_frame(spec) * num_frames
    cols = []
    for p in parse(spec):
        x = np.asarray(parts[SOURCE.get(p, p)], np.float32)
        if p == "logphonemes":
            x = np.clip(np.log(np.maximum(x, 1e-12)), -12.0, 0.0) / 6.0 + 1.0
        cols.append(_fit_rows(x.reshape(len(x), -1), n))
    return torch.from_numpy(np.concatenate(cols, 1).astype(np.float32))


def speech_features(wave16k: np.ndarray, spec: str, num_frames: int) -> torch.Tensor:
    """16 kHz mono ``[N]`` → predictor input ``[rows_per_frame · num_frames, feature_dim]``."""
    return assemble(compute_parts(wave16k, spec, num_frames), spec, num_frames)


def _fit_rows(x: np.ndarray, n: int) -> np.ndarray:
    """Cut or pad (repeating the last row; zeros when empty) to exactly ``n`` rows."""
    if x.shape[0] >= n:
        return x[:n]
    fill = x[-1:] if x.shape[0] else np.zeros((1,) + x.shape[1:], x.dtype)
    return np.concatenate([x, np.repeat(fill, n - x.shape[0], axis=0)])


__all__ = [
    "LEGACY",
    "PARTS",
    "SOURCE",
    "assemble",
    "compute_parts",
    "feature_dim",
    "parse",
    "raw_parts",
    "rows_per_frame",
    "speech_features",
]
