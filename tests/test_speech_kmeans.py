"""Mini-batch k-means recovers toy clusters; its state round-trips."""

from __future__ import annotations

import torch

from vqtalker.speech.kmeans import MiniBatchKMeans, MiniBatchKMeansConfig, assign, kmeans_plus_plus


def _blobs(n_per=300, k=6, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, dim, generator=g) * 10
    labels = torch.arange(k).repeat_interleave(n_per)
    x = centres[labels] + 0.3 * torch.randn(k * n_per, dim, generator=g)
    return x, labels, centres


def test_kmeans_recovers_toy_clusters():
    x, labels, centres = _blobs()
    km = MiniBatchKMeans(MiniBatchKMeansConfig(n_clusters=6, batch_size=256, reseed_every=10), seed=1)
    km.initialise(x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:600]])
    g = torch.Generator().manual_seed(2)
    for _ in range(60):
        km.partial_fit(x[torch.randint(0, x.shape[0], (256,), generator=g)])
    pred = km.predict(x)
    # each true cluster maps to exactly one learned centre (a permutation)
    mapping = {int(l): set(pred[labels == l].tolist()) for l in range(6)}
    assert all(len(v) == 1 for v in mapping.values())
    assert len({next(iter(v)) for v in mapping.values()}) == 6
    # learned centres are close to the true ones
    d = torch.cdist(km.centroids, centres).min(dim=1).values
    assert float(d.max()) < 0.2


def test_kmeans_plus_plus_spreads_seeds():
    x, _, centres = _blobs(k=4)
    seeds = kmeans_plus_plus(x, 4, torch.Generator().manual_seed(0))
    idx, _ = assign(seeds, centres)
    assert sorted(idx.tolist()) == [0, 1, 2, 3]


def test_state_round_trip_continues_identically():
    x, _, _ = _blobs()
    cfg = MiniBatchKMeansConfig(n_clusters=6, batch_size=128, reseed_every=5)
    a = MiniBatchKMeans(cfg, seed=3)
    a.initialise(x[:600])
    for i in range(7):
        a.partial_fit(x[i * 100 : i * 100 + 128])
    b = MiniBatchKMeans(cfg, seed=99)
    b.load_state_dict({k: v.clone() for k, v in a.state_dict().items()})
    for i in range(7, 12):
        a.partial_fit(x[i * 100 : i * 100 + 128])
        b.partial_fit(x[i * 100 : i * 100 + 128])
    assert torch.equal(a.centroids, b.centroids) and a.step == b.step == 12
