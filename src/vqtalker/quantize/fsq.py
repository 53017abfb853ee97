"""Finite Scalar Quantization (FSQ; Mentzer et al., ICLR 2024), one layer, no projections.

Each of the ``d = len(levels)`` channels is bounded and rounded to one of ``L_j`` values; the implicit
codebook is the product grid (``prod(levels)`` codes, 625 for ``(5, 5, 5, 5)``). No learned parameters,
no auxiliary loss; gradients pass the rounding with a straight-through estimator (STE).

Two variants, both exact on decode (``indices_to_codes(codes_to_indices(c)) == c`` bit for bit):

``symmetric=False`` (standard, Google ``fsq.ipynb`` with lucidrains' ``(1 + eps)``)::

    half_l = (L - 1) * (1 + eps) / 2          # eps = 1e-3 -> 2.002 for L = 5
    offset = 0.5 if L even else 0
    shift  = atanh(offset / half_l)
    bound(z) = tanh(z + shift) * half_l - offset
    code   = round_ste(bound(z)) / (L // 2)   # L = 5: {-1, -1/2, 0, 1/2, 1}; L = 4: {-1, -1/2, 0, 1/2}
    digit  = code * (L // 2) + L // 2         # in {0 .. L-1}

``symmetric=True`` (the "symmetry-preserving" quantizer of arXiv 2411.19842 §3.2, used by
vector-quantize-pytorch >= 1.26 inside ``ResidualFSQ``)::

    code  = 2 / (L - 1) * floor_ste((L - 1) * (c(z) + 1) / 2 + 1/2) - 1     # L = 4: {-1, -1/3, 1/3, 1}
    c(z)  = clamp(z, -1, 1) if hard_clamp else tanh(z)
    digit = (code + 1) / (2 / (L - 1))

Index (mixed radix, first channel least significant): ``basis = cumprod([1, L_0, .., L_{d-2}])``,
``index = sum_j digit_j * basis_j`` in ``[0, prod(levels))``; inverse ``digit_j = (index // basis_j) % L_j``.

The quantization itself always runs in fp32 (autocast disabled), whatever the input dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def round_ste(z: Tensor) -> Tensor:
    """Round to nearest (ties to even), identity gradient. The value is exactly ``round(z)``."""
    return z + (z.round() - z).detach()


def floor_ste(z: Tensor) -> Tensor:
    """Floor, identity gradient. The value is exactly ``floor(z)``."""
    return z + (z.floor() - z).detach()


def index_dtype(codebook_size: int) -> torch.dtype:
    """Smallest signed integer dtype for indices: int16 when every index (and -1 for "dropped") fits."""
    return torch.int16 if codebook_size <= 2**15 else torch.int32


def _autocast_off(device: torch.device):
    return torch.autocast(device_type=device.type, enabled=False)


class FSQ(nn.Module):
    """One finite-scalar-quantization layer over the last dimension.

    Args:
        levels: number of levels per channel, e.g. ``(5, 5, 5, 5)``; each ``>= 2`` (``>= 3`` unless
            ``symmetric``: the standard bound with ``L = 2`` has a near-infinite shift).
        eps: margin of the standard tanh bound (``half_l = (L-1)(1+eps)/2``); lucidrains uses 1e-3.
        symmetric: use the symmetry-preserving quantizer instead of the standard one.
        hard_clamp: with ``symmetric``, bound by ``clamp(z, -1, 1)`` instead of ``tanh`` (lucidrains'
            ``bound_hard_clamp``, meant for inputs already soft-clamped to the right range).

    Shapes: ``forward(z[..., d]) -> (codes[..., d] in [-1, 1], indices[...])`` (int64 here; the residual
    wrappers cast to int16/int32).
    """

    def __init__(
        self,
        levels: Sequence[int],
        eps: float = 1e-3,
        symmetric: bool = False,
        hard_clamp: bool = False,
    ) -> None:
        super().__init__()
        levels = [int(lv) for lv in levels]
        if not levels or any(lv < 2 for lv in levels):
            raise ValueError(f"FSQ levels must all be >= 2, got {levels}")
        if not symmetric and any(lv == 2 for lv in levels):
            raise ValueError("FSQ with a level of 2 needs symmetric=True (the standard bound degenerates)")
        if hard_clamp and not symmetric:
            raise ValueError("hard_clamp is only defined for the symmetric FSQ variant")
        self.levels = tuple(levels)
        self.eps = float(eps)
        self.symmetric = bool(symmetric)
        self.hard_clamp = bool(hard_clamp)
        self.codebook_dim = len(levels)
        self.codebook_size = math.prod(levels)

        lv = torch.tensor(levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor([1] + levels[:-1], dtype=torch.int64), dim=0)
        half_l = (lv - 1) * (1 + self.eps) / 2
        offset = torch.where(lv.remainder(2) == 0, 0.5, 0.0)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_levels_int", torch.tensor(levels, dtype=torch.int64), persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        self.register_buffer("_half_l", half_l, persistent=False)
        self.register_buffer("_offset", offset, persistent=False)
        self.register_buffer("_shift", torch.atanh(offset / half_l), persistent=False)
        self.register_buffer("_half_width", torch.floor(lv / 2), persistent=False)
        self.register_buffer("_sym_scale", 2.0 / (lv - 1), persistent=False)
        self.register_buffer(
            "implicit_codebook", self.indices_to_codes(torch.arange(self.codebook_size)), persistent=False
        )

    def extra_repr(self) -> str:
        variant = "symmetric" + ("+hard_clamp" if self.hard_clamp else "") if self.symmetric else "standard"
        return f"levels={self.levels}, codebook_size={self.codebook_size}, variant={variant}"

    # --- continuous -> codes ---------------------------------------------------------------------------

    def bound(self, z: Tensor) -> Tensor:
        """Standard variant: ``tanh(z + shift) * half_l - offset`` (un-rounded, range about ``±(L-1)/2``)."""
        return torch.tanh(z + self._shift) * self._half_l - self._offset

    def quantize(self, z: Tensor) -> Tensor:
        """``z[..., d]`` (fp32) -> codes ``[..., d]`` in ``[-1, 1]`` with STE gradients."""
        if self.symmetric:
            c = z.clamp(-1.0, 1.0) if self.hard_clamp else torch.tanh(z)
            lm1 = self._levels - 1
            bracket = floor_ste(lm1 * (c + 1) / 2.0 + 0.5)
            return self._sym_scale * bracket - 1.0
        return round_ste(self.bound(z)) / self._half_width

    # --- codes <-> digits <-> indices -------------------------------------------------------------------

    def codes_to_digits(self, codes: Tensor) -> Tensor:
        """Codes ``[..., d]`` -> integer digits ``[..., d]`` in ``[0, L_j)`` (int64)."""
        if self.symmetric:
            digits = (codes + 1.0) / self._sym_scale
        else:
            digits = codes * self._half_width + self._half_width
        return digits.round().long()

    def digits_to_codes(self, digits: Tensor) -> Tensor:
        """Integer digits ``[..., d]`` -> fp32 codes ``[..., d]`` (same arithmetic as :meth:`quantize`)."""
        d = digits.to(torch.float32)
        if self.symmetric:
            return self._sym_scale * d - 1.0
        return (d - self._half_width) / self._half_width

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """Codes ``[..., d]`` -> indices ``[...]`` (int64, mixed radix)."""
        if codes.shape[-1] != self.codebook_dim:
            raise ValueError(f"expected codes with last dim {self.codebook_dim}, got {tuple(codes.shape)}")
        return (self.codes_to_digits(codes) * self._basis).sum(dim=-1)

    def indices_to_digits(self, indices: Tensor) -> Tensor:
        """Indices ``[...]`` -> digits ``[..., d]`` (int64)."""
        return (indices.long().unsqueeze(-1) // self._basis) % self._levels_int

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """Indices ``[...]`` -> fp32 codes ``[..., d]``; exact inverse of :meth:`codes_to_indices`."""
        return self.digits_to_codes(self.indices_to_digits(indices))

    # --- module -----------------------------------------------------------------------------------------

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z[..., d]`` -> ``(codes[..., d], indices[...])``; codes are fp32 with STE gradients."""
        if z.shape[-1] != self.codebook_dim:
            raise ValueError(f"FSQ expects last dim {self.codebook_dim}, got {tuple(z.shape)}")
        with _autocast_off(z.device):
            codes = self.quantize(z.float())
            indices = self.codes_to_indices(codes.detach())
        return codes, indices
