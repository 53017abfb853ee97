"""Residual FSQ and Group-Residual FSQ (GRFSQ, VQTalker Algorithm 1).

Per group (input ``x_g``, ``dim_per_group`` channels), with ``C = len(levels)``::

    z     = project_in(x_g)                   # Linear(dim_per_group -> C), only if dim_per_group != C
    res_0 = input_bound(z)                    # "none": z | "tanh_softclamp": tanh(z / c) * c | "fsq_bound"
    for r in 0 .. R-1:
        q_r     = FSQ(res_r / s_r) * s_r      # s_r = (L - 1) ** -r  ("L-1")  or  L ** -r  ("L")
        res_r+1 = res_r - stopgrad(q_r)
    x_hat_g = project_out(q_0 + q_1 + ... )   # Linear(C -> dim_per_group)

Variants (``preset=``), following the version history of vector-quantize-pytorch's ``residual_fsq.py``
(see docs in ``/work/shared/design/architecture-notes.md`` §2.5):

=====================  =========================================  ================  =====================
preset                 lucidrains window                          ``res_0``         ``s_r``, layer FSQ
=====================  =========================================  ================  =====================
``"vqtalker"``         (project default; paper-era math)          ``z``             ``(L-1)^-r``, standard
``"lucidrains-2023"``  Nov 2023 - Oct 2024 (<= ~1.18; AAAI era)   ``FSQ.bound(z)``  ``(L-1)^-r``, standard
``"lucidrains-2024"``  Oct 2024 - Nov 2025                        ``z``             ``(L-1)^-r``, standard
``"lucidrains-1.32"``  >= Nov 2025 (1.26+, incl. pinned 1.32.0)   ``tanh(z/c)*c``   ``L^-r``, symmetric
                                                                  c = 1+1/(L-1)     with hard clamp
=====================  =========================================  ================  =====================

The ``"lucidrains-1.32"`` preset reproduces ``vector_quantize_pytorch==1.32.0``'s ``GroupedResidualFSQ``
with its defaults (``bound_hard_clamp=True``) bit for bit on the indices (see
``tests/test_quantize_parity.py``). ``"fsq_bound"`` (the 2023 pre-processing) is the un-rounded standard
bound ``tanh(z + shift) * half_l - offset`` (range ``±2.002`` for L = 5).

Index layout: :class:`ResidualFSQ` returns ``[..., R]``; :class:`GroupResidualFSQ` returns
``[B, T, R, G]`` (``[B, R, G]`` for 2-D input), i.e. lucidrains' ``[G, B, T, R]`` transposed. Indices are
int16 when the codebook has at most 2**15 codes (625 for 5^4), else int32; ``-1`` marks a layer removed
by quantize dropout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vqtalker.quantize.fsq import FSQ, _autocast_off, index_dtype

ScaleBase = Literal["L-1", "L"]
InputBound = Literal["none", "tanh_softclamp", "fsq_bound"]

RESIDUAL_FSQ_PRESETS: dict[str, dict] = {
    "vqtalker": dict(scale_base="L-1", input_bound="none", symmetric=False, hard_clamp=False),
    "lucidrains-2023": dict(scale_base="L-1", input_bound="fsq_bound", symmetric=False, hard_clamp=False),
    "lucidrains-2024": dict(scale_base="L-1", input_bound="none", symmetric=False, hard_clamp=False),
    "lucidrains-1.32": dict(scale_base="L", input_bound="tanh_softclamp", symmetric=True, hard_clamp=True),
}


def _resolve_preset(preset: str | None, overrides: dict) -> dict:
    cfg = dict(RESIDUAL_FSQ_PRESETS["vqtalker"])
    if preset is not None:
        if preset not in RESIDUAL_FSQ_PRESETS:
            raise ValueError(
                f"unknown residual FSQ preset {preset!r}; choose from {sorted(RESIDUAL_FSQ_PRESETS)}"
            )
        cfg.update(RESIDUAL_FSQ_PRESETS[preset])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg


class ResidualFSQ(nn.Module):
    """R layers of FSQ on successive residuals, with residual scales ``s_r``.

    Args:
        dim: input channels (``None`` = ``len(levels)``); a Linear in/out projection is added when
            ``dim != len(levels)``.
        levels: FSQ levels per code channel (default ``(5, 5, 5, 5)`` = 625 codes per layer).
        num_quantizers: R, the number of residual layers.
        preset: one of :data:`RESIDUAL_FSQ_PRESETS` (``None`` = ``"vqtalker"``); explicit arguments below
            override it.
        scale_base: ``"L-1"`` -> ``s_r = (L-1)^-r``; ``"L"`` -> ``s_r = L^-r`` (per channel).
        input_bound: pre-processing of ``res_0``: ``"none"``, ``"tanh_softclamp"`` or ``"fsq_bound"``.
        soft_clamp_value: ``c`` for ``"tanh_softclamp"`` (default ``1 + 1/(L-1)`` per channel).
        symmetric, hard_clamp: per-layer FSQ variant (see :class:`vqtalker.quantize.fsq.FSQ`).
        eps: standard-FSQ bound margin.
        quantize_dropout: in training, keep only the first ``k`` layers (``k`` uniform in
            ``[cutoff + 1, R]``, one draw per forward) and mark the others ``-1`` (EnCodec-style). Off by
            default (not in the paper).
        projection_bias: bias in the in/out projections (lucidrains: True).

    Shapes: ``forward(x[..., dim]) -> (quantized[..., dim], indices[..., R])``.
    """

    def __init__(
        self,
        dim: int | None = None,
        levels: Sequence[int] = (5, 5, 5, 5),
        num_quantizers: int = 4,
        *,
        preset: str | None = None,
        scale_base: ScaleBase | None = None,
        input_bound: InputBound | None = None,
        soft_clamp_value: float | Sequence[float] | None = None,
        symmetric: bool | None = None,
        hard_clamp: bool | None = None,
        eps: float = 1e-3,
        quantize_dropout: bool = False,
        quantize_dropout_cutoff_index: int = 0,
        projection_bias: bool = True,
    ) -> None:
        super().__init__()
        cfg = _resolve_preset(
            preset,
            dict(scale_base=scale_base, input_bound=input_bound, symmetric=symmetric, hard_clamp=hard_clamp),
        )
        if cfg["scale_base"] not in ("L-1", "L"):
            raise ValueError(f"scale_base must be 'L-1' or 'L', got {cfg['scale_base']!r}")
        if cfg["input_bound"] not in ("none", "tanh_softclamp", "fsq_bound"):
            raise ValueError(f"input_bound must be none|tanh_softclamp|fsq_bound, got {cfg['input_bound']!r}")
        if num_quantizers < 1:
            raise ValueError("num_quantizers must be >= 1")
        if not 0 <= quantize_dropout_cutoff_index < num_quantizers:
            raise ValueError("quantize_dropout_cutoff_index must be in [0, num_quantizers)")
        levels = tuple(int(lv) for lv in levels)
        self.levels = levels
        self.codebook_dim = len(levels)
        self.dim = self.codebook_dim if dim is None else int(dim)
        self.num_quantizers = int(num_quantizers)
        self.scale_base = cfg["scale_base"]
        self.input_bound = cfg["input_bound"]
        self.quantize_dropout = bool(quantize_dropout) and num_quantizers > 1
        self.quantize_dropout_cutoff_index = int(quantize_dropout_cutoff_index)

        self.fsq = FSQ(levels, eps=eps, symmetric=cfg["symmetric"], hard_clamp=cfg["hard_clamp"])
        self.codebook_size = self.fsq.codebook_size
        self.index_dtype = index_dtype(self.codebook_size)

        self.has_projections = self.dim != self.codebook_dim
        if self.has_projections:
            self.project_in = nn.Linear(self.dim, self.codebook_dim, bias=projection_bias)
            self.project_out = nn.Linear(self.codebook_dim, self.dim, bias=projection_bias)
        else:
            self.project_in = nn.Identity()
            self.project_out = nn.Identity()

        lv = torch.tensor(levels, dtype=torch.float32)
        base = lv - 1 if self.scale_base == "L-1" else lv
        # Same arithmetic as lucidrains (levels.float() ** -r) so that residual / s_r matches bit for bit.
        scales = torch.stack([base ** (-r) for r in range(self.num_quantizers)])  # [R, C]
        self.register_buffer("scales", scales, persistent=False)
        if soft_clamp_value is None:
            clamp = 1 + 1 / (lv - 1)
        else:
            clamp = torch.as_tensor(soft_clamp_value, dtype=torch.float32).expand(self.codebook_dim).clone()
        self.register_buffer("soft_clamp_value", clamp, persistent=False)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, levels={self.levels}, num_quantizers={self.num_quantizers}, "
            f"scale_base={self.scale_base!r}, input_bound={self.input_bound!r}, "
            f"quantize_dropout={self.quantize_dropout}"
        )

    @property
    def bits_per_frame(self) -> float:
        """Bits per input vector: ``R * log2(codebook_size)``."""
        return self.num_quantizers * math.log2(self.codebook_size)

    @property
    def codebooks(self) -> Tensor:
        """Scaled implicit codebooks ``[R, K, C]`` (layer r's code values times ``s_r``)."""
        return self.fsq.implicit_codebook.unsqueeze(0) * self.scales.unsqueeze(1)

    # --- core (operates in code space, on any leading shape) --------------------------------------------

    def _preprocess(self, z: Tensor) -> Tensor:
        if self.input_bound == "tanh_softclamp":
            c = self.soft_clamp_value
            return (z / c).tanh() * c
        if self.input_bound == "fsq_bound":
            return self.fsq.bound(z)
        return z

    def _dropout_layers(self) -> int:
        """Number of layers kept in this forward (R unless quantize dropout is active)."""
        if not (self.training and self.quantize_dropout and torch.is_grad_enabled()):
            return self.num_quantizers
        lo = self.quantize_dropout_cutoff_index
        return int(torch.randint(lo, self.num_quantizers, ()).item()) + 1

    def quantize_codes(self, z: Tensor, keep_layers: int | None = None) -> tuple[Tensor, Tensor]:
        """Residual loop in code space: ``z[..., C] -> (sum_r q_r [..., C] fp32, indices[..., R] int64)``."""
        keep = self.num_quantizers if keep_layers is None else keep_layers
        with _autocast_off(z.device):
            residual = self._preprocess(z.float())
            out: Tensor | None = None
            all_indices = []
            for r in range(self.num_quantizers):
                if r >= keep:
                    all_indices.append(torch.full(z.shape[:-1], -1, dtype=torch.int64, device=z.device))
                    continue
                scale = self.scales[r]
                codes, idx = self.fsq(residual / scale)
                q = codes * scale
                residual = residual - q.detach()
                out = q if out is None else out + q
                all_indices.append(idx)
        return out, torch.stack(all_indices, dim=-1)

    def codes_from_indices(self, indices: Tensor, n_layers: int | None = None) -> Tensor:
        """``indices[..., R'] -> sum over the first n_layers of s_r * code`` ``[..., C]`` (fp32), summed in
        the same order as :meth:`quantize_codes`, so the result equals the forward sum bit for bit."""
        r_avail = indices.shape[-1]
        k = r_avail if n_layers is None else int(n_layers)
        if not 1 <= k <= min(r_avail, self.num_quantizers):
            raise ValueError(f"n_layers must be in [1, {min(r_avail, self.num_quantizers)}], got {k}")
        _check_index_range(indices[..., :k], self.codebook_size)
        out: Tensor | None = None
        for r in range(k):
            idx = indices[..., r].long()
            dropped = idx < 0
            q = self.fsq.indices_to_codes(idx.clamp(min=0)) * self.scales[r]
            if dropped.any():
                q = q.masked_fill(dropped.unsqueeze(-1), 0.0)
            out = q if out is None else out + q
        return out

    # --- module API -------------------------------------------------------------------------------------

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x[..., dim] -> (quantized[..., dim], indices[..., R])`` (indices int16/int32)."""
        if x.shape[-1] != self.dim:
            raise ValueError(f"ResidualFSQ expects last dim {self.dim}, got {tuple(x.shape)}")
        z = self.project_in(x)
        out, idx = self.quantize_codes(z, self._dropout_layers())
        quantized = self.project_out(out.to(x.dtype) if self.has_projections else out)
        return quantized.to(x.dtype), idx.to(self.index_dtype)

    def decode(self, indices: Tensor, n_layers: int | None = None) -> Tensor:
        """``indices[..., R] -> quantized[..., dim]`` from the first ``n_layers`` layers (None = all)."""
        out = self.codes_from_indices(indices, n_layers)
        return self.project_out(out.to(self._param_dtype()))

    def _param_dtype(self) -> torch.dtype:
        p = next(self.parameters(), None)
        return torch.float32 if p is None else p.dtype


def _check_index_range(indices: Tensor, codebook_size: int) -> None:
    if indices.numel() == 0:
        return
    lo, hi = int(indices.min()), int(indices.max())
    if lo < -1 or hi >= codebook_size:
        raise ValueError(f"token indices out of range: min {lo}, max {hi}, codebook size {codebook_size}")


class GroupResidualFSQ(nn.Module):
    """Group-Residual FSQ (GRFSQ): split channels into G groups, a ResidualFSQ per group, merge.

    Paper configuration: ``dim=120, groups=12, num_quantizers=4, levels=(5,5,5,5)`` -> 625 codes per
    group and layer, ``4 * 12 * log2(625) = 445.8`` bits per frame (11.15 kbps at 25 fps), 1 128 params.

    Each group has its own ``project_in``/``project_out`` Linear (``dim/G -> len(levels) -> dim/G``; absent
    when equal); the parameter-free residual loop runs on all groups at once (vectorised), which is exactly
    equivalent to G separate :class:`ResidualFSQ` modules sharing the same configuration.

    Args:
        dim: input channels (must be divisible by ``groups``).
        groups: G.  num_quantizers: R.  levels: FSQ levels.
        **residual_kwargs: passed to :class:`ResidualFSQ` (``preset``, ``scale_base``, ``input_bound``,
            ``soft_clamp_value``, ``symmetric``, ``hard_clamp``, ``eps``, ``quantize_dropout``,
            ``quantize_dropout_cutoff_index``, ``projection_bias``).

    Shapes:
        ``forward(x[B, T, dim]) -> (quantized[B, T, dim], indices[B, T, R, G])``;
        ``forward(x[B, dim]) -> (quantized[B, dim], indices[B, R, G])``;
        ``decode(indices, n_layers=None)`` inverts the layout and equals the forward output exactly
        (train or eval; with quantize dropout the dropped layers are ``-1`` and contribute zero).
    """

    def __init__(
        self,
        dim: int = 120,
        groups: int = 12,
        num_quantizers: int = 4,
        levels: Sequence[int] = (5, 5, 5, 5),
        **residual_kwargs,
    ) -> None:
        super().__init__()
        if dim % groups != 0:
            raise ValueError(f"dim ({dim}) must be divisible by groups ({groups})")
        projection_bias = residual_kwargs.pop("projection_bias", True)
        self.dim = int(dim)
        self.groups = int(groups)
        self.dim_per_group = self.dim // self.groups
        # Parameter-free residual core in code space, shared by all groups (vectorised over G).
        self.rfsq = ResidualFSQ(None, levels, num_quantizers, **residual_kwargs)
        self.levels = self.rfsq.levels
        self.num_quantizers = self.rfsq.num_quantizers
        self.codebook_dim = self.rfsq.codebook_dim
        self.codebook_size = self.rfsq.codebook_size
        self.index_dtype = self.rfsq.index_dtype
        self.has_projections = self.dim_per_group != self.codebook_dim
        if self.has_projections:
            self.project_in = nn.ModuleList(
                nn.Linear(self.dim_per_group, self.codebook_dim, bias=projection_bias) for _ in range(groups)
            )
            self.project_out = nn.ModuleList(
                nn.Linear(self.codebook_dim, self.dim_per_group, bias=projection_bias) for _ in range(groups)
            )
        else:
            self.project_in = None
            self.project_out = None

    def extra_repr(self) -> str:
        return f"dim={self.dim}, groups={self.groups}, bits_per_frame={self.bits_per_frame:.2f}"

    @property
    def bits_per_frame(self) -> float:
        """``R * G * log2(codebook_size)`` bits per frame (445.81 for the paper configuration)."""
        return self.num_quantizers * self.groups * math.log2(self.codebook_size)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim not in (2, 3) or x.shape[-1] != self.dim:
            raise ValueError(
                f"GroupResidualFSQ expects [B, T, {self.dim}] or [B, {self.dim}], got {tuple(x.shape)}"
            )

    def _project_in(self, x: Tensor) -> Tensor:
        chunks = x.chunk(self.groups, dim=-1)
        if self.project_in is None:
            return torch.stack(chunks, dim=-2)
        return torch.stack([F.linear(c, m.weight, m.bias) for c, m in zip(chunks, self.project_in)], dim=-2)

    def _project_out(self, codes: Tensor) -> Tensor:
        """``codes[..., G, C] -> [..., dim]``."""
        codes = codes.contiguous()  # same memory layout in forward and decode -> identical matmul results
        if self.project_out is None:
            return codes.flatten(-2)
        dtype = self.project_out[0].weight.dtype
        outs = [
            F.linear(codes[..., g, :].to(dtype), m.weight, m.bias) for g, m in enumerate(self.project_out)
        ]
        return torch.cat(outs, dim=-1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self._check_input(x)
        z = self._project_in(x)  # [..., G, C]
        out, idx = self.rfsq.quantize_codes(z, self.rfsq._dropout_layers())  # [..., G, C], [..., G, R]
        quantized = self._project_out(out).to(x.dtype)
        return quantized, idx.transpose(-1, -2).to(self.index_dtype)

    def decode(self, indices: Tensor, n_layers: int | None = None) -> Tensor:
        """``indices[B, T, R, G]`` (or ``[B, R, G]``) -> quantized ``[B, T, dim]`` (or ``[B, dim]``) using the
        first ``n_layers`` residual layers (None = all): coarse-to-fine decoding."""
        if indices.ndim not in (3, 4) or indices.shape[-1] != self.groups:
            raise ValueError(
                f"expected indices [B, T, R, {self.groups}] or [B, R, {self.groups}], "
                f"got {tuple(indices.shape)}"
            )
        if indices.dtype.is_floating_point:
            raise ValueError("indices must be an integer tensor")
        out = self.rfsq.codes_from_indices(indices.transpose(-1, -2), n_layers)  # [..., G, C]
        return self._project_out(out)

    def indices_to_layer_codes(self, indices: Tensor) -> Tensor:
        """``indices[..., R, G] -> scaled codes [..., R, G, C]`` (per layer, before the out projection)."""
        r = indices.shape[-2]
        codes = self.rfsq.fsq.indices_to_codes(indices.long().clamp(min=0))
        codes = codes * self.rfsq.scales[:r].unsqueeze(-2)
        return codes.masked_fill((indices < 0).unsqueeze(-1), 0.0)
