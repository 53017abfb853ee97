"""vqtalker.evaluation.ratedistortion: Bjøntegaard deltas, tables, plots and the baseline encoders.

The encoder tests use a 16-frame 64x64 synthetic clip (moving colour gradient + a translating noise texture)
and skip, with the reason, for a baseline the bundled ffmpeg lacks. Whole file: a few seconds on one core.
"""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest

from vqtalker.errors import VQTalkerError
from vqtalker.evaluation import quality
from vqtalker.evaluation import ratedistortion as rd

AVAILABLE = rd.baseline_encoders()

# an RD curve shaped like a real one: quality rises with log rate, with diminishing returns
RATES = [8.0, 12.0, 16.0, 24.0, 32.0]
PSNR = [28.0, 29.6, 30.7, 32.1, 33.0]


def _clip(t=16, h=64, w=64, seed=0):
    """Moving colour gradient + a static noise texture translating 2 px / frame; uint8 [t, h, w, 3]."""
    rng = np.random.default_rng(seed)
    texture = rng.normal(0.0, 12.0, (h, w + 2 * t, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for i in range(t):
        base = np.stack([xx * 2.5 + 4 * i + 20, yy * 2.5 + 30, (xx + yy) * 1.2 + 2 * i + 40], -1)
        frames.append(base + texture[:, 2 * i:2 * i + w])
    return np.clip(np.stack(frames), 0, 255).round().astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------
# Bjøntegaard


def test_bd_rate_of_curve_against_itself_is_zero():
    assert rd.bd_rate(RATES, PSNR, RATES, PSNR) == pytest.approx(0.0, abs=1e-9)
    assert rd.bd_quality(RATES, PSNR, RATES, PSNR) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_half_the_bits_is_minus_50_percent():
    half = [r * 0.5 for r in RATES]
    assert rd.bd_rate(RATES, PSNR, half, PSNR) == pytest.approx(-50.0, abs=0.5)
    assert rd.bd_rate(half, PSNR, RATES, PSNR) == pytest.approx(100.0, abs=0.5)
    # input order does not matter
    assert rd.bd_rate(RATES[::-1], PSNR[::-1], half, PSNR) == pytest.approx(-50.0, abs=0.5)


def test_bd_quality_of_curve_shifted_by_one_db_is_plus_one():
    assert rd.bd_quality(RATES, PSNR, RATES, [p + 1.0 for p in PSNR]) == pytest.approx(1.0, abs=1e-6)
    assert rd.bd_quality(RATES, PSNR, RATES, [p - 1.0 for p in PSNR]) == pytest.approx(-1.0, abs=1e-6)


def test_bd_rate_matches_hand_integral_for_partial_overlap():
    # B = A's curve with 20 % more bits but only over part of A's quality range: still +20 %
    rates_b = [r * 1.2 for r in RATES[1:4]]
    assert rd.bd_rate(RATES, PSNR, rates_b, PSNR[1:4]) == pytest.approx(20.0, abs=0.5)


def test_bd_none_for_too_few_points_or_no_overlap():
    assert rd.bd_rate([10.0], [30.0], RATES, PSNR) is None
    assert rd.bd_rate(RATES, PSNR, [10.0, 20.0], [31.0, 31.0]) is None  # one distinct quality value
    assert rd.bd_quality(RATES, PSNR, [10.0], [30.0]) is None
    far = [p + 20.0 for p in PSNR]
    assert rd.bd_rate(RATES, PSNR, RATES, far) is None
    assert rd.bd_quality(RATES, PSNR, [r * 100 for r in RATES], PSNR) is None
    # 2 and 3 points: lower-order fits still give the exact answer for a pure rate scaling
    assert rd.bd_rate(RATES[:2], PSNR[:2], [r / 2 for r in RATES[:2]], PSNR[:2]) == pytest.approx(-50.0)
    assert rd.bd_rate(RATES[:3], PSNR[:3], [r / 2 for r in RATES[:3]], PSNR[:3]) == pytest.approx(-50.0)


def test_bd_rejects_invalid_input():
    with pytest.raises(VQTalkerError):
        rd.bd_rate([1.0, 2.0], [30.0], RATES, PSNR)
    with pytest.raises(VQTalkerError):
        rd.bd_rate([0.0, 2.0], [30.0, 31.0], RATES, PSNR)
    with pytest.raises(VQTalkerError):
        rd.bd_quality([1.0, 2.0], [30.0, math.nan], RATES, PSNR)


# ----------------------------------------------------------------------------------------------------------
# tables and plots


def _results():
    out = []
    for r, p in zip(RATES, PSNR, strict=True):
        out.append({"codec": "vqtalker", "setting": f"q{r:g}", "kbps": r, "ssim_y": 0.80 + p / 1000,
                    "psnr_y": p, "vmaf": None})
        out.append({"codec": "x264", "setting": f"b:v={r:g}k", "kbps": 2 * r, "ssim_y": 0.80 + p / 1000,
                    "psnr_y": p, "vmaf": 50.0 + p})
    out.append({"codec": "x265", "setting": "b:v=8k", "kbps": 9.0, "ssim_y": 0.83, "psnr_y": 29.0,
                "vmaf": 60.0})
    return out


def test_rd_table_markdown_has_one_row_per_point():
    table = rd.rd_table_markdown(_results())
    lines = table.strip().splitlines()
    assert lines[0].startswith("| codec | setting | kbps | SSIM-Y | PSNR-Y")
    assert len(lines) == 2 + len(_results())
    assert "| x264 | b:v=8k | 16.00 | 0.8280 | 28.00 | 78.00 |" in lines
    assert "| vqtalker | q8 | 8.00 | 0.8280 | 28.00 | n/a |" in lines


def test_bd_rate_table_markdown_values_and_reasons():
    table = rd.bd_rate_table_markdown(_results(), anchor="vqtalker")
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in table.splitlines() if ln.startswith("| x26")}
    assert set(rows) == {"x264", "x265"}
    ssim, psnr, vmaf = rows["x264"]
    assert float(ssim) == pytest.approx(100.0, abs=0.5)  # x264 needs twice the bits
    assert float(psnr) == pytest.approx(100.0, abs=0.5)
    assert vmaf.startswith("n/a") and "vqtalker" in vmaf  # the anchor has no VMAF
    assert all(c.startswith("n/a") for c in rows["x265"])  # a single point
    assert "distinct point" in rows["x265"][1]


def test_plot_rd_writes_png_without_touching_pyplot_state(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    path = tmp_path / "rd.png"
    rd.plot_rd(_results(), path, "psnr_y")
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not matplotlib.is_interactive()
    assert matplotlib.get_backend() == before
    with pytest.raises(VQTalkerError):
        rd.plot_rd(_results(), tmp_path / "x.png", "lpips")


# ----------------------------------------------------------------------------------------------------------
# bitstream accounting and colour conversion


def test_av1_stream_bytes_drops_temporal_delimiters_only():
    td = bytes([0x12, 0x00])  # OBU_TEMPORAL_DELIMITER, has_size_field, size 0
    frame = bytes([0x32, 0x03, 1, 2, 3])  # OBU_FRAME, size 3
    assert rd.av1_stream_bytes(td + frame + td + frame) == 2 * len(frame)
    assert rd.av1_stream_bytes(frame) == len(frame)
    # an OBU without a size field cannot be walked: nothing is discounted
    assert rd.av1_stream_bytes(td + bytes([0x30, 1, 2])) == 5


def test_conversion_constants_match_the_metrics():
    # the same matrix and range as the metrics' RGB -> YUV conversion, only the chroma format differs
    assert quality._TO_YUV.replace("yuv444p", "yuv420p") == rd._TO_YUV420


@pytest.mark.skipif(quality._ffmpeg_exe() is None or not quality.ffmpeg_available(),
                    reason="bundled ffmpeg missing, or without ssim/psnr filters")
def test_yuv420_round_trip_keeps_luma():
    # RGB -> 4:2:0 -> RGB without coding must leave the luma practically intact (swscale's default
    # yuv420p -> rgb24 path would cap this near 46 dB)
    video = _clip(t=4)
    h, w = video.shape[1:3]
    cmd = [quality._ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-video_size", f"{w}x{h}", "-i", "-", "-vf", f"{rd._TO_YUV420},{rd._FROM_YUV}",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out = subprocess.run(cmd, input=video.tobytes(), capture_output=True, timeout=60, check=True).stdout
    back = np.frombuffer(out, np.uint8).reshape(video.shape)
    assert quality.ffmpeg_ssim_psnr(video, back)["psnr_y"] > 60.0


# ----------------------------------------------------------------------------------------------------------
# encoders


@pytest.mark.parametrize("codec", rd.BASELINE_CODECS)
def test_encode_baseline_round_trip(codec, tmp_path):
    if codec not in AVAILABLE:
        pytest.skip(f"bundled ffmpeg lacks the {codec} encoder or a decoder for it")
    video = _clip()
    decoded, kbps = rd.encode_baseline(video, 25.0, codec, 200.0, tmp_path, threads=1)
    assert decoded.shape == video.shape and decoded.dtype == np.uint8
    assert 200.0 / 3 < kbps < 200.0 * 3
    q = quality.ffmpeg_ssim_psnr(video, decoded, 25.0)
    assert q is not None and q["ssim_y"] > 0.5
    assert list(tmp_path.iterdir()) == []  # scratch files removed


@pytest.mark.skipif("x264" not in AVAILABLE, reason="bundled ffmpeg lacks libx264")
def test_encode_baseline_lower_target_gives_fewer_bits(tmp_path):
    video = _clip()
    _, low = rd.encode_baseline(video, 25.0, "x264", 40.0, tmp_path)
    _, high = rd.encode_baseline(video, 25.0, "x264", 400.0, tmp_path)
    assert low < high


def test_encode_baseline_rejects_bad_input(tmp_path):
    video = _clip(t=2)
    with pytest.raises(VQTalkerError, match="even"):
        rd.encode_baseline(video[:, :63], 25.0, "x264", 100.0, tmp_path)
    with pytest.raises(VQTalkerError, match="unknown baseline"):
        rd.encode_baseline(video, 25.0, "vp9", 100.0, tmp_path)
    with pytest.raises(VQTalkerError, match="uint8"):
        rd.encode_baseline(video.astype(np.float32), 25.0, "x264", 100.0, tmp_path)
    with pytest.raises(VQTalkerError, match="kbps"):
        rd.encode_baseline(video, 25.0, "x264", 0.0, tmp_path)


@pytest.mark.skipif("x264" not in AVAILABLE, reason="bundled ffmpeg lacks libx264")
def test_encode_baseline_reports_ffmpeg_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(rd, "_encoder_args", lambda codec, pass_no, threads: ["-c:v", "libx264",
                                                                             "-preset", "no-such-preset"])
    with pytest.raises(VQTalkerError, match=r"x264 pass 1: ffmpeg exited with status") as info:
        rd.encode_baseline(_clip(t=2), 25.0, "x264", 100.0, tmp_path)
    assert "\n" not in str(info.value)


def test_encode_baseline_without_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "_ffmpeg_exe", lambda: None)
    with pytest.raises(VQTalkerError, match="ffmpeg is missing"):
        rd.encode_baseline(_clip(t=2), 25.0, "x264", 100.0, tmp_path)
