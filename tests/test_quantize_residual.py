"""ResidualFSQ / GroupResidualFSQ: shapes, index layout, exact decode, coarse-to-fine, presets."""

import math

import pytest
import torch

from vqtalker.quantize import RESIDUAL_FSQ_PRESETS, GroupResidualFSQ, ResidualFSQ


def test_paper_config_shapes_dtype_params():
    torch.manual_seed(0)
    q = GroupResidualFSQ()  # dim 120, 12 groups, 4 layers, 5^4
    x = torch.randn(2, 30, 120)
    y, idx = q(x)
    assert y.shape == (2, 30, 120) and y.dtype == torch.float32
    assert idx.shape == (2, 30, 4, 12) and idx.dtype == torch.int16
    assert idx.min() >= 0 and idx.max() < 625
    assert sum(p.numel() for p in q.parameters()) == 12 * (10 * 4 + 4 + 4 * 10 + 10) == 1128
    assert q.bits_per_frame == pytest.approx(4 * 12 * math.log2(625))


def test_two_dim_input():
    q = GroupResidualFSQ()
    x = torch.randn(5, 120)
    y, idx = q(x)
    assert y.shape == (5, 120) and idx.shape == (5, 4, 12)
    y3, idx3 = q(x.unsqueeze(1))
    assert torch.equal(idx3[:, 0], idx) and torch.allclose(y3[:, 0], y)
    assert torch.equal(q.decode(idx), y)


def test_large_codebook_uses_int32():
    q = GroupResidualFSQ(dim=24, groups=2, num_quantizers=2, levels=(8, 8, 8, 8, 8))  # 32768 codes
    assert q.codebook_size == 2**15
    assert q(torch.randn(1, 3, 24))[1].dtype == torch.int16
    q = GroupResidualFSQ(dim=24, groups=2, num_quantizers=2, levels=(9, 8, 8, 8, 8))
    assert q(torch.randn(1, 3, 24))[1].dtype == torch.int32


@pytest.mark.parametrize("preset", sorted(RESIDUAL_FSQ_PRESETS))
def test_decode_reproduces_forward_exactly_eval_and_train(preset):
    torch.manual_seed(1)
    q = GroupResidualFSQ(preset=preset)
    x = torch.randn(3, 40, 120) * 2
    q.eval()
    with torch.no_grad():
        y, idx = q(x)
    assert torch.equal(q.decode(idx), y)
    q.train()
    y, idx = q(x.requires_grad_(True))
    y.sum().backward()  # still differentiable
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with torch.no_grad():
        assert torch.equal(q.decode(idx), y.detach())


def test_indices_to_codes_to_output_equals_forward_via_layer_codes():
    torch.manual_seed(2)
    q = GroupResidualFSQ().eval()
    x = torch.randn(2, 25, 120)
    with torch.no_grad():
        y, idx = q(x)
        layer_codes = q.indices_to_layer_codes(idx)  # [B, T, R, G, C]
        assert layer_codes.shape == (2, 25, 4, 12, 4)
        summed = layer_codes[:, :, 0]
        for r in range(1, 4):
            summed = summed + layer_codes[:, :, r]
        out = q._project_out(summed)
    assert torch.equal(out, y)


def test_quantize_dropout_marks_dropped_layers_and_decodes():
    torch.manual_seed(3)
    q = GroupResidualFSQ(quantize_dropout=True).train()
    x = torch.randn(2, 10, 120, requires_grad=True)
    seen = set()
    for _ in range(40):
        y, idx = q(x)
        kept = int((idx[0, 0, :, 0] >= 0).sum())
        seen.add(kept)
        assert (idx[:, :, kept:] == -1).all() and (idx[:, :, :kept] >= 0).all()
        with torch.no_grad():
            assert torch.equal(q.decode(idx), y.detach())
    assert seen == {1, 2, 3, 4}
    q.eval()
    with torch.no_grad():
        assert (q(x)[1] >= 0).all()  # no dropout at eval


def test_coarse_decoding_error_shrinks_with_more_layers():
    torch.manual_seed(4)
    # dim_per_group == len(levels): no projections, so decode(k) approximates x directly
    q = GroupResidualFSQ(dim=48, groups=12, num_quantizers=4).eval()
    x = torch.rand(4, 200, 48) * 2 - 1
    with torch.no_grad():
        _, idx = q(x)
        errs = [float(((q.decode(idx, n_layers=k) - x) ** 2).mean()) for k in range(1, 5)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < errs[0] / 20
    # truncated index tensors decode the same as n_layers
    assert torch.equal(q.decode(idx[:, :, :2]), q.decode(idx, n_layers=2))


@pytest.mark.parametrize("preset", ["vqtalker", "lucidrains-1.32"])
def test_error_shrinks_for_presets_single_group(preset):
    torch.manual_seed(5)
    rq = ResidualFSQ(levels=(5, 5, 5, 5), num_quantizers=4, preset=preset).eval()
    x = torch.rand(5000, 4) * 2 - 1
    _, idx = rq(x)
    errs = [float(((rq.decode(idx, n_layers=k) - x) ** 2).mean()) for k in range(1, 5)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs


def test_residual_scales_per_preset():
    assert torch.allclose(
        ResidualFSQ(preset="vqtalker").scales[:, 0], torch.tensor([1, 1 / 4, 1 / 16, 1 / 64])
    )
    assert torch.allclose(
        ResidualFSQ(preset="lucidrains-1.32").scales[:, 0], torch.tensor([1, 1 / 5, 1 / 25, 1 / 125])
    )
    rq = ResidualFSQ(preset="lucidrains-1.32")
    assert rq.input_bound == "tanh_softclamp" and rq.fsq.symmetric and rq.fsq.hard_clamp
    assert torch.allclose(rq.soft_clamp_value, torch.full((4,), 1.25))
    # explicit arguments override the preset
    assert ResidualFSQ(preset="lucidrains-1.32", scale_base="L-1").scale_base == "L-1"


def test_fsq_bound_preprocessing_range():
    rq = ResidualFSQ(preset="lucidrains-2023")
    z = torch.randn(1000, 4) * 10
    assert rq._preprocess(z).abs().max() <= 2.002 + 1e-6


def test_group_equals_independent_residual_fsq_per_group():
    torch.manual_seed(6)
    g = GroupResidualFSQ(dim=30, groups=3, num_quantizers=3).eval()
    x = torch.randn(2, 7, 30)
    y, idx = g(x)
    for k in range(3):
        r = ResidualFSQ(dim=10, levels=(5, 5, 5, 5), num_quantizers=3).eval()
        with torch.no_grad():
            r.project_in.load_state_dict(g.project_in[k].state_dict())
            r.project_out.load_state_dict(g.project_out[k].state_dict())
        yr, ir = r(x[..., 10 * k : 10 * (k + 1)])
        assert torch.equal(ir, idx[..., k])
        assert torch.allclose(yr, y[..., 10 * k : 10 * (k + 1)], atol=1e-6)


def test_gradients_reach_projections_and_input():
    q = GroupResidualFSQ()
    x = torch.randn(2, 5, 120, requires_grad=True)
    y, _ = q(x)
    ((y - x) ** 2).mean().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in q.parameters())


def test_bad_inputs_raise_clear_errors():
    q = GroupResidualFSQ()
    with pytest.raises(ValueError, match="expects"):
        q(torch.randn(2, 5, 121))
    with pytest.raises(ValueError, match="divisible"):
        GroupResidualFSQ(dim=100, groups=12)
    with pytest.raises(ValueError, match="out of range"):
        q.decode(torch.full((1, 2, 4, 12), 625, dtype=torch.int16))
    with pytest.raises(ValueError, match="n_layers"):
        q.decode(torch.zeros(1, 2, 4, 12, dtype=torch.int16), n_layers=5)
    with pytest.raises(ValueError, match="preset"):
        ResidualFSQ(preset="nope")
