"""Mini-batch k-means in torch (k-means++ initialisation, dead-code re-seeding), resumable.

Used to learn the codebook of the offline default speech tokenizer. State is a plain dict of tensors so a
trainer can save it with safetensors and resume after a kill:

* ``centroids [K, D]`` float32, ``counts [K]`` float64 (cumulative assignments, the per-centre learning
  rate is ``1 / count`` as in Sculley 2010), ``step`` (int).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def squared_distances(
    x: torch.Tensor, centroids: torch.Tensor, c_sq: torch.Tensor | None = None
) -> torch.Tensor:
    """``||x_i - c_k||^2`` for ``x [N, D]`` and ``centroids [K, D]`` → ``[N, K]`` (clamped at 0)."""
    if c_sq is None:
        c_sq = (centroids * centroids).sum(1)
    d = (x * x).sum(1, keepdim=True) - 2.0 * (x @ centroids.T) + c_sq[None]
    return d.clamp_min_(0.0)


def assign(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 16384) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid for each row of ``x [N, D]`` → ``(indices LongTensor [N], squared distance [N])``."""
    c_sq = (centroids * centroids).sum(1)
    idx, dist = [], []
    for start in range(0, x.shape[0], chunk):
        d = squared_distances(x[start : start + chunk], centroids, c_sq)
        m = d.min(dim=1)
        idx.append(m.indices)
        dist.append(m.values)
    if not idx:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.cat(idx), torch.cat(dist)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) on ``x [N, D]`` → ``[k, D]`` centroids.

    Uses greedy-free D² sampling; O(N k D), so call it on a subsample (a few ×k points).
    """
    n = x.shape[0]
    if n < k:
        raise ValueError(f"k-means++ needs at least k={k} points, got {n}")
    first = int(torch.randint(n, (1,), generator=generator))
    centroids = torch.empty(k, x.shape[1], dtype=x.dtype)
    centroids[0] = x[first]
    d2 = ((x - x[first]) ** 2).sum(1)
    for i in range(1, k):
        total = d2.sum()
        if total <= 0:
            j = int(torch.randint(n, (1,), generator=generator))
        else:
            j = int(torch.multinomial(d2 / total, 1, generator=generator))
        centroids[i] = x[j]
        d2 = torch.minimum(d2, ((x - x[j]) ** 2).sum(1))
    return centroids


@dataclass
class MiniBatchKMeansConfig:
    """Hyper-parameters of :class:`MiniBatchKMeans`."""

    n_clusters: int = 1024
    batch_size: int = 8192
    init_sample: int = 16384  # points used for k-means++ seeding
    reseed_every: int = 50  # re-seed rarely used centres every this many steps
    reseed_min_fraction: float = 0.05  # a centre is "dead" below this fraction of the mean usage


class MiniBatchKMeans:
    """Mini-batch k-means (Sculley 2010) with k-means++ init and dead-centre re-seeding.

    ``partial_fit(batch)`` consumes one ``[B, D]`` batch. Re-seeding moves centres whose assignment count
    since the last check is below ``reseed_min_fraction`` of the average onto random points of the current
    batch, which keeps codebook utilisation high.
    """

    def __init__(self, config: MiniBatchKMeansConfig, seed: int = 0):
        self.config = config
        self.generator = torch.Generator().manual_seed(seed)
        self.centroids: torch.Tensor | None = None
        self.counts: torch.Tensor | None = None
        self.recent: torch.Tensor | None = None
        self.step = 0

    # -- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.centroids is None:
            raise RuntimeError("k-means is not initialised")
        return {
            "centroids": self.centroids.contiguous(),
            "counts": self.counts.contiguous(),
            "recent": self.recent.contiguous(),
            "step": torch.tensor([self.step], dtype=torch.long),
            "rng": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.centroids = state["centroids"].float().clone()
        self.counts = state["counts"].double().clone()
        self.recent = state["recent"].double().clone()
        self.step = int(state["step"][0])
        self.generator.set_state(state["rng"].to(torch.uint8))

    # -- fitting -----------------------------------------------------------------------------------
    def initialise(self, sample: torch.Tensor) -> None:
        """k-means++ on ``sample [M, D]`` (M >= n_clusters)."""
        sample = sample.float()
        self.centroids = kmeans_plus_plus(sample, self.config.n_clusters, self.generator)
        self.counts = torch.zeros(self.config.n_clusters, dtype=torch.float64)
        self.recent = torch.zeros(self.config.n_clusters, dtype=torch.float64)
        self.step = 0

    @torch.no_grad()
    def partial_fit(self, batch: torch.Tensor) -> float:
        """One mini-batch update with ``batch [B, D]``; returns the batch's mean squared distance."""
        if self.centroids is None:
            self.initialise(batch)
        batch = batch.float()
        idx, dist = assign(batch, self.centroids)
        k = self.config.n_clusters
        n_new = torch.bincount(idx, minlength=k).double()
        sums = torch.zeros_like(self.centroids, dtype=torch.float64).index_add_(0, idx, batch.double())
        self.counts += n_new
        self.recent += n_new
        hit = n_new > 0
        # c <- c + (n_new / counts) * (mean_new - c): the running mean of all points ever assigned
        lr = (n_new[hit] / self.counts[hit]).unsqueeze(1)
        mean_new = sums[hit] / n_new[hit].unsqueeze(1)
        c = self.centroids[hit].double()
        self.centroids[hit] = (c + lr * (mean_new - c)).float()
        self.step += 1
        if self.config.reseed_every and self.step % self.config.reseed_every == 0:
            self._reseed(batch, dist)
        return float(dist.mean())

    def _reseed(self, batch: torch.Tensor, dist: torch.Tensor) -> int:
        mean_use = self.recent.mean()
        dead = torch.nonzero(self.recent < self.config.reseed_min_fraction * mean_use).flatten()
        if dead.numel():
            # D²-weighted choice of replacement points from the current batch (favours badly covered regions)
            p = dist.double() + 1e-12
            pick = torch.multinomial(
                p / p.sum(), dead.numel(), replacement=dead.numel() > p.numel(), generator=self.generator
            )
            self.centroids[dead] = batch[pick]
            self.counts[dead] = 1.0
        self.recent.zero_()
        return int(dead.numel())

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest-centre indices ``LongTensor [N]`` for ``x [N, D]``."""
        if self.centroids is None:
            raise RuntimeError("k-means is not initialised")
        return assign(x.float(), self.centroids)[0]
