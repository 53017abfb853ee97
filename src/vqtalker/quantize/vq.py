"""Learned-codebook baselines for the paper's Table 3: VQ, GVQ, RVQ, GRVQ.

All four are one class, :class:`GroupResidualVQ` (G groups x R residual layers of
:class:`VectorQuantizer`), with the same interface and index layout as
:class:`vqtalker.quantize.GroupResidualFSQ`: ``forward(x[B, T, D]) -> (quantized[B, T, D],
indices[B, T, R, G])`` (2-D input ``[B, D]`` -> ``[B, R, G]``), ``decode(indices, n_layers=None)``.
Table-3 defaults: ``VQ`` 1 x 1 x 8196 codes, ``GVQ`` 32 groups x 1024, ``RVQ`` 32 layers x 1024,
``GRVQ`` 12 x 4 x 1024.

Codebook learning (per :class:`VectorQuantizer`):

* ``ema=True`` (default, VQ-VAE-2 / SoundStream): the codebook is a buffer updated in training mode as an
  exponential moving average (``decay``) of the vectors assigned to each code, with Laplace smoothing of
  the cluster sizes (``eps``). Only the commitment loss ``beta * ||x - sg(q)||^2`` is produced.
* ``ema=False``: the codebook is an ``nn.Parameter`` learned by gradient through the codebook loss
  ``||sg(x) - q||^2`` (added to the commitment loss).

The loss of a forward (sum over residual layers of the mean over channels) is kept in
``.commit_loss`` and returned as a third value with ``forward(x, return_loss=True)``.

Initialisation: with ``data_init=True`` (default) the codebook is set, on the first training forward, to
random vectors of that batch (a cheap stand-in for k-means init); otherwise it stays ``N(0, 1/D)``.

Dead-code replacement (``dead_code_threshold > 0``, off by default, as in the classic VQ that Table 3
ablates): after each EMA step, every code whose EMA cluster size is below the threshold is re-seeded with
a random vector of the current batch (its cluster size is reset to the threshold). Note that a
codebook much larger than the batch (VQ: 8196 codes) cannot have every code used in every batch, so a
threshold near 1 would re-seed most of it each step.

The output uses an exact straight-through estimator ``q.detach() + (x - x.detach())``: its value is
exactly the sum of the selected codewords (so ``decode(indices)`` equals the forward output bit for bit in
eval mode), its gradient w.r.t. ``x`` is the identity. In training mode with EMA the codebook is updated
*after* the lookup, so decoding later uses the updated codebook.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqtalker.quantize.fsq import index_dtype


class VectorQuantizer(nn.Module):
    """``groups`` independent codebooks of ``codebook_size`` vectors of size ``dim``; L2 nearest neighbour.

    Vectorised over groups: ``forward(x[N, G, dim]) -> (q[N, G, dim], indices[N, G] int64, loss scalar)``;
    ``q`` are codebook rows (with gradient into the codebook when ``ema=False``). ``group_sizes`` (each
    ``<= dim``) marks trailing channels of a group as zero padding: they stay exactly zero in the inputs
    the caller passes and in the codebook, so they change no distance and no update.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        groups: int = 1,
        group_sizes: list[int] | None = None,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        commitment_weight: float = 0.25,
        dead_code_threshold: float = 0.0,
        data_init: bool = True,
    ) -> None:
        super().__init__()
        self.dim = int(dim)
        self.groups = int(groups)
        self.codebook_size = int(codebook_size)
        self.ema = bool(ema)
        self.decay = float(decay)
        self.eps = float(eps)
        self.commitment_weight = float(commitment_weight)
        self.dead_code_threshold = float(dead_code_threshold)
        self.data_init = bool(data_init)
        sizes = [self.dim] * self.groups if group_sizes is None else [int(v) for v in group_sizes]
        if len(sizes) != self.groups or any(not 1 <= v <= self.dim for v in sizes):
            raise ValueError(f"group_sizes must be {self.groups} values in [1, {self.dim}]")
        mask = (torch.arange(self.dim).unsqueeze(0) < torch.tensor(sizes).unsqueeze(1)).float()  # [G, D]
        self.register_buffer("channel_mask", mask, persistent=False)
        self.num_channels = int(sum(sizes))
        embed = (
            torch.randn(self.groups, self.codebook_size, self.dim) / math.sqrt(self.dim) * mask.unsqueeze(1)
        )
        if self.ema:
            self.register_buffer("embed", embed)
        else:
            self.embed = nn.Parameter(embed)
        self.register_buffer("cluster_size", torch.zeros(self.groups, self.codebook_size))
        self.register_buffer("embed_avg", embed.clone())
        self.register_buffer("initted", torch.tensor(not self.data_init))

    def extra_repr(self) -> str:
        return f"groups={self.groups}, dim={self.dim}, codebook_size={self.codebook_size}, ema={self.ema}"

    def nearest(self, x: Tensor) -> Tensor:
        """``x[N, G, dim] -> indices[N, G]`` of the nearest codeword per group (squared L2)."""
        e = self.embed.detach()
        # ||x||^2 is constant per row: argmin_k ||e_k||^2 - 2 x.e_k, as one fused (b)addmm per group
        e_sq = (e * e).sum(-1).unsqueeze(1)  # [G, 1, K]
        dist = torch.baddbmm(e_sq, x.transpose(0, 1), e.transpose(1, 2), beta=1.0, alpha=-2.0)  # [G, N, K]
        return dist.argmin(dim=-1).t()

    def lookup(self, indices: Tensor) -> Tensor:
        """``indices[..., G] -> codewords[..., G, dim]``."""
        flat = indices + torch.arange(self.groups, device=indices.device) * self.codebook_size
        return F.embedding(flat, self.embed.reshape(-1, self.dim))

    def _flat_keys(self, indices: Tensor) -> Tensor:
        return (indices + torch.arange(self.groups, device=indices.device) * self.codebook_size).reshape(-1)

    @torch.no_grad()
    def _sample_rows(self, x: Tensor, n: int) -> Tensor:
        """``n`` random rows of ``x[N, G, D]`` per group -> ``[G, n, D]``."""
        if x.shape[0] >= n:
            pick = torch.stack([torch.randperm(x.shape[0], device=x.device)[:n] for _ in range(self.groups)])
        else:
            pick = torch.randint(0, x.shape[0], (self.groups, n), device=x.device)
        return torch.gather(x.transpose(0, 1), 1, pick.unsqueeze(-1).expand(-1, -1, self.dim))

    @torch.no_grad()
    def _init_from(self, x: Tensor) -> None:
        rows = self._sample_rows(x, self.codebook_size)
        if x.shape[0] < self.codebook_size:  # break ties between repeated rows
            rows = rows + 1e-3 * rows.std() * torch.randn_like(rows)
        rows = rows * self.channel_mask.unsqueeze(1)
        self.embed.data.copy_(rows)
        self.embed_avg.copy_(rows)
        self.cluster_size.fill_(1.0)
        self.initted.fill_(True)

    @torch.no_grad()
    def _ema_update(self, x: Tensor, indices: Tensor) -> None:
        keys = self._flat_keys(indices)
        n_codes = self.groups * self.codebook_size
        counts = torch.bincount(keys, minlength=n_codes).to(x.dtype).view(self.groups, self.codebook_size)
        embed_sum = torch.zeros(n_codes, self.dim, dtype=x.dtype, device=x.device)
        embed_sum.scatter_add_(0, keys.unsqueeze(-1).expand(-1, self.dim), x.reshape(-1, self.dim))
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(embed_sum.view_as(self.embed_avg), alpha=1 - self.decay)
        n = self.cluster_size.sum(-1, keepdim=True)
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
        self.embed.data.copy_(self.embed_avg / smoothed.unsqueeze(-1))

    @torch.no_grad()
    def _replace_dead(self, x: Tensor) -> None:
        dead = self.cluster_size < self.dead_code_threshold  # [G, K]
        if not bool(dead.any()):
            return
        rows = self._sample_rows(x, self.codebook_size)  # [G, K, D]; only the dead slots are used
        self.embed.data[dead] = rows[dead]
        self.cluster_size[dead] = self.dead_code_threshold
        self.embed_avg[dead] = rows[dead] * self.dead_code_threshold

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if x.ndim != 3 or x.shape[1:] != (self.groups, self.dim):
            raise ValueError(f"VectorQuantizer expects [N, {self.groups}, {self.dim}], got {tuple(x.shape)}")
        xd = x.detach().float()
        if self.training and not bool(self.initted):
            self._init_from(xd)
        indices = self.nearest(xd)
        q = self.lookup(indices)
        denom = x.shape[0] * self.num_channels  # padded channels are zero on both sides
        loss = self.commitment_weight * ((x.float() - q.detach()) ** 2).sum() / denom
        if not self.ema:
            loss = loss + ((q - xd) ** 2).sum() / denom
        if self.training:
            if self.ema:
                self._ema_update(xd, indices)
            if self.dead_code_threshold > 0:
                self._replace_dead(xd)
        return q, indices, loss


class GroupResidualVQ(nn.Module):
    """G groups x R residual layers of learned-codebook VQ (GRVQ); VQ/GVQ/RVQ are special cases.

    Channels are split with ``tensor_split`` (group sizes differ by at most one, so e.g. 32 groups over
    120 channels -> 24 groups of 4 and 8 of 3, the smaller ones zero-padded internally); each
    (group, layer) has its own codebook; all groups of a layer are searched in one batched matmul.

    Shapes: ``forward(x[B, T, dim]) -> (quantized[B, T, dim], indices[B, T, R, G])``
    (``[B, dim] -> [B, dim], [B, R, G]``); indices int16 when ``codebook_size <= 2**15`` else int32.
    """

    def __init__(
        self,
        dim: int = 120,
        groups: int = 12,
        num_quantizers: int = 4,
        codebook_size: int = 1024,
        **vq_kwargs,
    ) -> None:
        super().__init__()
        if not 1 <= groups <= dim:
            raise ValueError(f"groups must be in [1, dim={dim}], got {groups}")
        if num_quantizers < 1:
            raise ValueError("num_quantizers must be >= 1")
        self.dim = int(dim)
        self.groups = int(groups)
        self.num_quantizers = int(num_quantizers)
        self.codebook_size = int(codebook_size)
        self.index_dtype = index_dtype(self.codebook_size)
        self.group_sizes = [len(c) for c in torch.arange(dim).tensor_split(groups)]
        self.group_dim = max(self.group_sizes)
        self.layers = nn.ModuleList(
            VectorQuantizer(
                self.group_dim, codebook_size, groups=groups, group_sizes=self.group_sizes, **vq_kwargs
            )
            for _ in range(num_quantizers)
        )
        self.commit_loss: Tensor | None = None

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, groups={self.groups}, num_quantizers={self.num_quantizers}, "
            f"codebook_size={self.codebook_size}"
        )

    @property
    def bits_per_frame(self) -> float:
        return self.num_quantizers * self.groups * math.log2(self.codebook_size)

    def _split(self, x: Tensor) -> Tensor:
        """``[N, dim] -> [N, G, group_dim]`` (zero-padded groups)."""
        if self.dim == self.groups * self.group_dim:
            return x.reshape(x.shape[0], self.groups, self.group_dim)
        chunks = [F.pad(c, (0, self.group_dim - c.shape[-1])) for c in x.tensor_split(self.groups, dim=-1)]
        return torch.stack(chunks, dim=1)

    def _merge(self, q: Tensor) -> Tensor:
        """``[..., G, group_dim] -> [..., dim]``."""
        if self.dim == self.groups * self.group_dim:
            return q.flatten(-2)
        return torch.cat([q[..., g, :size] for g, size in enumerate(self.group_sizes)], dim=-1)

    def forward(self, x: Tensor, return_loss: bool = False):
        if x.ndim not in (2, 3) or x.shape[-1] != self.dim:
            raise ValueError(
                f"{type(self).__name__} expects [B, T, {self.dim}] or [B, {self.dim}], got {tuple(x.shape)}"
            )
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.dim).float()
        residual = self._split(flat)
        q_sum: Tensor | None = None
        indices, losses = [], []
        for vq in self.layers:
            q, idx, loss = vq(residual)
            residual = residual - q.detach()
            q_sum = q if q_sum is None else q_sum + q
            indices.append(idx)
            losses.append(loss)
        # exact STE: value == sum of codewords, d out / d x == identity
        out = self._merge(q_sum.detach()) + (flat - flat.detach())
        quantized = out.reshape(*lead, self.dim).to(x.dtype)
        idx = torch.stack(indices, dim=1).reshape(*lead, self.num_quantizers, self.groups)
        self.commit_loss = torch.stack(losses).sum()
        if return_loss:
            return quantized, idx.to(self.index_dtype), self.commit_loss
        return quantized, idx.to(self.index_dtype)

    def decode(self, indices: Tensor, n_layers: int | None = None) -> Tensor:
        """``indices[B, T, R, G]`` (or ``[B, R, G]``) -> ``[B, T, dim]`` from the first ``n_layers``."""
        if indices.ndim not in (3, 4) or indices.shape[-1] != self.groups:
            raise ValueError(
                f"expected indices [B, T, R, {self.groups}] or [B, R, {self.groups}], "
                f"got {tuple(indices.shape)}"
            )
        r_avail = indices.shape[-2]
        k = r_avail if n_layers is None else int(n_layers)
        if not 1 <= k <= min(r_avail, self.num_quantizers):
            raise ValueError(f"n_layers must be in [1, {min(r_avail, self.num_quantizers)}], got {k}")
        idx = indices.long()
        if int(idx.min()) < 0 or int(idx.max()) >= self.codebook_size:
            raise ValueError(f"token indices out of range [0, {self.codebook_size})")
        lead = idx.shape[:-2]
        flat = idx.reshape(-1, r_avail, self.groups)
        q_sum: Tensor | None = None
        for r in range(k):
            q = self.layers[r].lookup(flat[:, r])
            q_sum = q if q_sum is None else q_sum + q
        return (self._merge(q_sum) + 0.0).reshape(*lead, self.dim)


class VQ(GroupResidualVQ):
    """Single codebook over the whole vector (Table 3: 8196 codes, < 1 kbps at 25 fps)."""

    def __init__(self, dim: int = 120, codebook_size: int = 8196, **vq_kwargs) -> None:
        super().__init__(dim, groups=1, num_quantizers=1, codebook_size=codebook_size, **vq_kwargs)


class GVQ(GroupResidualVQ):
    """Grouped VQ (Table 3: 32 groups x 1024 codes, 8 kbps)."""

    def __init__(self, dim: int = 120, groups: int = 32, codebook_size: int = 1024, **vq_kwargs) -> None:
        super().__init__(dim, groups=groups, num_quantizers=1, codebook_size=codebook_size, **vq_kwargs)


class RVQ(GroupResidualVQ):
    """Residual VQ (Table 3: 32 layers x 1024 codes, 8 kbps)."""

    def __init__(
        self, dim: int = 120, num_quantizers: int = 32, codebook_size: int = 1024, **vq_kwargs
    ) -> None:
        super().__init__(
            dim, groups=1, num_quantizers=num_quantizers, codebook_size=codebook_size, **vq_kwargs
        )


class GRVQ(GroupResidualVQ):
    """Grouped residual VQ (Table 3: 12 groups x 4 layers x 1024 codes, 12 kbps): the defaults of
    :class:`GroupResidualVQ`, under the paper's name."""
