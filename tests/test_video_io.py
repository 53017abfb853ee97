"""vqtalker.io.video: round trip, synthetic tag, atomic writes, truncated / audio-only / missing files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vqtalker.errors import VQTalkerError
from vqtalker.io.video import (
    is_tagged_synthetic,
    iter_frames,
    iter_frames_at_fps,
    probe_video,
    read_video,
    write_video,
)


def _frames(t=20, h=64, w=80, seed=0):
    # smooth content (yuv420p halves chroma resolution, so per-pixel noise would not survive)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 150 / w, yy * 150 / h, (xx + yy) * 75 / (h + w) + 40 + seed], -1)[None]
    ramp = np.linspace(0, 60, t)[:, None, None, None]
    return np.clip(base * 0.5 + ramp, 0, 255).astype(np.uint8)


def test_round_trip_with_audio_and_tag(tmp_path):
    frames = _frames(25)
    audio = (0.2 * np.sin(np.arange(30000) / 16000 * 2 * np.pi * 300)).astype(np.float32)  # longer than video
    out = write_video(tmp_path / "a.mp4", frames, fps=25, audio=audio)
    assert out.is_file() and is_tagged_synthetic(out)
    meta = probe_video(out).metadata
    assert meta.get("synthetic") == "1" and meta.get("comment", "").startswith("synthetic media")
    v = read_video(out)
    assert v.frames.shape == frames.shape and v.frames.dtype == np.uint8
    assert v.fps == pytest.approx(25.0)
    np.testing.assert_allclose(np.diff(v.timestamps), 0.04, atol=1e-3)
    assert np.abs(v.frames.astype(int) - frames.astype(int)).mean() < 6  # crf 18 is near lossless
    # audio trimmed to the video duration (1 s) up to AAC frame padding
    assert v.sample_rate == 16000 and abs(v.audio.shape[0] - 16000) <= 1024 + 64
    assert 0.1 < np.abs(v.audio[2000:14000]).max() < 0.3


def test_odd_size_iterable_and_short_audio_padded(tmp_path):
    frames = [f for f in _frames(10, h=33, w=47)]
    out = write_video(tmp_path / "b.mp4", iter(frames), fps=25, audio=np.zeros(100, np.float32))
    v = read_video(out)
    assert v.frames.shape == (10, 32, 46, 3)
    assert v.audio is not None and v.audio.shape[0] >= 6000  # padded to 0.4 s


def test_untagged_file_is_not_synthetic(tmp_path):
    import av

    p = tmp_path / "plain.mp4"
    with av.open(str(p), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for f in _frames(3, 32, 32):
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    assert not is_tagged_synthetic(p)


def test_write_is_atomic_on_error(tmp_path):
    def bad():
        yield from _frames(5)
        raise RuntimeError("renderer crashed")

    with pytest.raises(RuntimeError):
        write_video(tmp_path / "c.mp4", bad(), fps=25)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VQTalkerError):
        write_video(tmp_path / "d.mp4", np.zeros((3, 16, 16), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_missing_and_audio_only(tmp_path):
    import av

    with pytest.raises(VQTalkerError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    p = tmp_path / "speech.m4a"
    with av.open(str(p), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        wave = np.zeros((1, 16000), np.float32)
        fr = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
        fr.sample_rate = 16000
        for pkt in s.encode(fr):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    with pytest.raises(VQTalkerError, match="no video stream"):
        read_video(p)
    with pytest.raises(VQTalkerError, match="no video stream"):
        next(iter_frames(p))
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(VQTalkerError):
        read_video(tmp_path / "junk.mp4")


def test_truncated_file_keeps_decodable_frames(tmp_path):
    out = write_video(tmp_path / "full.mp4", _frames(50, 64, 64), fps=25)
    data = out.read_bytes()
    # mp4 with moov at the end: cutting it loses the index -> unreadable; use a streamable layout (mpeg-ts)
    import av

    ts = tmp_path / "full.ts"
    with av.open(str(ts), "w", format="mpegts") as c:
        s = c.add_stream("mpeg2video", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for f in _frames(50, 64, 64):
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    raw = ts.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(raw[: len(raw) // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = read_video(cut)
    assert 5 <= v.num_frames < 50
    (tmp_path / "cut.mp4").write_bytes(data[:200])
    with pytest.raises(VQTalkerError):
        read_video(tmp_path / "cut.mp4")


def test_resample_to_25fps_nearest_in_time():
    # 30 fps, 30 frames (1 s) -> 25 frames; variable rate stream keeps real timing
    src = [(i / 30.0, np.full((2, 2, 3), i, np.uint8)) for i in range(30)]
    out = list(iter_frames_at_fps(iter(src), 25.0))
    assert len(out) == 25
    picked = [int(f[0, 0, 0]) for _, _, f in out]
    assert picked == [int(round(k * 30 / 25)) if round(k * 30 / 25) < 30 else 29 for k in range(25)]
    vfr = [(0.0, np.zeros((1, 1, 3), np.uint8)), (0.5, np.ones((1, 1, 3), np.uint8))]
    out = list(iter_frames_at_fps(iter(vfr), 25.0))
    assert len(out) == 25  # 0.5 s gap + one 0.5 s last period = 1 s
    assert [int(f[0, 0, 0]) for _, _, f in out[:12]] == [0] * 7 + [1] * 5  # switch at the 0.25 s midpoint
