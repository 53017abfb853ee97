"""StyleGAN2-style residual discriminator, size-parametric, modules keyed by resolution."""

from __future__ import annotations

import torch
from torch import nn

from vqtalker.motion.config import MotionConfig
from vqtalker.motion.ops import ConvLayer, EqualLinear, downsample_pyramid


class Discriminator(nn.Module):
    """``x [B, 3, S, S] -> logits [B]`` (and, with ``return_features=True``, the ResBlock outputs).

    1×1 stem, ResBlocks down to 4×4, minibatch-stddev (group ``min(B, 4)``, 1 feature), 3×3 conv,
    ``EqualLinear(C·16 → C, lrelu)``, ``EqualLinear(C → 1)``.
    """

    def __init__(self, cfg: MotionConfig):
        super().__init__()
        self.cfg = cfg
        ch, bk, s = cfg.disc_channels, cfg.blur_kernel, cfg.size
        self.stem = ConvLayer(3, ch(s), 1, blur_kernel=bk)
        self.blocks = downsample_pyramid(s, ch, bk)
        self.final_conv = ConvLayer(ch(4) + 1, ch(4), 3, blur_kernel=bk)
        self.final_linear = nn.Sequential(
            EqualLinear(ch(4) * 16, ch(4), activation="fused_lrelu"), EqualLinear(ch(4), 1)
        )

    @staticmethod
    def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(b, group)
        while b % g:
            g -= 1
        y = x.float().view(g, b // g, 1, c, h, w)
        y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8).mean(dim=(2, 3, 4))  # [b/g, 1]
        y = y.view(b // g, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)
        return torch.cat([x, y], dim=1)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        y = self.stem(x)
        feats = []
        for block in self.blocks.values():
            y = block(y)
            feats.append(y)
        y = self.final_conv(self.minibatch_stddev(y))
        logits = self.final_linear(y.flatten(1)).squeeze(1)
        return (logits, feats) if return_features else logits
