"""Learned-codebook baselines (VQ, GVQ, RVQ, GRVQ) and the builder: shapes, exact decode, EMA, losses."""

import math

import pytest
import torch

from vqtalker.quantize import GRVQ, GVQ, QUANTIZER_NAMES, RVQ, VQ, GroupResidualVQ, build_quantizer


@pytest.mark.parametrize(
    "name, r, g, k",
    [
        ("grfsq", 4, 12, 625),
        ("rfsq", 4, 1, 625),
        ("fsq", 1, 1, 625),
        ("vq", 1, 1, 8196),
        ("gvq", 1, 32, 1024),
        ("rvq", 32, 1, 1024),
        ("grvq", 4, 12, 1024),
    ],
)
def test_builder_shapes_layout_and_exact_decode(name, r, g, k):
    torch.manual_seed(0)
    q = build_quantizer(name)
    assert (q.num_quantizers, q.groups, q.codebook_size) == (r, g, k)
    assert q.bits_per_frame == pytest.approx(r * g * math.log2(k))
    x = torch.randn(2, 64, 120)
    q.train()
    q(x)  # one training step (data init / EMA for the VQ family)
    q.eval()
    with torch.no_grad():
        y, idx = q(x)
        assert y.shape == x.shape and idx.shape == (2, 64, r, g) and idx.dtype == torch.int16
        assert idx.min() >= 0 and idx.max() < k
        assert torch.equal(q.decode(idx), y)
        y2, idx2 = q(x[:, 0])
        assert y2.shape == (2, 120) and idx2.shape == (2, r, g)
        assert torch.equal(q.decode(idx2), y2)


def test_builder_names_and_overrides():
    assert set(QUANTIZER_NAMES) == {"grfsq", "rfsq", "fsq", "vq", "gvq", "rvq", "grvq"}
    q = build_quantizer("GRFSQ", groups=8, levels=[6, 6, 6, 6])
    assert q.groups == 8 and q.codebook_size == 1296
    with pytest.raises(ValueError, match="unknown quantizer"):
        build_quantizer("pq")


def test_table3_classes_defaults():
    assert (VQ().groups, VQ().num_quantizers, VQ().codebook_size) == (1, 1, 8196)
    assert (GVQ().groups, GVQ().num_quantizers) == (32, 1)
    assert GVQ().group_sizes == [4] * 24 + [3] * 8
    assert (RVQ().groups, RVQ().num_quantizers) == (1, 32)
    assert (GRVQ().groups, GRVQ().num_quantizers) == (12, 4)


def test_ema_training_reduces_error_and_loss_is_exposed():
    torch.manual_seed(1)
    centers = torch.randn(16, 8) * 3
    data = centers[torch.randint(0, 16, (4096,))] + 0.05 * torch.randn(4096, 8)
    q = GroupResidualVQ(dim=8, groups=1, num_quantizers=2, codebook_size=32, data_init=False)
    q.eval()
    with torch.no_grad():
        before = float(((q(data)[0] - data) ** 2).mean())
    q.train()
    with torch.no_grad():
        for _ in range(30):
            _, _, loss = q(data[torch.randint(0, 4096, (512,))], return_loss=True)
    assert loss.ndim == 0 and loss >= 0 and q.commit_loss is loss
    q.eval()
    with torch.no_grad():
        after = float(((q(data)[0] - data) ** 2).mean())
    assert after < before / 10, (before, after)


def test_ste_gradient_identity_and_learned_codebook_option():
    torch.manual_seed(2)
    q = GroupResidualVQ(dim=12, groups=3, num_quantizers=2, codebook_size=16, ema=False)
    x = torch.randn(4, 5, 12, requires_grad=True)
    y, idx, loss = q(x, return_loss=True)
    (y.sum() + loss).backward()
    assert torch.isfinite(x.grad).all() and loss > 0
    # d(sum y)/dx == 1 from the STE plus the commitment term's gradient
    x2 = torch.randn(4, 5, 12, requires_grad=True)
    q(x2)[0].sum().backward()
    assert torch.equal(x2.grad, torch.ones_like(x2))
    assert all(layer.embed.grad is not None for layer in q.layers)  # codebook learned by gradient


def test_dead_code_replacement_revives_unused_codes():
    torch.manual_seed(3)
    data = torch.randn(2048, 4)
    base = GroupResidualVQ(dim=4, groups=1, num_quantizers=1, codebook_size=64, data_init=False)
    revive = GroupResidualVQ(
        dim=4, groups=1, num_quantizers=1, codebook_size=64, data_init=False, dead_code_threshold=0.5
    )
    with torch.no_grad():  # push every code far away so that few are ever chosen
        for m in (base, revive):
            m.layers[0].embed.mul_(0).add_(torch.randn(1, 64, 4) * 0.01 + 20)
            m.layers[0].embed[0, 0] = 0
    for m in (base, revive):
        m.train()
        with torch.no_grad():
            for _ in range(10):
                m(data[torch.randint(0, 2048, (512,))])
        m.eval()
    used = [int(m(data)[1].unique().numel()) for m in (base, revive)]
    assert used[0] <= 2 and used[1] > 30, used


def test_decode_validates_indices():
    q = GRVQ()
    with pytest.raises(ValueError, match="out of range"):
        q.decode(torch.full((1, 2, 4, 12), 1024))
    with pytest.raises(ValueError, match="expected indices"):
        q.decode(torch.zeros(1, 2, 4, 11, dtype=torch.long))
