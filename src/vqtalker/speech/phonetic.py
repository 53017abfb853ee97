"""Phonetic front-end: frame-level IPA phoneme posteriors from the CTC recogniser shipped in the PyPI package
``hama`` (Apache-2.0; the model file lives inside the wheel, no download).

Shapes and rates: 16 kHz mono ``[N]`` → posteriors ``[F, 191]`` at **50 fps** (20 ms; ``F ≈ N / 320``), rows
sum to 1; column :data:`BLANK` is the CTC blank, which also covers silence. :func:`phoneme_posteriors` pads or
cuts to an exact frame count so the output lines up with 25-fps video (frame ``t`` owns rows ``2t, 2t+1``).
Long inputs are processed in overlapping windows (memory flat in length), several at a time on
``torch.get_num_threads()`` threads (the recogniser's native engine releases the GIL).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vqtalker.errors import VQTalkerError

FPS50 = 50
HOP = 320  # samples per output frame at 16 kHz
INSTALL_HINT = "install it with `pip install hama==1.7.0` (the README's setup does)"
#: window and overlap (in 20-ms frames) for long inputs
WINDOW, OVERLAP = 500, 50


@lru_cache(maxsize=1)
def _model():
    try:
        import hama
    except ModuleNotFoundError:
        raise VQTalkerError(f"the phonetic front-end needs the `hama` package: {INSTALL_HINT}") from None
    return hama.ASRModel()


def vocabulary() -> list[str]:
    """The 191 output symbols (IPA phonemes, ``<wb>`` word boundary, ``<blank>``), in column order."""
    return list(_model().decoder_tokens)


def _run(wave: np.ndarray) -> np.ndarray:
    m = _model()
    lp, n = m.session.run(
        [m._log_probs_output_name, m._out_lengths_output_name],
        {m._waveform_input_name: wave[None], m._waveform_lengths_input_name: np.array([wave.size], np.int64)},
    )
    return np.exp(np.asarray(lp[0][: int(np.asarray(n).reshape(-1)[0])], np.float32))


def phoneme_posteriors(wave16k: np.ndarray, num_frames: int | None = None) -> np.ndarray:
    """Posteriors ``[F, 191]`` float32 at 50 fps (``F = N // 320`` unless ``num_frames``; missing rows at
    the end repeat the last one, a silent input gives all-blank rows)."""
    w = np.clip(np.asarray(wave16k, dtype=np.float32).flatten(), -1.0, 1.0)
    f = w.size // HOP if num_frames is None else int(num_frames)
    n_sym = len(vocabulary())
    rows = []
    if w.size >= 4 * HOP:
        starts = range(0, -(-w.size // HOP), WINDOW)

        def window(start: int) -> np.ndarray:
            lo = max(0, start - OVERLAP)
            return _run(w[lo * HOP : (start + WINDOW + OVERLAP) * HOP])[start - lo : start - lo + WINDOW]

        workers = max(1, min(len(starts), _threads()))
        if workers == 1:
            rows = [window(s) for s in starts]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as ex:
                rows = list(ex.map(window, starts))
    post = np.concatenate(rows) if rows else np.zeros((0, n_sym), np.float32)
    if post.shape[0] >= f:
        return post[:f]
    fill = post[-1:] if post.shape[0] else _blank_row(n_sym)
    return np.concatenate([post, np.repeat(fill, f - post.shape[0], axis=0)]).astype(np.float32)


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _blank_row(n_sym: int) -> np.ndarray:
    row = np.zeros((1, n_sym), np.float32)
    row[0, BLANK] = 1.0
    return row


#: column of the CTC blank (the last symbol)
BLANK = 190

__all__ = ["BLANK", "FPS50", "phoneme_posteriors", "vocabulary"]
