"""Parity with vector-quantize-pytorch 1.32.0 (dev dependency): ``GroupedResidualFSQ`` vs our
``GroupResidualFSQ(preset="lucidrains-1.32")`` with copied per-group projections, and the standard FSQ
layer vs lucidrains' ``FSQ``. Skips cleanly when vector_quantize_pytorch is not installed."""

import pytest
import torch

from vqtalker.quantize import FSQ, GroupResidualFSQ

vqp = pytest.importorskip("vector_quantize_pytorch")


def _pair(levels, groups=12, dim=120, num_quantizers=4):
    ref = vqp.GroupedResidualFSQ(dim=dim, groups=groups, num_quantizers=num_quantizers, levels=list(levels))
    ours = GroupResidualFSQ(
        dim=dim, groups=groups, num_quantizers=num_quantizers, levels=levels, preset="lucidrains-1.32"
    )
    with torch.no_grad():
        for g in range(groups):
            for name in ("project_in", "project_out"):
                src, dst = getattr(ref.rvqs[g], name), getattr(ours, name)[g]
                dst.weight.copy_(src.weight)
                dst.bias.copy_(src.bias)
    return ref, ours


@pytest.mark.parametrize("levels", [(5, 5, 5, 5), (4, 4, 4, 4), (6, 6, 6, 6), (8, 5, 5, 3)])
def test_grouped_residual_fsq_parity(levels):
    torch.manual_seed(0)
    ref, ours = _pair(levels)
    ref.eval()
    ours.eval()
    x = torch.randn(3, 200, 120) * 2
    with torch.no_grad():
        y_ref, idx_ref = ref(x)  # [G, B, T, R]
        y, idx = ours(x)  # [B, T, R, G]
        assert idx_ref.shape == (12, 3, 200, 4)
        assert torch.equal(idx_ref.permute(1, 2, 3, 0).long(), idx.long())
        assert (y_ref - y).abs().max() <= 1e-5
        # decoding from indices agrees with lucidrains' decoder too
        dec_ref = ref.get_output_from_indices(idx_ref)
        assert (dec_ref - ours.decode(idx)).abs().max() <= 1e-5


def test_parity_gradients_train_mode():
    torch.manual_seed(1)
    ref, ours = _pair((5, 5, 5, 5))
    x1 = (torch.randn(2, 50, 120) * 2).requires_grad_(True)
    x2 = x1.detach().clone().requires_grad_(True)
    y_ref, idx_ref = ref(x1)
    y, idx = ours(x2)
    assert torch.equal(idx_ref.permute(1, 2, 3, 0).long(), idx.long())
    w = torch.randn_like(y)
    (y_ref * w).sum().backward()
    (y * w).sum().backward()
    assert (x1.grad - x2.grad).abs().max() <= 1e-5
    for g in range(12):
        assert (ref.rvqs[g].project_in.weight.grad - ours.project_in[g].weight.grad).abs().max() <= 1e-5


@pytest.mark.parametrize("levels", [(5, 5, 5, 5), (8, 6, 5), (4, 4)])
def test_standard_fsq_layer_parity(levels):
    torch.manual_seed(2)
    ref = vqp.FSQ(levels=list(levels))  # dim == len(levels): no projections, standard bound
    ours = FSQ(levels)
    z = torch.randn(2, 500, len(levels)) * 2
    codes_ref, idx_ref = ref(z)
    codes, idx = ours(z)
    assert torch.equal(idx_ref.long(), idx)
    assert torch.equal(codes_ref, codes)
    all_idx = torch.arange(ours.codebook_size)
    assert torch.equal(ref.indices_to_codes(all_idx), ours.indices_to_codes(all_idx))
