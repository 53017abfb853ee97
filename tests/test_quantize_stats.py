"""Bitrate helper and codebook statistics (utilisation, perplexity)."""

import math

import pytest
import torch

from vqtalker.quantize import CodebookStats, GroupResidualFSQ, bitrate_bps, bitrate_kbps, bits_per_frame
from vqtalker.quantize.bitrate import continuous_bits_per_frame


def test_paper_bitrate():
    bpf = bits_per_frame(num_quantizers=4, groups=12, codebook_size=625)
    assert bpf == pytest.approx(4 * 12 * math.log2(625))
    assert bitrate_bps(bpf, fps=25) == pytest.approx(11145.25, abs=0.01)
    assert bitrate_kbps(bpf) == pytest.approx(11.14525, abs=1e-5)
    assert GroupResidualFSQ().bits_per_frame == pytest.approx(bpf)
    # Table 3 rows and the LIA continuous reference
    assert bitrate_bps(bits_per_frame(4, 12, 256)) == pytest.approx(9600)
    assert bitrate_bps(bits_per_frame(1, 32, 1024)) == pytest.approx(8000)
    assert bitrate_bps(continuous_bits_per_frame(20)) == pytest.approx(16000)
    with pytest.raises(ValueError):
        bits_per_frame(0, 12, 625)


def test_stats_counts_utilisation_and_perplexity_exact():
    stats = CodebookStats(num_quantizers=2, groups=1, codebook_size=4)
    idx = torch.tensor([[[0], [1]], [[1], [1]], [[2], [1]], [[3], [1]]])  # [N=4, R=2, G=1]
    stats.update(idx)
    util = stats.utilization()
    assert util.shape == (2, 1) and util[0, 0] == 1.0 and util[1, 0] == 0.25
    ppl = stats.perplexity()
    assert ppl[0, 0] == pytest.approx(4.0) and ppl[1, 0] == pytest.approx(1.0)


def test_stats_accumulate_over_batches_and_ignore_dropped():
    a = CodebookStats(1, 2, 10)
    a.update(torch.tensor([[[0, 5]], [[1, -1]]]))
    a.update(torch.tensor([[[0, 6]]]))
    assert a.counts[0, 0, 0] == 2 and a.counts[0, 0, 1] == 1 and a.counts[0, 1].sum() == 2
    b = CodebookStats(1, 2, 10)
    b.update(torch.tensor([[[9, 9]]]))
    a.merge(b)
    assert a.utilization()[0].tolist() == [0.3, 0.3]
    with pytest.raises(ValueError):
        a.update(torch.zeros(3, 2, 2, dtype=torch.long))


def test_utilisation_on_random_input_grows_with_data():
    torch.manual_seed(0)
    q = GroupResidualFSQ().eval()
    stats = CodebookStats.for_quantizer(q)
    with torch.no_grad():
        stats.update(q(torch.randn(1, 50, 120))[1])
        small = stats.utilization().mean().item()
        for _ in range(4):
            stats.update(q(torch.randn(4, 250, 120))[1])
    big = stats.utilization().mean().item()
    assert 0 < small < big <= 1
    assert stats.num_tokens.sum() == 4 * 12 * (50 + 4 * 1000)
    s = stats.summary()
    assert len(s["utilization_per_layer"]) == 4 and 1 <= s["perplexity"] <= 625
