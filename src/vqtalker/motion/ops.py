"""StyleGAN2-style building blocks used by the stage-1 encoder, renderer and discriminator.

Clean-room implementation from the published descriptions (StyleGAN2, Karras et al. 2020; LIA, Wang et al.
2022). Conventions:

* feature maps are ``[B, C, H, W]`` (square, H = W), images are RGB in ``[-1, 1]``;
* every learnable weight uses the *equalised learning rate* trick: it is stored as ``N(0, 1)`` and scaled at
  run time by ``1 / sqrt(fan_in)``;
* ``blur_kernel`` is the 1-D FIR ``[1, 3, 3, 1]`` applied separably (normalised to sum 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_SQRT2 = math.sqrt(2.0)


def make_kernel(k: Sequence[float]) -> torch.Tensor:
    """2-D FIR kernel ``k kᵀ / sum`` from a 1-D tap list."""
    t = torch.tensor(list(k), dtype=torch.float32)
    t2 = t[None, :] * t[:, None]
    return t2 / t2.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad=(0, 0)) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter and downsample ``x [B, C, H, W]`` (square ``kernel``).

    Output size: ``(H·up + pad0 + pad1 − k) // down + 1``. Padding is with zeros (negative pads crop).
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (p0, p1, p0, p1))
    k = torch.flip(kernel, (0, 1)).to(dtype=x.dtype, device=x.device)
    weight = k[None, None].expand(c, 1, *k.shape)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None, slope: float = 0.2) -> torch.Tensor:
    """``leaky_relu(x + bias, slope) · √2``; ``bias`` is per channel (dim 1)."""
    if bias is not None:
        shape = [1, -1] + [1] * (x.dim() - 2)
        x = x + bias.view(shape)
    return F.leaky_relu(x, slope) * _SQRT2


class FusedLeakyReLU(nn.Module):
    """Per-channel bias followed by a √2-scaled leaky ReLU (slope 0.2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class ScaledLeakyReLU(nn.Module):
    """Leaky ReLU (slope 0.2) scaled by √2, without bias."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * _SQRT2


class Blur(nn.Module):
    """FIR low-pass with fixed padding; ``upsample_factor`` rescales the kernel by ``factor²`` (after zero
    insertion the signal energy is spread over ``factor²`` samples)."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor**2
        self.register_buffer("kernel", k, persistent=False)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×2 FIR upsampling (zero insertion + blur), ``[B, C, H, W] -> [B, C, 2H, 2W]``."""

    def __init__(self, kernel: Sequence[float] = (1, 3, 3, 1), factor: int = 2):
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel) * factor**2
        self.register_buffer("kernel", k, persistent=False)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

        self.fast = tuple(kernel) == (1, 3, 3, 1) and factor == 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fast:
            return upsample2x_1331(x)
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


def upsample2x_1331(x: torch.Tensor) -> torch.Tensor:
    """Exactly ``upfirdn2d(x, 4·blur[1,3,3,1], up=2, pad=(2, 1))`` in polyphase form (zero borders):
    per axis ``out[2m] = ¾x[m] + ¼x[m−1]``, ``out[2m+1] = ¾x[m] + ¼x[m+1]``. faster on CPU than the
    zero-insertion + depthwise-conv route for the few-channel flow / RGB skips."""
    xp = F.pad(x, (1, 1))
    c = 0.75 * xp[..., 1:-1]
    x = torch.stack((c + 0.25 * xp[..., :-2], c + 0.25 * xp[..., 2:]), dim=-1).flatten(-2)
    xp = F.pad(x, (0, 0, 1, 1))
    c = 0.75 * xp[..., 1:-1, :]
    return torch.stack((c + 0.25 * xp[..., :-2, :], c + 0.25 * xp[..., 2:, :]), dim=-2).flatten(-3, -2)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate: ``conv(x, W / sqrt(in·k²)) + b``, ``W ~ N(0, 1)``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, k={k}, stride={self.stride}, padding={self.padding}"


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: ``x (W·lr_mul/sqrt(in))ᵀ + b·lr_mul``.

    ``activation="fused_lrelu"`` applies :func:`fused_leaky_relu` with the bias.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), b)
        return F.linear(x, self.weight * self.scale, b)


class ConvLayer(nn.Sequential):
    """[Blur] → EqualConv2d (stride 2 when ``downsample``) → [FusedLeakyReLU | ScaledLeakyReLU]."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = len(blur_kernel) - 2 + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch) if bias else ScaledLeakyReLU())
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual down block: ``(conv2(conv1(x)) + skip(x)) / √2``, ``[B, in, H, H] -> [B, out, H/2, H/2]``."""

    def __init__(self, in_ch: int, out_ch: int, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, blur_kernel=blur_kernel, bias=False,
                              activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / _SQRT2


def downsample_pyramid(size: int, channels, blur_kernel) -> nn.ModuleDict:
    """Residual blocks halving ``size`` down to 4×4, keyed by their *output* resolution.

    ``channels(res)`` gives the width at resolution ``res``; block ``str(r)`` maps
    ``[B, channels(2r), 2r, 2r] -> [B, channels(r), r, r]``. Shared by the encoder and the discriminator;
    keying by resolution (not list index) is what lets a model grow 128 → 256 → 512.
    """
    blocks = nn.ModuleDict()
    res = size
    while res > 4:
        blocks[str(res // 2)] = ResBlock(channels(res), channels(res // 2), blur_kernel=blur_kernel)
        res //= 2
    return blocks


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution ``[B, in, H, W], w [B, style_dim] -> [B, out, H', W']``.

    ``s = A(w)`` (affine, bias init 1) scales the input channels; with ``demodulate`` each output channel is
    renormalised by ``rsqrt(Σ_{in,k,k} (W·s)² + 1e-8)``. Computed in the equivalent "scale activations"
    form (one shared conv for the whole batch) instead of a grouped per-sample conv; identical maths.
    ``upsample``: stride-2 transposed conv followed by a ×4-scaled blur, output ``2H``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size**2)
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)

    def forward_raw(self, x: torch.Tensor, style: torch.Tensor):
        """Modulated (and, if ``upsample``, blurred) conv output *before* demodulation, and the per-sample
        demodulation factors ``d [B, out]`` (None without demodulation). Blur and ``×d`` commute (``d`` is
        constant per channel), which lets :class:`StyledConv` fuse ``×d``, bias and activation."""
        s = self.modulation(style)  # [B, in]
        w = self.weight[0] * self.scale  # [out, in, k, k]
        x = x * s[:, :, None, None].to(x.dtype)
        if self.upsample:
            x = self.blur(F.conv_transpose2d(x, w.transpose(0, 1), stride=2, padding=0))
        else:
            x = F.conv2d(x, w, padding=self.padding)
        d = None
        if self.demodulate:
            wsq = w.float().pow(2).sum(dim=(2, 3))  # [out, in]
            d = torch.rsqrt(s.float().pow(2) @ wsq.t() + 1e-8)  # [B, out]
        return x, d

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x, d = self.forward_raw(x, style)
        return x if d is None else x * d[:, :, None, None].to(x.dtype)

    def extra_repr(self) -> str:
        return (f"{self.in_ch}, {self.out_ch}, k={self.kernel_size}, demodulate={self.demodulate}, "
                f"upsample={self.upsample}")


class StyledConv(nn.Module):
    """ModulatedConv2d → FusedLeakyReLU. (StyleGAN's noise injection is omitted: LIA never feeds noise.)"""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel)
        self.act = FusedLeakyReLU(out_ch)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # fused: lrelu(x·d + b)·√2 == lrelu(x·(d√2) + b√2)  (leaky ReLU is positively homogeneous)
        y, d = self.conv.forward_raw(x, style)
        b = (self.act.bias * _SQRT2).view(1, -1, 1, 1).to(y.dtype)
        y = torch.addcmul(b, y, (d * _SQRT2)[:, :, None, None].to(y.dtype))
        if not torch.is_grad_enabled():
            return F.leaky_relu_(y, 0.2)
        return F.leaky_relu(y, 0.2)


class ToRGB(nn.Module):
    """``ConvLayer(C→3, 1×1)`` (with its leaky ReLU, as in LIA) ``+ bias``, plus the upsampled previous RGB.

    ``[B, C, H, H] (+ skip [B, 3, H/2, H/2]) -> [B, 3, H, H]``.
    """

    def __init__(self, in_ch: int, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = ConvLayer(in_ch, 3, 1)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.upsample = Upsample(blur_kernel)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def identity_grid(size: int, batch: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Identity sampling grid ``[B, H, W, 2]`` (x, y) in ``[-1, 1]`` for ``grid_sample(align_corners=True)``.
    """
    lin = torch.linspace(-1.0, 1.0, size, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack((gx, gy), dim=-1).unsqueeze(0).expand(batch, -1, -1, -1)


def warp(feature: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``feature [B, C, H, W]`` by ``offset [B, 2, H, W]`` (x, y in normalised units).

    Zero offset is an exact identity (``align_corners=True`` matches the ``linspace(-1, 1)`` grid; LIA pairs
    that grid with ``align_corners=False``, a half-pixel shift we do not reproduce).
    """
    b, _, h, w = feature.shape
    grid = identity_grid(h, b, feature.device, offset.dtype) + offset.permute(0, 2, 3, 1)
    return F.grid_sample(feature, grid.to(feature.dtype), mode="bilinear", padding_mode="zeros",
                         align_corners=True)


class ToFlow(nn.Module):
    """The warping head: predicts a flow field and an occlusion mask from the decoder feature and applies
    them to the encoder feature of the same resolution.

    ``o = ModConv(C→3, 1×1, no demod)(y, w) + b (+ up(o_prev))``; ``offset = tanh(o[:, :2])``,
    ``mask = sigmoid(o[:, 2:])``; ``F_warp = warp(F_enc, offset) · mask``; decoder feature for the next level
    ``y' = F_warp + y · (1 − mask)``. Returns ``(F_warp, y', o)``.

    ``zero_init=True`` (default) starts the head at the identity warp with mask ½ (conv weight zero), so
    copying the source is available from the first step; LIA initialises it randomly (N(0, 1)), which
    starts from large random displacements and converges much more slowly on a short CPU budget.
    """

    def __init__(self, in_ch: int, style_dim: int, blur_kernel: Sequence[float] = (1, 3, 3, 1),
                 zero_init: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        if zero_init:
            with torch.no_grad():
                self.conv.weight.zero_()
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.upsample = Upsample(blur_kernel)

    def forward(self, y: torch.Tensor, style: torch.Tensor, feature: torch.Tensor,
                skip: torch.Tensor | None = None):
        o = self.conv(y, style) + self.bias
        if skip is not None:
            o = o + self.upsample(skip)
        offset = torch.tanh(o[:, :2])
        mask = torch.sigmoid(o[:, 2:3])
        f_warp = warp(feature, offset) * mask
        return f_warp, f_warp + y * (1.0 - mask), o
