"""Stage-1 losses: L1, eye/mouth-weighted L1, perceptual (VGG19 pyramid or D feature matching), GAN.

Generator objective (paper weights; configurable through :class:`~vqtalker.motion.config.MotionConfig`)::

    L_G = λ_l1·mean|x̂−x| + λ_eye·mean(M_eye⊙|x̂−x|) + λ_mouth·mean(M_mouth⊙|x̂−x|)
          + λ_perc·L_perc + λ_adv·softplus(−D(x̂))

with ``mean`` over *all* pixels and channels (so the region terms are ≈ λ × region-area-fraction), λ_eye =
λ_mouth = 1000, λ_perc = 0.01, λ_adv = 1. ``L_perc`` is the multi-scale VGG19 pyramid loss when a local
VGG19 weights file is given; otherwise (offline default) it is *discriminator feature matching*:
``Σ_layers 10·mean|D_l(x̂) − D_l(x)|`` over the discriminator's ResBlock outputs — a documented substitute,
not the paper's perceptual loss.
"""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from vqtalker.errors import MissingWeightsError, VQTalkerError

# torchvision's vgg19().features layout: (out_channels or "M" for max-pool)
_VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512]
_VGG_SLICES = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 30)]  # relu1_1 … relu5_1


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def region_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean(mask ⊙ |pred − target|)`` over all pixels and channels; ``mask [B, 1, H, W]`` in [0, 1]."""
    if mask.shape[-2:] != pred.shape[-2:]:
        mask = F.interpolate(mask.float(), size=pred.shape[-2:], mode="nearest")
    return (mask.to(pred.dtype) * (pred - target).abs()).mean()


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean()


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def feature_matching(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    """``Σ_l 10·mean|φ_l(x̂) − φ_l(x)|`` (real features detached)."""
    return sum(10.0 * (f - r.detach()).abs().mean() for f, r in zip(fake_feats, real_feats))


class VGG19Features(nn.Module):
    """VGG19 convolutional trunk with torchvision's ``features.N`` parameter names (no torchvision needed).

    ``forward(x in [-1, 1]) -> [relu1_1, relu2_1, relu3_1, relu4_1, relu5_1]``; input is mapped to [0, 1]
    and normalised with the ImageNet mean/std.
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in _VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
                c = v
        self.features = nn.Sequential(*layers[:30])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> VGG19Features:
        """Load ImageNet VGG19 weights from a local safetensors file (torchvision key names, optionally
        without the ``features.`` prefix; classifier keys are ignored)."""
        if not path or not os.path.isfile(path):
            raise MissingWeightsError(
                f"VGG19 weights not found at {path!r}: give a local safetensors file converted from "
                "torchvision's vgg19 (keys features.N.weight/bias), or use --perceptual fm "
                "(the offline default)"
            )
        from safetensors.torch import load_file

        sd = load_file(str(path))
        sd = {(k if k.startswith("features.") else f"features.{k}"): v for k, v in sd.items()
              if not k.startswith("classifier")}
        model = cls()
        own = model.state_dict()
        missing = [k for k in own if k not in sd]
        if missing:
            raise VQTalkerError(f"{path}: not a VGG19 features file (missing {missing[0]} …)")
        model.load_state_dict({k: sd[k] for k in own})
        return model.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x + 1) / 2 - self.mean) / self.std
        out = []
        for a, b in _VGG_SLICES:
            x = self.features[a:b](x)
            out.append(x)
        return out


def _gaussian_downsample(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Anti-aliased downsampling by ``scale`` (σ = (1/scale − 1)/2, kernel 2·round(4σ)+1)."""
    if scale == 1.0:
        return x
    sigma = (1 / scale - 1) / 2
    ks = 2 * round(sigma * 4) + 1
    ax = torch.arange(ks, dtype=x.dtype, device=x.device) - (ks - 1) / 2
    g = torch.exp(-(ax**2) / (2 * sigma**2))
    g = g / g.sum()
    k2 = (g[:, None] * g[None, :])[None, None].expand(x.shape[1], 1, ks, ks)
    x = F.conv2d(F.pad(x, (ks // 2,) * 4), k2, groups=x.shape[1])
    step = int(round(1 / scale))
    return x[:, :, ::step, ::step]


class VGGPyramidLoss(nn.Module):
    """Multi-scale perceptual loss ``Σ_scales Σ_layers 10·mean|φ(x̂_s) − φ(x_s)|``, scales {1, ½, ¼, ⅛}."""

    def __init__(self, vgg: VGG19Features, scales=(1.0, 0.5, 0.25, 0.125)):
        super().__init__()
        self.vgg = vgg
        self.scales = scales

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = pred.new_zeros(())
        for s in self.scales:
            p, t = _gaussian_downsample(pred, s), _gaussian_downsample(target, s)
            fp, ft = self.vgg(p), self.vgg(t)
            for a, b in zip(fp, ft):
                loss = loss + 10.0 * (a - b.detach()).abs().mean()
        return loss


def warp_loss(flows: dict, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over levels of ``L1(warp(source_r, tanh(o_r[:, :2])), target_r)``.

    ``flows``: ``{res: o [B, 3, res, res]}`` from :meth:`Renderer.forward` (``aux["flows"]``); ``source``,
    ``target``: ``[B, 3, S, S]`` images in [-1, 1], area-downsampled to each ``res``. A photometric signal for
    every flow head, independent of its occlusion mask (not in the paper; ``lambda_warp``).
    """
    from vqtalker.motion.ops import warp

    if not flows:
        raise ValueError("warp_loss needs the renderer's flows (aux['flows'])")
    total = 0.0
    for res, o in flows.items():
        src = F.interpolate(source.float(), size=(res, res), mode="area")
        tgt = F.interpolate(target.float(), size=(res, res), mode="area")
        total = total + (warp(src, torch.tanh(o[:, :2].float())) - tgt).abs().mean()
    return total / len(flows)


def generator_loss(cfg, pred, target, eye_mask=None, mouth_mask=None, disc=None, perceptual=None):
    """Return ``(total, parts)``; ``disc`` is the (unwrapped) discriminator or None (no adversarial / FM
    terms), ``perceptual`` a :class:`VGGPyramidLoss` or None (then feature matching with ``disc``)."""
    parts: dict[str, torch.Tensor] = {}
    parts["l1"] = l1_loss(pred, target)
    total = cfg.lambda_l1 * parts["l1"]
    if eye_mask is not None and cfg.lambda_eye:
        parts["eye"] = region_l1(pred, target, eye_mask)
        total = total + cfg.lambda_eye * parts["eye"]
    if mouth_mask is not None and cfg.lambda_mouth:
        parts["mouth"] = region_l1(pred, target, mouth_mask)
        total = total + cfg.lambda_mouth * parts["mouth"]
    need_d = disc is not None and (cfg.lambda_adv or (perceptual is None and cfg.lambda_perc))
    if need_d:
        fake_logits, fake_feats = disc(pred, return_features=True)
        if cfg.lambda_adv:
            parts["adv"] = g_nonsaturating(fake_logits)
            total = total + cfg.lambda_adv * parts["adv"]
    if cfg.lambda_perc:
        if perceptual is not None:
            parts["perc"] = perceptual(pred, target)
            total = total + cfg.lambda_perc * parts["perc"]
        elif disc is not None:
            with torch.no_grad():
                _, real_feats = disc(target, return_features=True)
            parts["fm"] = feature_matching(fake_feats, real_feats)
            total = total + cfg.lambda_perc * parts["fm"]
    if not math.isfinite(float(total.detach())):
        raise FloatingPointError("non-finite generator loss")
    return total, parts
