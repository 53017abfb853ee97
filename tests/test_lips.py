"""Lip-following metrics: analytic values on hand-made lip points, and the face mesh on the fixture face."""

import numpy as np
import pytest

from vqtalker.face.landmarks import LIPS
from vqtalker.face.lips import compare_lips, corr, lip_metrics, mouth_open


def _lips(gaps):
    """Lip points [T, 40, 2] at a fixed place except the inner-lip pair 13/14, which open by ``gaps``."""
    pts = np.tile(np.linspace(0.3, 0.7, 80).reshape(1, 40, 2), (len(gaps), 1, 1)).astype(np.float32)
    top, bottom = LIPS.index(13), LIPS.index(14)
    pts[:, top] = [0.5, 0.6]
    pts[:, bottom, 0] = 0.5
    pts[:, bottom, 1] = 0.6 + np.asarray(gaps)
    return pts


def test_mouth_open_and_compare():
    gaps = np.array([0.0, 0.02, 0.05, 0.01, 0.03])
    real = _lips(gaps)
    np.testing.assert_allclose(mouth_open(real), gaps, atol=1e-6)
    same = compare_lips(real, real)
    assert same["mouth_lmd"] == 0 and same["mouth_open_range"] == 1
    assert same["mouth_open_corr"] == pytest.approx(1)
    half = compare_lips(_lips(gaps / 2), real)
    assert half["mouth_open_corr"] == pytest.approx(1)
    assert half["mouth_open_range"] == pytest.approx(0.5)
    # only the bottom inner-lip point moves: mean over 40 points of |gap/2| in % of the side
    assert half["mouth_lmd"] == pytest.approx(np.abs(gaps / 2).mean() / 40 * 100, rel=1e-4)
    frozen = compare_lips(_lips(np.zeros(5)), real)
    assert np.isnan(frozen["mouth_open_corr"]) and frozen["mouth_open_range"] == 0
    assert np.isnan(corr(np.ones(3), np.arange(3.0)))


def test_lip_metrics_on_face_fixture():
    from PIL import Image

    img = np.asarray(Image.open("tests/fixtures/synthetic_face.jpg").convert("RGB").resize((128, 128)))
    still = np.stack([img] * 3)
    m = lip_metrics(still, still)
    assert m["face_found"] == 1.0 and m["mouth_lmd"] < 1e-6
    assert m["mouth_lmd_static"] < 0.5  # tracking jitter on identical frames stays far below 1 % of the side
    assert lip_metrics(np.zeros_like(still), still) == {}  # no face in the output: unavailable, not 0
