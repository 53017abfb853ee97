"""The stage-1 generator: encoder → motion MLP → GRFSQ on ``f_t − f_s`` → direction bank → renderer.

Latent composition (architecture notes §2.6)::

    h_s, feats = E(x_s)               # f_g = h_s [B, L]
    f_s = MLP(h_s); f_t = MLP(E(x_t).h)   # [B, 120]
    Δ̂, idx = GRFSQ(f_t − f_s)         # [B, 120], [B, 4, 12]
    w = f_g + D(f_s + Δ̂)              # [B, L]
    w = w + m · v                      # optional mouth channel, m = o_t − o_s [B] (cfg.mouth_channel)
    x̂ = Renderer(w, feats)            # [B, 3, S, S]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vqtalker.motion.config import MotionConfig
from vqtalker.motion.discriminator import Discriminator
from vqtalker.motion.encoder import DecouplingMLPs, DirectionBank, ImageEncoder, MotionMLP
from vqtalker.motion.renderer import Renderer


def build_quantizer(cfg: MotionConfig) -> nn.Module:
    """The GRFSQ of :mod:`vqtalker.quantize` with the config's groups / layers / levels."""
    from vqtalker.quantize import GroupResidualFSQ

    return GroupResidualFSQ(dim=cfg.motion_dim, groups=cfg.quant_groups, num_quantizers=cfg.num_quantizers,
                            levels=tuple(cfg.levels))


@dataclass
class SourceState:
    """Everything the renderer needs from the source (reference) image, computed once.

    ``f_g [B, L]`` global face feature, ``f_s [B, M]`` source motion code, ``feats {res: [B, C, res, res]}``.
    """

    f_g: torch.Tensor
    f_s: torch.Tensor
    feats: dict[int, torch.Tensor]

    def to(self, *args, **kw) -> SourceState:
        return SourceState(self.f_g.to(*args, **kw), self.f_s.to(*args, **kw),
                           {r: f.to(*args, **kw) for r, f in self.feats.items()})


class MotionGenerator(nn.Module):
    """Stage-1 generator. ``forward(source, target) -> dict(image, indices, delta, f_s, f_t)``."""

    def __init__(self, cfg: MotionConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ImageEncoder(cfg)
        self.decouple = DecouplingMLPs(cfg.latent_dim) if cfg.decouple_mlps else None
        self.motion_mlp = MotionMLP(cfg)
        self.direction = DirectionBank(cfg.latent_dim, cfg.motion_dim)
        self.quantizer = build_quantizer(cfg)
        self.renderer = Renderer(cfg)
        # mouth channel (not in the paper, see MotionConfig.mouth_channel): m [B] -> m · v, v [L] starts at 0
        k = self.renderer.num_styles if cfg.mouth_per_layer else 1
        self.mouth = nn.Linear(1, cfg.latent_dim * k, bias=False) if cfg.mouth_channel else None
        if self.mouth is not None:
            nn.init.zeros_(self.mouth.weight)

    # -- pieces -----------------------------------------------------------------------------------
    def motion_code(self, h: torch.Tensor) -> torch.Tensor:
        """``h [B, L] -> f [B, M]``."""
        if self.decouple is not None:
            h = self.decouple(h)
        return self.motion_mlp(h)

    def encode_source(self, source: torch.Tensor) -> SourceState:
        """``source [B, 3, S, S] -> SourceState``."""
        h, feats = self.encoder(source)
        return SourceState(h, self.motion_code(h), feats)

    def encode_motion(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames [B, 3, S, S] -> f [B, M]`` (the skip features are computed but discarded)."""
        h, _ = self.encoder(frames)
        return self.motion_code(h)

    def latent(
        self, state: SourceState, delta: torch.Tensor, mouth: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``w = f_g + D(f_s + Δ̂) [+ m · v]``; ``delta [B, M]`` (or ``[T, M]`` against a batch-1 state);
        ``mouth [B]``: inner-lip gap of the target minus the source's (20 × gap / crop side), used only by a
        model with the mouth channel (ignored otherwise; None = 0). With ``cfg.mouth_per_layer`` and a mouth
        input the result is per renderer layer, ``[B, K, L]``."""
        w = state.f_g + self.direction(state.f_s + delta)
        if self.mouth is not None and mouth is not None:
            m = torch.as_tensor(mouth, dtype=w.dtype, device=w.device).reshape(-1, 1)
            off = self.mouth(m)
            if self.cfg.mouth_per_layer:
                return w[:, None, :] + off.view(off.shape[0], -1, w.shape[-1])
            w = w + off
        return w

    def render(
        self, state: SourceState, delta: torch.Tensor, mouth: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``delta [B, M] (, mouth [B]) -> image [B, 3, S, S]`` (a batch-1 state is broadcast over the
        frames)."""
        return self.renderer(self.latent(state, delta, mouth), state.feats)

    # -- training path ------------------------------------------------------------------------------
    def forward(
        self, source: torch.Tensor, target: torch.Tensor, aux: dict | None = None,
        mouth: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Training path: encode both, quantize ``f_t − f_s``, render (``aux``: :meth:`Renderer.forward`;
        ``mouth [B]``: o_t − o_s for the mouth channel)."""
        b = source.shape[0]
        h, feats = self.encoder(torch.cat([source, target], 0))
        f = self.motion_code(h)
        f_s, f_t = f[:b], f[b:]
        state = SourceState(h[:b], f_s, {r: x[:b] for r, x in feats.items()})
        delta, indices = self.quantizer(f_t - f_s)
        image = self.renderer(self.latent(state, delta, mouth), state.feats, aux=aux)
        return {"image": image, "indices": indices, "delta": delta, "f_s": f_s, "f_t": f_t}


def build_generator(cfg: MotionConfig) -> MotionGenerator:
    return MotionGenerator(cfg)


def build_discriminator(cfg: MotionConfig) -> Discriminator:
    return Discriminator(cfg)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def grow(model: nn.Module, new_size: int) -> nn.Module:
    """Return a copy of ``model`` (a :class:`MotionGenerator` or :class:`Discriminator`) built for
    ``new_size`` with every tensor whose name and shape exist in both copied exactly.

    Modules are keyed by resolution (``encoder.blocks.64``, ``renderer.levels.64`` …), so names map by
    resolution, never by list index. Only the new resolution's layers (and the input stem, whose width
    depends on the size) keep their fresh initialisation.
    """
    cfg = model.cfg.replace(size=new_size, name=f"{model.cfg.name}->grown{new_size}")
    new = type(model)(cfg)
    old_sd = model.state_dict()
    new_sd = new.state_dict()
    with torch.no_grad():
        for k, v in new_sd.items():
            if k in old_sd and old_sd[k].shape == v.shape:
                v.copy_(old_sd[k])
    return new.to(next(model.parameters()).device)
