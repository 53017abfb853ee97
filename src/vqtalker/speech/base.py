"""The :class:`SpeechTokenizer` interface and the token ↔ video-frame alignment rule.

Every backend turns a waveform (any sample rate, mono or ``[N, C]`` multi-channel) into a sequence of
speech units at ``rate_hz`` (50 Hz for all built-in backends, i.e. one unit per 20 ms):

* discrete backends (``is_discrete = True``): ``encode(wave, sr) -> LongTensor [N]`` in ``[0, vocab_size)``;
* the continuous backend (``is_discrete = False``): ``encode_features(wave, sr) -> FloatTensor [N, D]``;
  its ``encode`` raises, so a discrete-only consumer fails loudly instead of silently receiving floats.

Alignment to 25 fps video (the paper's rule, 50 Hz → 25 Hz): ``N`` units cover ``T = floor(N / 2)`` video
frames; video frame ``t`` owns units ``2t`` and ``2t + 1``. :func:`align_tokens` truncates or pads a unit
sequence to exactly ``2 T`` units for a clip of ``T`` frames (padding repeats the last unit, so silence at
the end stays silence).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import numpy as np
import torch

from vqtalker.constants import FPS
from vqtalker.errors import VQTalkerError
from vqtalker.io.audio import SAMPLE_RATE, resample, to_mono

VIDEO_FPS = FPS


def tokens_to_frames(n_tokens: int, rate_hz: float = 50.0, fps: float = VIDEO_FPS) -> int:
    """Number of whole video frames at ``fps`` covered by ``n_tokens`` units at ``rate_hz``.

    For 50 Hz tokens and 25 fps video this is ``floor(N / 2)``.
    """
    if n_tokens < 0:
        raise ValueError("n_tokens must be >= 0")
    return int(math.floor(n_tokens * fps / rate_hz + 1e-9))


def frames_to_tokens(n_frames: int, rate_hz: float = 50.0, fps: float = VIDEO_FPS) -> int:
    """Number of units at ``rate_hz`` of ``n_frames`` video frames (``2 T`` for 50 Hz / 25 fps)."""
    return int(round(n_frames * rate_hz / fps))


def align_tokens(
    tokens: torch.Tensor, n_frames: int, rate_hz: float = 50.0, fps: float = VIDEO_FPS
) -> torch.Tensor:
    """Truncate or pad ``tokens`` (``[N]`` or ``[N, D]``) along time to exactly the units of ``n_frames``.

    Padding repeats the last unit (zeros if ``tokens`` is empty). For 50 Hz / 25 fps the result has
    ``2 * n_frames`` rows, and ``result.view(n_frames, 2, ...)`` groups the two units of each frame.
    """
    target = frames_to_tokens(n_frames, rate_hz, fps)
    n = tokens.shape[0]
    if n >= target:
        return tokens[:target]
    if n == 0:
        return torch.zeros((target, *tokens.shape[1:]), dtype=tokens.dtype)
    pad = tokens[-1:].expand(target - n, *tokens.shape[1:])
    return torch.cat([tokens, pad], dim=0)


def prepare_wave(wave, sample_rate: int) -> np.ndarray:
    """Any waveform (``[N]``, ``[N, C]`` or ``[C, N]`` with C <= 8) → 16 kHz mono float32 ``[N]``."""
    if isinstance(wave, torch.Tensor):
        wave = wave.detach().cpu().numpy()
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2 and wave.shape[0] <= 8 and wave.shape[1] > wave.shape[0]:
        wave = wave.T  # [C, N] (torch layout) -> [N, C]
    wave = to_mono(wave)
    if not np.all(np.isfinite(wave)):
        raise VQTalkerError("waveform contains NaN or infinite samples")
    return resample(wave, int(sample_rate), SAMPLE_RATE)


class SpeechTokenizer(abc.ABC):
    """Waveform → speech units at ``rate_hz``. Subclasses implement :meth:`_encode_16k`.

    Attributes:
        name: registry name (``"default"``, ``"s3"``, ``"logmel"``, ``"hash"``).
        rate_hz: units per second (50.0 for the built-in backends).
        vocab_size: number of discrete codes (``0`` for continuous backends).
        feature_dim: feature size ``D`` for continuous backends (``0`` for discrete ones).
        is_discrete: ``True`` if :meth:`encode` returns code indices.
    """

    name: str = "base"
    rate_hz: float = 50.0
    vocab_size: int = 0
    feature_dim: int = 0
    is_discrete: bool = True

    @abc.abstractmethod
    def _encode_16k(self, wave: np.ndarray) -> torch.Tensor:
        """16 kHz mono float32 ``[N]`` → ``LongTensor [T]`` (discrete) or ``FloatTensor [T, D]``."""

    def expected_length(self, n_samples_16k: int) -> int:
        """Number of units for ``n_samples_16k`` samples at 16 kHz (``n // 320`` at 50 Hz)."""
        return int(n_samples_16k // int(round(SAMPLE_RATE / self.rate_hz)))

    def encode(self, wave, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """Waveform (any rate/channels) → ``LongTensor [N]``, codes in ``[0, vocab_size)`` at ``rate_hz``."""
        if not self.is_discrete:
            raise VQTalkerError(
                f"speech tokenizer '{self.name}' is continuous: use encode_features() (returns [N, D] floats)"
            )
        return self._encode_16k(prepare_wave(wave, sample_rate))

    def encode_features(self, wave, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """Continuous units ``FloatTensor [N, D]`` at ``rate_hz`` (continuous backends only)."""
        if self.is_discrete:
            raise VQTalkerError(f"speech tokenizer '{self.name}' is discrete: use encode()")
        return self._encode_16k(prepare_wave(wave, sample_rate))

    def __call__(self, wave, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
        """``encode`` for discrete backends, ``encode_features`` for continuous ones."""
        if self.is_discrete:
            return self.encode(wave, sample_rate)
        return self.encode_features(wave, sample_rate)

    def encode_batch(
        self, waves: Sequence, sample_rate: int | Sequence[int] = SAMPLE_RATE
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode several waveforms → ``(units [B, N_max(, D)], lengths [B])``, right-padded with 0.

        ``sample_rate`` is one rate for all or one per item. The result for item ``b`` truncated to
        ``lengths[b]`` equals ``self(waves[b], rate)``.
        """
        rates = [sample_rate] * len(waves) if isinstance(sample_rate, int | float) else list(sample_rate)
        if len(rates) != len(waves):
            raise VQTalkerError("encode_batch: need one sample rate per waveform")
        outs = [self(w, r) for w, r in zip(waves, rates)]
        lengths = torch.tensor([o.shape[0] for o in outs], dtype=torch.long)
        n_max = int(lengths.max()) if len(outs) else 0
        trailing = outs[0].shape[1:] if outs else ()
        dtype = outs[0].dtype if outs else torch.long
        batch = torch.zeros((len(outs), n_max, *trailing), dtype=dtype)
        for b, o in enumerate(outs):
            batch[b, : o.shape[0]] = o
        return batch, lengths

    def __repr__(self) -> str:
        kind = f"vocab={self.vocab_size}" if self.is_discrete else f"dim={self.feature_dim}"
        return f"{type(self).__name__}(name={self.name!r}, rate_hz={self.rate_hz}, {kind})"
