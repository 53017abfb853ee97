"""FSQ layer: exact index round trips, code values, STE gradients, odd/even levels, fp32 inside."""

import itertools

import pytest
import torch

from vqtalker.quantize import FSQ
from vqtalker.quantize.fsq import round_ste


@pytest.mark.parametrize("symmetric", [False, True])
def test_all_625_indices_round_trip(symmetric):
    fsq = FSQ((5, 5, 5, 5), symmetric=symmetric)
    assert fsq.codebook_size == 625
    idx = torch.arange(625)
    codes = fsq.indices_to_codes(idx)
    assert codes.shape == (625, 4)
    assert torch.equal(fsq.codes_to_indices(codes), idx)
    # distinct indices -> distinct codes (a bijection onto the grid)
    assert torch.unique(codes, dim=0).shape[0] == 625
    # and quantizing a code returns itself with its own index
    out, back = fsq(codes)
    assert torch.equal(back, idx)
    assert torch.equal(out, codes)


def test_code_values_for_five_levels():
    fsq = FSQ((5, 5, 5, 5))
    codes, _ = fsq(torch.randn(4096, 4) * 3)
    assert set(codes.unique().tolist()) == {-1.0, -0.5, 0.0, 0.5, 1.0}
    assert set(fsq.implicit_codebook.unique().tolist()) == {-1.0, -0.5, 0.0, 0.5, 1.0}


def test_mixed_radix_basis_first_channel_least_significant():
    fsq = FSQ((8, 5, 5, 3))
    digits = torch.tensor([[3, 2, 4, 1]])
    codes = fsq.digits_to_codes(digits)
    assert fsq.codes_to_indices(codes).item() == 3 + 2 * 8 + 4 * 40 + 1 * 200
    idx = torch.arange(fsq.codebook_size)
    assert torch.equal(fsq.codes_to_indices(fsq.indices_to_codes(idx)), idx)


@pytest.mark.parametrize("levels", [(4, 4), (6, 6), (8, 5, 5, 5), (7, 5, 5, 5, 5), (3,)])
@pytest.mark.parametrize("symmetric", [False, True])
def test_odd_and_even_levels(levels, symmetric):
    fsq = FSQ(levels, symmetric=symmetric)
    z = torch.randn(20000, len(levels)) * 3
    codes, idx = fsq(z)
    assert idx.min() >= 0 and idx.max() < fsq.codebook_size
    # every level of every channel is reachable
    for j, lv in enumerate(levels):
        assert codes[:, j].unique().numel() == lv
    assert torch.equal(fsq.indices_to_codes(idx), codes)
    assert (codes.abs() <= 1).all()


def test_standard_even_levels_are_asymmetric_grid():
    codes = FSQ((4,)).implicit_codebook[:, 0]
    assert codes.tolist() == [-1.0, -0.5, 0.0, 0.5]
    sym = FSQ((4,), symmetric=True).implicit_codebook[:, 0]
    assert torch.allclose(sym, torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))


def test_round_ste_gradient_is_identity():
    z = torch.linspace(-3, 3, 101, requires_grad=True)
    y = round_ste(z)
    assert torch.equal(y.detach(), z.detach().round())
    y.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_standard_fsq_gradient_passes_rounding():
    """Gradient of the standard FSQ = derivative of the tanh bound / half_width (rounding is transparent)."""
    fsq = FSQ((5,))
    z = torch.linspace(-2, 2, 41).unsqueeze(-1).requires_grad_(True)
    codes, _ = fsq(z)
    codes.sum().backward()
    half_l = 4 * 1.001 / 2
    expected = (1 - torch.tanh(z.detach()) ** 2) * half_l / 2
    assert torch.allclose(z.grad, expected, atol=1e-6)


def test_symmetric_hard_clamp_gradient_identity_inside_bound():
    fsq = FSQ((5, 5), symmetric=True, hard_clamp=True)
    z = (torch.rand(1000, 2) * 2.4 - 1.2).requires_grad_(True)
    codes, _ = fsq(z)
    codes.sum().backward()
    inside = z.detach().abs() < 1
    assert torch.allclose(z.grad[inside], torch.ones_like(z.grad[inside]))
    assert torch.equal(z.grad[~inside], torch.zeros_like(z.grad[~inside]))


def test_nearest_level_for_inputs_on_the_grid_region():
    """Symmetric+hard clamp is a uniform rounding to the nearest of L levels in [-1, 1]."""
    fsq = FSQ((5,), symmetric=True, hard_clamp=True)
    z = torch.rand(5000, 1) * 2 - 1
    codes, _ = fsq(z)
    grid = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    nearest = grid[(z - grid).abs().argmin(-1)].unsqueeze(-1)
    assert torch.allclose(codes, nearest)


def test_forced_fp32_with_low_precision_input():
    fsq = FSQ((5, 5, 5, 5))
    z = torch.randn(64, 4)
    codes_bf16, idx_bf16 = fsq(z.to(torch.bfloat16))
    codes_ref, idx_ref = fsq(z.to(torch.bfloat16).float())
    assert codes_bf16.dtype == torch.float32
    assert torch.equal(idx_bf16, idx_ref) and torch.equal(codes_bf16, codes_ref)


def test_grid_is_product_of_levels():
    fsq = FSQ((3, 4))
    got = {tuple(r) for r in fsq.implicit_codebook.tolist()}
    want = set(itertools.product([-1.0, 0.0, 1.0], [-1.0, -0.5, 0.0, 0.5]))
    assert got == want


@pytest.mark.parametrize(
    "kwargs", [dict(levels=(5, 1)), dict(levels=(2, 5)), dict(levels=(5,), hard_clamp=True)]
)
def test_invalid_configs_raise(kwargs):
    with pytest.raises(ValueError):
        FSQ(**kwargs)


def test_wrong_last_dim_raises():
    with pytest.raises(ValueError, match="last dim"):
        FSQ((5, 5, 5, 5))(torch.zeros(2, 3))
