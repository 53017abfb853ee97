"""Whisper-style log-mel front-end (the input of CosyVoice S3 and of the offline default tokenizer).

16 kHz mono waveform ``[N]`` → log-mel ``[F, 128]`` at **100 fps** (hop 160 samples = 10 ms):

* STFT: ``n_fft = 400`` (25 ms), hop 160, periodic Hann window, centred (reflect padding) exactly like
  ``torch.stft(center=True)``; the last frame is dropped, so ``F = N // 160``.
* power spectrum ``|X|^2`` → 128 Slaney-style mel filters (Slaney mel scale, Slaney area normalisation;
  the same matrix as ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=128)``), computed here in numpy.
* ``log10(max(mel, 1e-10))``, floored at ``max - 8`` (80 dB dynamic range), then ``(x + 4) / 4``.

:func:`stack_frames` turns the 100 fps frames into 50 Hz vectors by concatenating pairs of frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from vqtalker.constants import SAMPLE_RATE

N_FFT = 400
HOP = 160
N_MELS = 128
MEL_FPS = SAMPLE_RATE // HOP  # 100 frames per second


def _hz_to_mel_slaney(freq: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz (3 mel / 200 Hz), logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    above = freq >= min_log_hz
    mels = np.where(above, min_log_mel + np.log(np.maximum(freq, 1e-10) / min_log_hz) / logstep, mels)
    return mels


def _mel_to_hz_slaney(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    above = mels >= min_log_mel
    return np.where(above, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


@lru_cache(maxsize=8)
def mel_filters(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-normalised triangular mel filterbank ``[n_mels, n_fft // 2 + 1]`` (float32), 0 Hz .. sr/2."""
    n_bins = n_fft // 2 + 1
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_bins)
    mel_pts = np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sample_rate / 2.0), n_mels + 2)
    hz_pts = _mel_to_hz_slaney(mel_pts)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (hz_pts[2 : n_mels + 2] - hz_pts[:n_mels])  # Slaney: constant energy per channel
    weights *= enorm[:, None]
    return weights.astype(np.float32)


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of :class:`LogMel` (defaults = Whisper / CosyVoice S3 front-end)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop: int = HOP
    n_mels: int = N_MELS
    floor_db: float = 8.0  # dynamic range in log10 units (8 = 80 dB)


class LogMel(torch.nn.Module):
    """Waveform ``[N]`` or ``[B, N]`` (16 kHz) → log-mel ``[F, n_mels]`` / ``[B, F, n_mels]`` at 100 fps.

    ``F = N // hop``. For a batch, the ``max - 8`` floor is taken per item (as if each were encoded alone),
    so batched and single encoding agree on unpadded frames.
    """

    def __init__(self, config: LogMelConfig = LogMelConfig()):
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        filt = mel_filters(config.sample_rate, config.n_fft, config.n_mels)
        self.register_buffer("filters", torch.from_numpy(filt.copy()), persistent=False)

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        squeeze = wave.dim() == 1
        if squeeze:
            wave = wave[None]
        wave = wave.float()
        n = wave.shape[-1]
        if n < self.config.n_fft // 2 + 1:  # reflect padding needs a few samples: zero-pad short input
            wave = torch.nn.functional.pad(wave, (0, self.config.n_fft // 2 + 1 - n))
        spec = torch.stft(
            wave, self.config.n_fft, self.config.hop, window=self.window, center=True, return_complex=True
        )
        power = spec[..., :-1].abs() ** 2  # [B, bins, F]
        power = power[..., : n // self.config.hop]
        mel = self.filters @ power  # [B, n_mels, F]
        log_spec = torch.clamp(mel, min=1e-10).log10()
        if log_spec.shape[-1] > 0:
            peak = log_spec.amax(dim=(1, 2), keepdim=True)
            log_spec = torch.maximum(log_spec, peak - self.config.floor_db)
        log_spec = (log_spec + 4.0) / 4.0
        out = log_spec.transpose(1, 2).contiguous()  # [B, F, n_mels]
        return out[0] if squeeze else out


def stack_frames(frames: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """``[F, D]`` → ``[F // factor, factor * D]``: concatenate ``factor`` consecutive frames (100 → 50 Hz).

    A trailing incomplete group is dropped, so ``N = F // 2`` tokens for ``F`` mel frames.
    """
    n = frames.shape[0] // factor
    return frames[: n * factor].reshape(n, factor * frames.shape[1])


def cmvn(features: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance mean/variance normalisation over time of ``[T, D]`` features."""
    if features.shape[0] == 0:
        return features
    mean = features.mean(dim=0, keepdim=True)
    std = features.std(dim=0, unbiased=False, keepdim=True)
    return (features - mean) / (std + eps) if features.shape[0] > 1 else features - mean
