"""The optional audio track of a ``.vqt`` file: Opus in an Ogg stream (libopus of the bundled ffmpeg).

Waveforms are 16 kHz mono float32 ``[N]`` in [-1, 1] (the project's audio convention); ``kbps`` is the
Opus target bitrate (speech: 12–24).
"""

from __future__ import annotations

import io

import numpy as np

from vqtalker.constants import SAMPLE_RATE
from vqtalker.errors import VQTalkerError

CODEC = "opus"


def encode_audio(wave: np.ndarray, kbps: float = 16.0, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono float32 ``[N]`` at ``sample_rate`` Hz → Ogg/Opus bytes at ``kbps``."""
    import av

    wave = np.clip(np.nan_to_num(np.asarray(wave, np.float32).reshape(-1)), -1.0, 1.0)
    if not 6 <= kbps <= 256:
        raise VQTalkerError(f"--audio-kbps must be in 6..256, got {kbps}")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="ogg") as out:
        st = out.add_stream("libopus", rate=48000)
        st.layout = "mono"
        st.bit_rate = int(kbps * 1000)
        st.codec_context.thread_count = 1
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pts = 0
        step = sample_rate // 10
        for i in range(0, max(len(wave), 1), step):
            fr = av.AudioFrame.from_ndarray(wave[None, i : i + step], format="flt", layout="mono")
            fr.sample_rate = int(sample_rate)
            fr.pts = pts
            pts += fr.samples
            for r in resampler.resample(fr):
                for pkt in st.encode(r):
                    out.mux(pkt)
        for r in resampler.resample(None):
            for pkt in st.encode(r):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return buf.getvalue()


def decode_audio(data: bytes, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Ogg/Opus bytes → mono float32 ``[N]`` at ``sample_rate`` Hz (undecodable bytes: VQTalkerError)."""
    import av

    chunks = []
    try:
        with av.open(io.BytesIO(data), mode="r") as inp:
            if not inp.streams.audio:
                raise VQTalkerError("the .vqt audio track has no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=int(sample_rate))
            for fr in inp.decode(inp.streams.audio[0]):
                for r in resampler.resample(fr):
                    chunks.append(r.to_ndarray().reshape(-1))
            for r in resampler.resample(None):
                chunks.append(r.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, EOFError, ValueError) as exc:
        if not chunks:
            raise VQTalkerError(f"the .vqt audio track cannot be decoded ({exc})") from None
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


__all__ = ["CODEC", "decode_audio", "encode_audio"]
