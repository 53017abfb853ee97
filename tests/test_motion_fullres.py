"""The full-resolution warping head: it warps the source at the output size, starts at the base level's
flow, keeps the token path, and the tokenizer / pipeline render at real sizes (tiny models, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqtalker.errors import VQTalkerError
from vqtalker.motion.config import get_config
from vqtalker.motion.model import build_generator
from vqtalker.motion.tokenizer import MotionTokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pair(size):
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(hr, size=32, mode="area"), hr


def test_head_warps_the_full_resolution_source_and_keeps_the_token_path():
    torch.manual_seed(0)
    g = build_generator(get_config("tiny-32+fullres64"))
    plain = build_generator(get_config("tiny-32"))
    plain.load_state_dict({k: v for k, v in g.state_dict().items() if not k.startswith("fullres.")})
    src, src_hr = _pair(64)
    tgt, _ = _pair(64)
    out = g(src, tgt.flip(0), source_hr=src_hr)
    ref = plain(src, tgt.flip(0))
    assert out["image_hr"].shape == (2, 3, 64, 64) and out["offset"].shape == (2, 2, 32, 32)
    assert torch.equal(out["indices"], ref["indices"]) and torch.equal(out["image"], ref["image"])
    # at initialisation the head adds nothing to the base flow: the blend is m·warp(src_64) + (1 − m)·up(x̂)
    from vqtalker.motion.fullres import resize
    from vqtalker.motion.ops import warp

    m = torch.sigmoid(g.fullres.mask_bias)
    offset = resize(torch.tanh(resize(out["base"] if "base" in out else _base(g, src, tgt.flip(0)), 32)), 64)
    want = m * warp(src_hr, offset) + (1 - m) * resize(out["image"], 64)
    torch.testing.assert_close(out["image_hr"], want, atol=1e-5, rtol=1e-4)
    # the source's own pixels: with the mask forced to 1 and zero motion the output is the 64-px source
    with torch.no_grad():
        g.fullres.mask_bias.fill_(50.0)
        state = g.encode_source(src[:1], src_hr[:1])
        zero_flow = g.render(state, torch.zeros(1, 120), size=64)
    assert zero_flow.shape == (1, 3, 64, 64)
    detail = (src_hr[:1] - resize(src[:1], 64)).abs().mean()
    assert (zero_flow - src_hr[:1]).abs().mean() < 0.5 * detail  # sharper than the upsampled network input


def _base(g, src, tgt):
    """The raw warp output of the base level for the pair (what the head starts from)."""
    with torch.no_grad():
        b = src.shape[0]
        h, feats = g.encoder(torch.cat([src, tgt], 0))
        f = g.motion_code(h)
        from vqtalker.motion.model import SourceState

        state = SourceState(h[:b], f[:b], {r: x[:b] for r, x in feats.items()})
        delta, _ = g.quantizer(f[b:] - f[:b])
        _, _, flows = g.renderer.run(g.latent(state, delta), state.feats)
    return flows[g.cfg.base_level][:, :2]


def test_tokenizer_renders_real_sizes_and_refuses_them_without_the_head():
    torch.manual_seed(0)
    tok = MotionTokenizer(build_generator(get_config("tiny-32+fullres64")), chunk=2, frozen=True)
    assert tok.has_fullres and tok.output_size == 64
    face = (np.random.default_rng(0).random((128, 128, 3)) * 255).astype(np.uint8)
    state = tok.encode_source(face)
    assert state.image_hr.shape[-1] == 128
    for size in (32, 64, 128):
        frames = np.concatenate(list(tok.render_uint8(state, torch.zeros(3, 120), size=size)))
        assert frames.shape == (3, size, size, 3)
    plain = MotionTokenizer(build_generator(get_config("tiny-32")))
    with pytest.raises(VQTalkerError, match="full-resolution"):
        plain.render(plain.encode_source(face), torch.zeros(1, 120), size=64)


def test_pipeline_renders_at_size_and_pastes_back(monkeypatch):
    from test_pipeline_regression import _inputs

    from vqtalker.generate.config import make_config
    from vqtalker.generate.model import build_model
    from vqtalker.pipeline import TalkingHeadPipeline

    torch.manual_seed(0)
    tok = MotionTokenizer(build_generator(get_config("tiny-32+fullres64")), frozen=True)
    pipe = TalkingHeadPipeline(tok, build_model(make_config("tiny", speech_vocab=1024, face_dim=128)), "hash")
    face, wave = _inputs()
    big = np.kron(face, np.ones((2, 2, 1), np.uint8))  # a 64-px "photo" of the face
    assert pipe(big, wave, 16000, crop=False).frames.shape[1:] == (64, 64, 3)  # the model's output size
    assert pipe(big, wave, 16000, crop=False, size=32).frames.shape[1:] == (32, 32, 3)
    # crop=True: the face box of a wide picture, rendered at 64 px and pasted back into the whole picture
    photo = np.zeros((100, 160, 3), np.uint8)
    photo[18:82, 48:112] = big
    import vqtalker.face.crop as crop

    monkeypatch.setattr(crop, "select_face",
                        lambda img, name="", face=0: crop.FaceChoice(np.array([48.0, 18.0, 64.0]), 1, 0))
    out = pipe(photo, wave, 16000, size=64)
    assert out.frames.shape == (25, 100, 160, 3) and out.crop_size == 64
    assert np.array_equal(out.frames[:, :, :40], np.broadcast_to(photo[:, :40], out.frames[:, :, :40].shape))
    assert pipe(photo, wave, 16000, size=64, paste_back=False).frames.shape == (25, 64, 64, 3)
    with pytest.raises(VQTalkerError, match="--size"):
        pipe(photo, wave, 16000, size=5000)
