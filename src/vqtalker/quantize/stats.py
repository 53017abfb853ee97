"""Codebook statistics, accumulable over batches: utilisation and perplexity per (layer, group).

* utilisation = fraction of the K codes used at least once (the paper's Table 3 "Util.", in %);
* perplexity = ``exp(H(p))`` of the empirical code distribution (K = perfectly uniform use, 1 = collapse).

Indices use the project layout ``[..., R, G]`` (a ``[..., R]`` tensor is treated as G = 1); ``-1``
entries (layers removed by quantize dropout) are ignored.
"""

from __future__ import annotations

import torch
from torch import Tensor


class CodebookStats:
    """Accumulates code counts ``[R, G, K]`` over any number of :meth:`update` calls.

    Example::

        stats = CodebookStats(num_quantizers=4, groups=12, codebook_size=625)
        for x in batches:
            _, idx = grfsq(x)          # [B, T, 4, 12]
            stats.update(idx)
        stats.utilization()            # [4, 12] in [0, 1]
        stats.perplexity()             # [4, 12]
    """

    def __init__(self, num_quantizers: int, groups: int, codebook_size: int) -> None:
        self.num_quantizers = int(num_quantizers)
        self.groups = int(groups)
        self.codebook_size = int(codebook_size)
        self.counts = torch.zeros(self.num_quantizers, self.groups, self.codebook_size, dtype=torch.int64)

    @classmethod
    def for_quantizer(cls, quantizer) -> CodebookStats:
        return cls(quantizer.num_quantizers, getattr(quantizer, "groups", 1), quantizer.codebook_size)

    def reset(self) -> None:
        self.counts.zero_()

    @torch.no_grad()
    def update(self, indices: Tensor) -> None:
        """Add the codes of ``indices[..., R, G]`` (or ``[..., R]`` for G = 1)."""
        idx = indices.detach().to("cpu", torch.int64)
        if self.groups == 1 and (idx.ndim == 1 or idx.shape[-1] == self.num_quantizers):
            idx = idx.unsqueeze(-1)
        if idx.ndim < 2 or idx.shape[-2:] != (self.num_quantizers, self.groups):
            raise ValueError(
                f"expected indices [..., {self.num_quantizers}, {self.groups}], got {tuple(indices.shape)}"
            )
        if idx.numel() and int(idx.max()) >= self.codebook_size:
            raise ValueError(f"index {int(idx.max())} >= codebook size {self.codebook_size}")
        flat = idx.reshape(-1, self.num_quantizers * self.groups)  # [N, R*G]
        slot = torch.arange(self.num_quantizers * self.groups) * self.codebook_size
        valid = flat >= 0
        keys = (flat + slot)[valid]
        counts = torch.bincount(keys, minlength=self.counts.numel())
        self.counts += counts.view_as(self.counts)

    def merge(self, other: CodebookStats) -> CodebookStats:
        if other.counts.shape != self.counts.shape:
            raise ValueError("cannot merge statistics of different shapes")
        self.counts += other.counts
        return self

    @property
    def num_tokens(self) -> Tensor:
        """Tokens counted per (layer, group) ``[R, G]``."""
        return self.counts.sum(-1)

    def utilization(self) -> Tensor:
        """Fraction of codes used at least once, ``[R, G]`` in ``[0, 1]``."""
        return (self.counts > 0).double().mean(-1)

    def perplexity(self) -> Tensor:
        """``exp(entropy)`` of the code distribution per (layer, group), ``[R, G]`` (NaN if empty)."""
        c = self.counts.double()
        total = c.sum(-1, keepdim=True)
        p = c / total
        ent = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(-1)
        return torch.where(total.squeeze(-1) > 0, ent.exp(), torch.full_like(ent, float("nan")))

    def utilization_per_layer(self) -> Tensor:
        """Mean utilisation over groups, ``[R]``."""
        return self.utilization().mean(-1)

    def summary(self) -> dict[str, float | list[float]]:
        util = self.utilization()
        ppl = self.perplexity()
        return {
            "utilization": float(util.mean()),
            "utilization_per_layer": [float(v) for v in util.mean(-1)],
            "perplexity": float(ppl.mean()),
            "perplexity_per_layer": [float(v) for v in ppl.mean(-1)],
            "tokens": int(self.num_tokens.sum()),
        }
