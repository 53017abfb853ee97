"""Image encoder E (global face feature f_g + multi-scale skip features) and the motion MLP (f, 120-d)."""

from __future__ import annotations

import torch
from torch import nn

from vqtalker.motion.config import MotionConfig
from vqtalker.motion.ops import ConvLayer, EqualConv2d, EqualLinear, downsample_pyramid


class ImageEncoder(nn.Module):
    """``x [B, 3, S, S] -> (h [B, latent_dim], feats {res: [B, ch(res), res, res]} for res = 8 … S)``.

    Layout (LIA ``EncoderApp``, re-implemented): 1×1 stem at ``S``; one :class:`ResBlock` per halving down to
    4×4 (``blocks[str(res)]`` produces resolution ``res``, so modules are keyed by resolution and a grown
    model shares names); a 4×4 valid conv to ``[B, latent_dim, 1, 1]``.

    ``hal=True`` (AniTalker-style hierarchical aggregation): every layer output is average-pooled, mapped to
    ``latent_dim`` by an :class:`EqualLinear` where its width differs, and ``h`` is the softmax-weighted sum.
    """

    def __init__(self, cfg: MotionConfig):
        super().__init__()
        self.cfg = cfg
        s, ch, bk = cfg.size, cfg.channels, cfg.blur_kernel
        self.stem = ConvLayer(3, ch(s), 1, blur_kernel=bk)
        self.blocks = downsample_pyramid(s, ch, bk)
        self.final = EqualConv2d(ch(4), cfg.latent_dim, 4, padding=0, bias=False)
        if cfg.hal:
            self.hal_proj = nn.ModuleDict()
            for r in [s] + [int(k) for k in self.blocks]:
                if ch(r) != cfg.latent_dim:
                    self.hal_proj[str(r)] = EqualLinear(ch(r), cfg.latent_dim)
            self.hal_logits = nn.ParameterDict(
                {str(r): nn.Parameter(torch.zeros(1)) for r in [s] + [int(k) for k in self.blocks] + [1]}
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        s = self.cfg.size
        y = self.stem(x)
        outs = {s: y}
        for key, block in self.blocks.items():
            y = block(y)
            outs[int(key)] = y
        h = self.final(y).flatten(1)  # [B, latent]
        feats = {r: outs[r] for r in self.cfg.resolutions}
        if self.cfg.hal:
            vecs, logits = [], []
            for r, out in outs.items():
                v = out.mean(dim=(2, 3))
                if str(r) in self.hal_proj:
                    v = self.hal_proj[str(r)](v)
                vecs.append(v)
                logits.append(self.hal_logits[str(r)])
            vecs.append(h)
            logits.append(self.hal_logits["1"])
            weight = torch.softmax(torch.cat(logits), dim=0)
            h = (torch.stack(vecs, 0) * weight[:, None, None]).sum(0)
        return h, feats


class DecouplingMLPs(nn.Module):
    """AniTalker-style identity decoupling: three 2-layer ReLU MLPs ``latent → latent → latent``.

    ``forward(h)`` returns the identity-excluded vector, which feeds the motion MLP. The identity and
    identity-density heads are exposed (``identity(h)``, ``density(h)``) for losses that use them; the stage-1
    losses of this project do not, so with ``decouple_mlps=True`` they only add parameters (the option exists
    to reproduce the paper's parameter count).
    """

    def __init__(self, dim: int):
        super().__init__()

        def mlp():
            return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

        self.identity = mlp()
        self.density = mlp()
        self.excluded = mlp()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.excluded(h)


class MotionMLP(nn.Module):
    """``h [B, latent] -> f [B, motion_dim]``: (n−1) × EqualLinear(latent, latent) + EqualLinear(latent, M).

    LIA's layers have no activation (a purely linear map); ``act="lrelu"`` adds a leaky ReLU between them.
    """

    def __init__(self, cfg: MotionConfig):
        super().__init__()
        act = "fused_lrelu" if cfg.motion_mlp_act == "lrelu" else None
        layers = [EqualLinear(cfg.latent_dim, cfg.latent_dim, activation=act)
                  for _ in range(cfg.motion_mlp_layers - 1)]
        layers.append(EqualLinear(cfg.latent_dim, cfg.motion_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class DirectionBank(nn.Module):
    """Linear motion decomposition: ``D(α) = α Qᵀ`` with ``Q = qr(W)`` orthonormal columns ``[latent, M]``.

    ``W`` is re-orthogonalised on every call (reduced QR, always in fp32, also under autocast).
    ``α [..., M] -> [..., latent]``.
    """

    def __init__(self, latent_dim: int, motion_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(latent_dim, motion_dim))

    def basis(self) -> torch.Tensor:
        with torch.autocast(device_type=self.weight.device.type, enabled=False):
            q, _ = torch.linalg.qr(self.weight.float() + 1e-8)
        return q

    def forward(self, alpha: torch.Tensor) -> torch.Tensor:
        q = self.basis()
        return (alpha.float() @ q.t()).to(alpha.dtype)
