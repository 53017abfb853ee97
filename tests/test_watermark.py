"""The invisible provenance watermark: invisible, detected after re-encoding, absent from other videos."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest


def _video(t=40, size=96, seed=0):
    """A moving natural-ish picture (smooth gradients + a moving blob + mild noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for i in range(t):
        cx = 0.5 + 0.2 * np.sin(i / 7)
        blob = np.exp(-((xx - cx) ** 2 + (yy - 0.5) ** 2) / 0.02)
        img = np.stack([0.3 + 0.5 * xx, 0.2 + 0.6 * blob, 0.5 + 0.3 * yy], -1) * 255
        out.append(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def test_embed_is_invisible_and_detected():
    from vqtalker.io.watermark import THRESHOLD, detect, embed

    v = _video()
    m = np.stack([embed(f) for f in v])
    psnr = 10 * np.log10(255**2 / np.mean((m.astype(float) - v) ** 2))
    assert psnr > 42
    assert detect(m)["z"] > 3 * THRESHOLD
    assert detect(v)["z"] < THRESHOLD and not detect(v)["marked"]
    assert detect([])["z"] is None


def test_written_videos_carry_it_through_reencoding(tmp_path):
    from vqtalker.cli import main
    from vqtalker.evaluation.quality import _ffmpeg_exe
    from vqtalker.io.video import iter_frames, write_video
    from vqtalker.io.watermark import detect

    ff = _ffmpeg_exe()
    if ff is None:
        pytest.skip("no ffmpeg")
    ours = tmp_path / "ours.mp4"
    write_video(ours, _video(), fps=25)
    again = tmp_path / "again.mp4"  # metadata stripped, re-encoded at normal quality
    subprocess.run([ff, "-y", "-loglevel", "error", "-i", str(ours), "-map_metadata", "-1", "-c:v", "libx264",
                    "-crf", "26", str(again)], check=True)
    assert detect(f for _, f in iter_frames(again))["marked"]
    assert main(["verify", str(again)]) == 0  # the tag is gone, the watermark is not
    plain = tmp_path / "plain.mp4"
    subprocess.run([ff, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=96x96:rate=25:d=1.6",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(plain)], check=True)
    assert not detect(f for _, f in iter_frames(plain))["marked"]
    assert main(["verify", str(plain)]) == 1
