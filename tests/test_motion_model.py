"""Stage-1 model: shapes at tiny sizes, analytic parameter counts, identity flow, growing, QR bank."""

import math

import pytest
import torch

from vqtalker.motion.config import get_config
from vqtalker.motion.model import build_discriminator, build_generator, count_parameters, grow
from vqtalker.motion.ops import ToFlow, warp

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(size=32, **kw):
    return get_config("tiny-32", size=size, **kw)


def test_generator_shapes_tiny():
    torch.manual_seed(0)
    cfg = _tiny(64)
    g = build_generator(cfg)
    x, y = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    out = g(x, y)
    assert out["image"].shape == (2, 3, 64, 64)
    assert out["indices"].shape == (2, 4, 12)
    assert out["delta"].shape == (2, 120)
    st = g.encode_source(x[:1])
    assert st.f_g.shape == (1, cfg.latent_dim) and st.f_s.shape == (1, 120)
    assert sorted(st.feats) == [8, 16, 32, 64]
    for r, f in st.feats.items():
        assert f.shape == (1, cfg.channels(r), r, r)
    # batch-1 source state broadcast over T frames
    assert g.render(st, torch.zeros(5, 120)).shape == (5, 3, 64, 64)
    d = build_discriminator(cfg)
    logits, feats = d(x, return_features=True)
    assert logits.shape == (2,) and len(feats) == int(math.log2(64)) - 2


def _lia_encoder(S, ch):
    n = 3 * ch[S] + ch[S]  # 1x1 stem (no conv bias) + FusedLeakyReLU bias
    r = S
    while r > 4:
        i, o = ch[r], ch[r // 2]
        n += (i * i * 9 + i) + (i * o * 9 + o) + i * o  # conv1, conv2, skip (no bias)
        r //= 2
    return n + 512 * 512 * 16


def _modconv(i, o, k, style=512):
    return o * i * k * k + style * i + i


def _lia_synthesis_without_unused(S, ch, M):
    n = 512 * M + 512 * 16 + _modconv(512, 512, 3) + 512  # direction bank, const, conv1 (+act bias)
    for r in [2**k for k in range(3, int(math.log2(S)) + 1)]:
        i, o = ch[r // 2], ch[r]
        n += _modconv(i, o, 3) + o + _modconv(o, o, 3) + o  # two StyledConvs
        n += _modconv(o, 3, 1) + 3  # ToFlow (+bias)
        n += o * 3 + 3 + 3  # ToRGB: 1x1 conv, its FusedLeakyReLU bias, output bias
    return n


@pytest.mark.parametrize("size", [256, 512])
def test_paper_parameter_counts_analytic(size):
    from vqtalker.motion.config import BASE_CHANNELS as ch

    cfg = get_config(f"paper-{size}")
    with torch.device("meta"):
        g, d = build_generator(cfg), build_discriminator(cfg)
    mlp = 4 * (512 * 512 + 512) + 512 * 120 + 120
    grfsq = 12 * (10 * 4 + 4 + 4 * 10 + 10)
    assert count_parameters(g.encoder) == _lia_encoder(size, ch)
    assert count_parameters(g.motion_mlp) == mlp == 1_112_184
    assert count_parameters(g.quantizer) == grfsq == 1128
    expected = _lia_encoder(size, ch) + mlp + grfsq + _lia_synthesis_without_unused(size, ch, 120)
    assert count_parameters(g) == expected
    # Against the architecture notes' LIA figures (M = 20), which also count LIA's never-used to_rgb1
    # (1 542 params) and one no-op noise scalar per StyledConv: 45 116 317 (256) / 45 239 560 (512).
    n_styled = 1 + 2 * (int(math.log2(size)) - 2)
    lia_m20 = expected - grfsq - (512 + 1) * 100 - 512 * 100 + 1542 + n_styled
    assert lia_m20 == {256: 45_116_317, 512: 45_239_560}[size]
    assert count_parameters(d) == {256: 24_001_089, 512: 24_030_753}[size]


def test_paper_hal_decouple_variant_counts():
    with torch.device("meta"):
        g256 = build_generator(get_config("paper-256+hal+decouple"))
        g512 = build_generator(get_config("paper-512+hal+decouple"))
    base = {256: 45_218_390, 512: 45_341_631}
    dec = 3 * 2 * (512 * 512 + 512)
    hal256 = (64 + 128 + 256) * 512 + 3 * 512 + 8
    hal512 = (32 + 64 + 128 + 256) * 512 + 4 * 512 + 9
    assert count_parameters(g256) == base[256] + dec + hal256 == 47_025_246
    assert count_parameters(g512) == base[512] + dec + hal512 == 47_165_384


def test_warp_zero_offset_is_identity():
    f = torch.randn(2, 5, 16, 16)
    assert torch.allclose(warp(f, torch.zeros(2, 2, 16, 16)), f, atol=1e-5)


def test_toflow_zero_output_gives_identity_warp_with_half_mask():
    torch.manual_seed(0)
    flow = ToFlow(8, style_dim=16)
    with torch.no_grad():
        flow.conv.weight.zero_()
        flow.bias.zero_()
    y, feat = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    f_warp, y_next, o = flow(y, torch.randn(2, 16), feat)
    assert torch.count_nonzero(o) == 0
    assert torch.allclose(f_warp, 0.5 * feat, atol=1e-5)
    assert torch.allclose(y_next, 0.5 * feat + 0.5 * y, atol=1e-5)


def test_zero_motion_difference_renders_source_pose():
    """Δ̂ = 0 gives the latent of the source pose, w = f_g + D(f_s)."""
    torch.manual_seed(0)
    g = build_generator(_tiny(32)).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        st = g.encode_source(x)
        out = g(x, x)  # identical frames: f_t - f_s = 0 (GRFSQ's projection biases may map it off 0)
        assert torch.allclose(out["f_t"], out["f_s"], atol=1e-5)
        w0 = g.latent(st, torch.zeros(1, 120))
        assert torch.allclose(w0, st.f_g + g.direction(st.f_s), atol=1e-5)
        assert torch.allclose(out["image"], g.render(st, out["delta"]), atol=1e-5)


def test_direction_bank_orthonormal_and_fp32():
    g = build_generator(_tiny(32))
    q = g.direction.basis()
    assert q.dtype == torch.float32
    assert torch.allclose(q.t() @ q, torch.eye(120), atol=1e-4)


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_grow_copies_shared_resolution_weights_exactly(kind):
    torch.manual_seed(0)
    cfg = _tiny(32, channel_multiplier=1 / 16, max_channels=32)
    small = build_generator(cfg) if kind == "generator" else build_discriminator(cfg)
    big = grow(small, 64)
    assert big.cfg.size == 64
    s_sd, b_sd = small.state_dict(), big.state_dict()
    copied = [k for k in b_sd if k in s_sd and s_sd[k].shape == b_sd[k].shape]
    for k in copied:
        assert torch.equal(b_sd[k], s_sd[k]), k
    new = sorted(set(b_sd) - set(copied))
    # only the new 64-px level / block and the size-dependent stem are new
    assert new and all(("64" in k.split(".")) or k.startswith("stem") or ".stem" in k or "encoder.blocks.32"
                       in k or "blocks.32" in k for k in new), new
    # every 8/16/32 level of the renderer (generator) or block (D) is shared
    shared_prefix = "renderer.levels.32." if kind == "generator" else "blocks.16."
    assert any(k.startswith(shared_prefix) for k in copied)
    if kind == "generator":
        assert any(k.startswith("renderer.levels.64.") for k in new)
        x = torch.randn(1, 3, 64, 64)
        assert big(x, x)["image"].shape == (1, 3, 64, 64)


def test_fast_upsample_equals_upfirdn_reference():
    from vqtalker.motion.ops import Upsample, make_kernel, upfirdn2d

    x = torch.randn(2, 3, 9, 9)
    ref = upfirdn2d(x, make_kernel((1, 3, 3, 1)) * 4, up=2, pad=(2, 1))
    assert Upsample().fast
    assert torch.allclose(Upsample()(x), ref, atol=1e-6)
