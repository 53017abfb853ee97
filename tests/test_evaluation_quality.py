"""vqtalker.evaluation.quality: SSIM/PSNR (numpy and ffmpeg), VMAF, sharpness and landmark jitter.

Tiny synthetic videos (8 frames of 96x96: smooth gradients + noise + a moving square); each test runs in
well under a second. The ffmpeg tests skip (with the reason) only when the bundled ffmpeg lacks a filter.
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
import pytest

from vqtalker.errors import VQTalkerError
from vqtalker.evaluation import quality as q

needs_vmaf = pytest.mark.skipif(not q.vmaf_available(), reason="bundled ffmpeg has no libvmaf filter")
needs_ffmpeg = pytest.mark.skipif(not q.ffmpeg_available(),
                                  reason="bundled ffmpeg missing, or without ssim/psnr filters")


def _video(t=8, h=96, w=96, seed=0, noise=4.0, peak=235.0):
    """Smooth colour gradients + Gaussian noise + a square moving 4 px per frame, uint8 in [0, peak]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([xx * 150 / w + 20, yy * 150 / h + 30, (xx + yy) * 80 / (h + w) + 60], -1)
    frames = []
    for i in range(t):
        img = base + rng.normal(0.0, noise, (h, w, 3))
        y0, x0 = h // 3, w // 8 + 4 * i
        img[y0:y0 + h // 3, x0:x0 + w // 3] = [200.0, 60.0, 80.0]
        frames.append(img)
    return np.clip(np.stack(frames), 0, peak).round().astype(np.uint8)


def _blur(video, sigma):
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in video])


# ----------------------------------------------------------------------------------------------------------
# numpy SSIM / PSNR


def test_identical_inputs_ssim_one_psnr_capped():
    ref = _video()
    out = q.ssim_psnr(ref, ref.copy())
    assert out["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert out["psnr"] == q.PSNR_CAP_DB == 100.0  # documented: capped, not inf


def test_known_psnr_for_constant_error():
    ref = _video(peak=245)  # so +10 does not clip
    out = q.ssim_psnr(ref, ref + np.uint8(10))
    assert out["psnr"] == pytest.approx(20 * math.log10(255 / 10), abs=0.01)  # 28.13 dB
    # a constant offset keeps contrast and structure: SSIM drops only through the luminance term
    assert 0.9 < out["ssim"] < 1.0


def test_ssim_of_flat_images_matches_closed_form():
    # constant images: variances and covariance are 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b = 100, 160
    ref = np.full((2, 24, 20, 3), a, np.uint8)
    dis = np.full((2, 24, 20, 3), b, np.uint8)
    x, y, c1 = a / 255, b / 255, 0.01 ** 2
    assert q.ssim_psnr(ref, dis)["ssim"] == pytest.approx((2 * x * y + c1) / (x * x + y * y + c1), abs=1e-9)


def _ssim_bruteforce(x, y):
    """Direct Wang et al. SSIM: explicit 11x11 Gaussian window (sigma 1.5) at every valid position."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    w2 = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for c in range(3):
        for i in range(x.shape[0] - 10):
            for j in range(x.shape[1] - 10):
                px, py = x[i:i + 11, j:j + 11, c], y[i:i + 11, j:j + 11, c]
                mx, my = (w2 * px).sum(), (w2 * py).sum()
                vx, vy = (w2 * (px - mx) ** 2).sum(), (w2 * (py - my) ** 2).sum()
                cxy = (w2 * (px - mx) * (py - my)).sum()
                vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_matches_bruteforce_definition_and_is_symmetric():
    rng = np.random.default_rng(3)
    ref = _video(t=2, h=19, w=23, seed=3, noise=10.0)
    dis = np.clip(ref.astype(np.int16) + rng.integers(-40, 41, ref.shape), 0, 255).astype(np.uint8)
    expected = np.mean([_ssim_bruteforce(r / 255.0, d / 255.0) for r, d in zip(ref, dis, strict=True)])
    got = q.ssim_psnr(ref, dis)["ssim"]
    assert got == pytest.approx(expected, abs=1e-10)
    assert 0.2 < got < 0.95  # a real distortion, not a trivial value
    assert q.ssim_psnr(dis, ref)["ssim"] == pytest.approx(got, abs=1e-12)


def test_blur_lowers_ssim_and_psnr_monotonically():
    ref = _video()
    scores = [q.ssim_psnr(ref, _blur(ref, s)) for s in (0.7, 1.5, 3.0)]
    ssims = [s["ssim"] for s in scores]
    psnrs = [s["psnr"] for s in scores]
    assert 1.0 > ssims[0] > ssims[1] > ssims[2]
    assert q.PSNR_CAP_DB > psnrs[0] > psnrs[1] > psnrs[2]


def test_input_validation():
    ref = _video(t=2)
    with pytest.raises(VQTalkerError, match="same shape"):
        q.ssim_psnr(ref, ref[:, :-1])
    with pytest.raises(VQTalkerError, match="uint8"):
        q.ssim_psnr(ref.astype(np.float32), ref)
    with pytest.raises(VQTalkerError, match=r"\[T, H, W, 3\]"):
        q.ssim_psnr(ref[0], ref[0])
    with pytest.raises(VQTalkerError, match="at least 11x11"):
        q.ssim_psnr(ref[:, :10, :10], ref[:, :10, :10])


# ----------------------------------------------------------------------------------------------------------
# sharpness


def test_blur_lowers_sharpness_ratio():
    ref = _video()
    assert q.sharpness_ratio(ref, ref) == pytest.approx(1.0)
    r1 = q.sharpness_ratio(_blur(ref, 1.0), ref)
    r2 = q.sharpness_ratio(_blur(ref, 2.0), ref)
    assert r1 < 0.9 and r2 < r1


def test_sharpness_values_and_shift_invariance():
    big = _video(t=4, h=120, w=120, seed=5)
    a = big[:, 2:98, 2:98]
    b = big[:, 5:101, 7:103]  # the same scene seen 3 px down, 5 px right (the square stays inside both)
    sa, sb = q.sharpness(a), q.sharpness(b)
    assert sa.shape == (4,) and sa.dtype == np.float64
    np.testing.assert_allclose(sb, sa, rtol=0.05)
    # it is the variance of the 3x3 Laplacian of the grey image
    grey = cv2.cvtColor(np.ascontiguousarray(a[0]), cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = cv2.filter2D(grey, cv2.CV_64F, np.array([[2, 0, 2], [0, -8, 0], [2, 0, 2]], np.float64),
                       borderType=cv2.BORDER_REFLECT_101)
    assert sa[0] == pytest.approx(lap.var(), rel=1e-9)
    # a flat frame has none
    assert q.sharpness(np.full((1, 16, 16, 3), 90, np.uint8))[0] == 0.0


def test_sharpness_ratio_rejects_flat_reference_and_size_mismatch():
    ref = _video(t=2)
    with pytest.raises(VQTalkerError, match="flat"):
        q.sharpness_ratio(ref, np.full_like(ref, 128))
    with pytest.raises(VQTalkerError, match="same size"):
        q.sharpness_ratio(ref[:, :64], ref)


# ----------------------------------------------------------------------------------------------------------
# temporal jitter


def test_jitter_zero_for_constant_velocity():
    rng = np.random.default_rng(0)
    start = rng.uniform(0, 200, (1, 68, 2))
    velocity = rng.uniform(-3, 3, (1, 68, 2))
    tracks = start + np.arange(30)[:, None, None] * velocity
    assert q.temporal_jitter(tracks) == pytest.approx(0.0, abs=1e-9)
    assert q.temporal_jitter(np.repeat(start, 5, axis=0)) == 0.0


def test_jitter_of_zigzag_is_twice_the_amplitude():
    t = np.arange(20)
    d = 1.5
    tracks = np.zeros((20, 3, 2))
    tracks[:, :, 0] = 50.0 + d * (t % 2)[:, None]  # x alternates between 50 and 51.5
    tracks[:, :, 1] = 10.0 + 2.0 * t[:, None]  # plus a steady drift in y, which adds nothing
    # every second difference has magnitude 2 d
    assert q.temporal_jitter(tracks) == pytest.approx(2 * d, abs=1e-12)
    # only one of three landmarks shaking -> a third of that
    tracks[:, 1:, 0] = 50.0
    assert q.temporal_jitter(tracks) == pytest.approx(2 * d / 3, abs=1e-12)


def test_jitter_input_validation():
    with pytest.raises(VQTalkerError, match="at least 3 frames"):
        q.temporal_jitter(np.zeros((2, 5, 2)))
    with pytest.raises(VQTalkerError, match=r"\[T, K, 2\]"):
        q.temporal_jitter(np.zeros((5, 2)))
    bad = np.zeros((5, 2, 2))
    bad[2, 1, 0] = np.nan
    with pytest.raises(VQTalkerError, match="NaN"):
        q.temporal_jitter(bad)


# ----------------------------------------------------------------------------------------------------------
# ffmpeg: VMAF, luma SSIM / PSNR


@needs_vmaf
def test_vmaf_identical_high_blurred_lower():
    ref = _video()
    same = q.vmaf(ref, ref.copy())
    mild = q.vmaf(ref, _blur(ref, 1.0))
    strong = q.vmaf(ref, _blur(ref, 2.5))
    assert same is not None and mild is not None and strong is not None
    assert 90.0 < same <= 100.0
    assert same > mild > strong >= 0.0
    # pooled by the mean over frames: half the frames blurred scores about halfway
    half = ref.copy()
    half[4:] = _blur(ref, 2.5)[4:]
    assert q.vmaf(ref, half) == pytest.approx((same + strong) / 2, abs=5.0)


@needs_vmaf
def test_vmaf_small_frames_give_none_not_a_score():
    ref = _video(t=3, h=48, w=40)
    assert q.vmaf(ref[:, :32], ref[:, :32]) is None  # height 32 < MIN_VMAF_SIDE
    assert q.vmaf(ref[:, :, :32], ref[:, :, :32]) is None  # width 32
    edge = ref[:, :q.MIN_VMAF_SIDE, :q.MIN_VMAF_SIDE]
    score = q.vmaf(edge, edge)
    assert score is not None and score > 90.0


def test_vmaf_none_when_unavailable_or_timed_out(monkeypatch):
    ref = _video(t=3)
    if q.vmaf_available():
        with pytest.warns(UserWarning, match="did not finish"):
            assert q.vmaf(ref, ref, timeout_s=1e-4) is None
    monkeypatch.setattr(q, "_ffmpeg_filters", lambda: frozenset())
    assert q.vmaf(ref, ref) is None
    assert q.ffmpeg_ssim_psnr(ref, ref) is None
    with pytest.raises(VQTalkerError, match="same shape"):
        q.vmaf(ref, ref[:2])
    with pytest.raises(VQTalkerError, match="fps"):
        q.vmaf(ref, ref, fps=0.0)


@needs_ffmpeg
def test_ffmpeg_ssim_psnr_identical_and_ordering_agrees_with_numpy():
    ref = _video()
    same = q.ffmpeg_ssim_psnr(ref, ref.copy())
    assert same == {"ssim_y": pytest.approx(1.0, abs=1e-6), "psnr_y": q.PSNR_CAP_DB}
    distorted = [_blur(ref, 0.7), _blur(ref, 1.5), _blur(ref, 3.0)]
    distorted.append(np.clip(ref.astype(np.int16) + 45 * (np.indices(ref.shape[:3]).sum(0) % 2)[..., None],
                             0, 255).astype(np.uint8))  # a strong checkerboard pattern
    ff = [q.ffmpeg_ssim_psnr(ref, d) for d in distorted]
    npy = [q.ssim_psnr(ref, d) for d in distorted]
    assert all(f is not None for f in ff)
    for ff_key, np_key in (("ssim_y", "ssim"), ("psnr_y", "psnr")):
        ff_rank = np.argsort([f[ff_key] for f in ff])
        np_rank = np.argsort([n[np_key] for n in npy])
        assert list(ff_rank) == list(np_rank), (ff_key, ff, npy)
    assert all(0.0 < f["ssim_y"] < 1.0 and 0.0 < f["psnr_y"] < q.PSNR_CAP_DB for f in ff)


@needs_ffmpeg
def test_ffmpeg_psnr_y_known_value_on_grey():
    # grey RGB v -> limited-range luma 16 + 219 v / 255 (BT.601); 100 -> 101.88 and 140 -> 136.24, both
    # rounded by swscale, so the luma error is 34 or 35 levels: check the PSNR brackets that
    ref = np.full((2, 16, 16, 3), 100, np.uint8)
    dis = np.full((2, 16, 16, 3), 140, np.uint8)
    out = q.ffmpeg_ssim_psnr(ref, dis)
    assert out is not None
    assert 20 * math.log10(255 / 35) - 0.01 <= out["psnr_y"] <= 20 * math.log10(255 / 34) + 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused up front, not after a failed ffmpeg run
        assert q.ffmpeg_ssim_psnr(ref[:, :7], dis[:, :7]) is None  # below MIN_FFMPEG_SSIM_SIDE


def test_numpy_ssim_psnr_agree_with_the_torch_twins():
    """`evaluation.metrics` (torch, batched: training validation, reconstruction report) and `ssim_psnr`
    (numpy, uint8 videos) implement one definition: they must agree."""
    import torch

    from vqtalker.evaluation import metrics

    rng = np.random.default_rng(3)
    noise = (rng.random((3, 40, 48, 3)) * 255).astype(np.uint8)
    ref = np.stack([cv2.GaussianBlur(f, (5, 5), 1.2) for f in noise])
    dis = np.clip(ref.astype(int) + rng.integers(-20, 20, ref.shape), 0, 255).astype(np.uint8)

    def t(a):
        return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 127.5 - 1

    got = q.ssim_psnr(ref, dis)
    assert float(metrics.ssim(t(dis), t(ref)).mean()) == pytest.approx(got["ssim"], abs=1e-5)
    assert float(metrics.psnr(t(dis), t(ref)).mean()) == pytest.approx(got["psnr"], abs=1e-3)
