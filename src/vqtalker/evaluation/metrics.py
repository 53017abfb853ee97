"""Image-quality metrics in plain torch (no torchvision): PSNR and SSIM.

Inputs are images ``[B, C, H, W]`` in ``[-1, 1]`` (the project's convention) unless ``data_range`` says
otherwise; both functions return one value per image ``[B]``. They are the batched, differentiable-friendly
twins of :func:`vqtalker.evaluation.quality.ssim_psnr` (uint8 videos, numpy/OpenCV; same definition), used
by training validation and the reconstruction report; ``tests/test_evaluation_quality.py`` checks that the
two agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _to_unit(x: torch.Tensor, data_range: str) -> torch.Tensor:
    if data_range == "-1,1":
        return (x.float().clamp(-1, 1) + 1) / 2
    if data_range == "0,1":
        return x.float().clamp(0, 1)
    if data_range == "0,255":
        return x.float().clamp(0, 255) / 255
    raise ValueError(f"data_range must be '-1,1', '0,1' or '0,255', got {data_range!r}")


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: str = "-1,1") -> torch.Tensor:
    """Peak signal-to-noise ratio in dB (peak = 1 after mapping to [0, 1]); ``[B]``."""
    p, t = _to_unit(pred, data_range), _to_unit(target, data_range)
    mse = (p - t).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    ax = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: str = "-1,1", window: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004): 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03,
    computed per channel on the valid region and averaged; ``[B]``."""
    p, t = _to_unit(pred, data_range), _to_unit(target, data_range)
    c = p.shape[1]
    win = min(window, p.shape[-1], p.shape[-2])
    w = _gaussian_window(win, sigma, c, p.device, p.dtype)

    def filt(x):
        return F.conv2d(x, w, groups=c)

    mu_p, mu_t = filt(p), filt(t)
    s_pp = filt(p * p) - mu_p**2
    s_tt = filt(t * t) - mu_t**2
    s_pt = filt(p * t) - mu_p * mu_t
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_p * mu_t + c1) * (2 * s_pt + c2)
    den = (mu_p**2 + mu_t**2 + c1) * (s_pp + s_tt + c2)
    return (num / den).flatten(1).mean(1)
