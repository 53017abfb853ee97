"""Audio loading and saving.

All of vqtalker works on **16 kHz mono float32** waveforms in [-1, 1] (the Whisper/CosyVoice front-end
rate). :func:`load_audio` reads anything ffmpeg or libsndfile can read (wav, flac, ogg, mp3, m4a, aiff,
the audio stream of an mp4/mov/mkv, ...) and resamples with soxr.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vqtalker.constants import SAMPLE_RATE
from vqtalker.errors import VQTalkerError


def to_mono(wave: np.ndarray) -> np.ndarray:
    """``[N]`` or ``[N, C]`` (soundfile layout) → ``[N]`` float32 by averaging channels."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=1)
    elif wave.ndim != 1:
        raise VQTalkerError(f"expected a [N] or [N, C] waveform, got shape {tuple(wave.shape)}")
    return np.ascontiguousarray(wave)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono ``[N]`` float32 waveform from ``orig_sr`` to ``target_sr`` Hz (soxr, HQ)."""
    wave = np.asarray(wave, dtype=np.float32)
    if int(orig_sr) == int(target_sr):
        return wave
    if orig_sr <= 0:
        raise VQTalkerError(f"invalid sample rate {orig_sr}")
    import soxr

    return soxr.resample(wave, int(orig_sr), int(target_sr), quality="HQ").astype(np.float32)


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int] | None:
    import soundfile as sf

    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    return to_mono(wave), int(sr)


def _read_with_av(path: Path) -> tuple[np.ndarray, int] | None:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:  # pragma: no cover - message path
        raise VQTalkerError(f"cannot open {path}: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        sr = stream.codec_context.sample_rate or stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise VQTalkerError(f"cannot decode audio of {path}: {exc}") from exc
            # truncated file: keep what decoded
    wave = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return wave, int(sr)


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read ``path`` as a mono float32 waveform ``[N]`` at ``sample_rate`` Hz.

    Raises :class:`VQTalkerError` (one clear line) if the file is missing, unreadable or has no audio.
    """
    path = Path(path)
    if not path.is_file():
        raise VQTalkerError(f"audio file not found: {path}")
    got = _read_with_soundfile(path)
    if got is None:
        got = _read_with_av(path)
    if got is None:
        raise VQTalkerError(f"{path} has no audio stream")
    wave, sr = got
    if wave.size == 0:
        raise VQTalkerError(f"{path} contains no audio samples")
    return resample(wave, sr, sample_rate)


def save_audio(path: str | os.PathLike, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a mono ``[N]`` float32 waveform as 16-bit PCM wav (atomically)."""
    import soundfile as sf

    from vqtalker.utils.fileio import atomic_output

    path = Path(path)
    with atomic_output(path) as tmp:
        sf.write(str(tmp), np.clip(to_mono(wave), -1.0, 1.0), int(sample_rate), subtype="PCM_16",
                 format="WAV")
    return path
