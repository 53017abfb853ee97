"""The stage-1 generator: encoder → motion MLP → GRFSQ on ``f_t − f_s`` → direction bank → renderer.

Latent composition (architecture notes §2.6)::

    h_s, feats = E(x_s)               # f_g = h_s [B, L]
    f_s = MLP(h_s); f_t = MLP(E(x_t).h)   # [B, 120]
    Δ̂, idx = GRFSQ(f_t − f_s)         # [B, 120], [B, 4, 12]
    w = f_g + D(f_s + Δ̂)              # [B, L]
    w = w + m · v                      # optional mouth channel, m = o_t − o_s [B] (cfg.mouth_channel)
    x̂ = Renderer(w, feats)            # [B, 3, S, S]
    x̂_H = FullResWarp(...)            # optional (cfg.fullres): the source crop warped at H (motion.fullres)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from vqtalker.motion.config import MotionConfig
from vqtalker.motion.discriminator import Discriminator
from vqtalker.motion.encoder import DecouplingMLPs, DirectionBank, ImageEncoder, MotionMLP
from vqtalker.motion.fullres import FullResWarp, resize
from vqtalker.motion.renderer import Renderer


def build_quantizer(cfg: MotionConfig) -> nn.Module:
    """The GRFSQ of :mod:`vqtalker.quantize` with the config's groups / layers / levels."""
    from vqtalker.quantize import GroupResidualFSQ

    return GroupResidualFSQ(
        dim=cfg.motion_dim,
        groups=cfg.quant_groups,
        num_quantizers=cfg.num_quantizers,
        levels=tuple(cfg.levels),
    )


@dataclass
class SourceState:
    """Everything the renderer needs from the source (reference) image, computed once.

    ``f_g [B, L]`` global face feature, ``f_s [B, M]`` source motion code, ``feats {res: [B, C, res, res]}``;
    for a model with the full-resolution head also ``image [B, 3, S, S]`` (the source at the network size)
    and ``image_hr [B, 3, H, H]`` (the source crop at its own, larger size; None = ``image``).
    """

    f_g: torch.Tensor
    f_s: torch.Tensor
    feats: dict[int, torch.Tensor]
    image: torch.Tensor | None = None
    image_hr: torch.Tensor | None = None
    _sized: dict = field(default_factory=dict, repr=False, compare=False)

    def to(self, *args, **kw) -> SourceState:
        def mv(t):
            return None if t is None else t.to(*args, **kw)

        return SourceState(
            mv(self.f_g),
            mv(self.f_s),
            {r: f.to(*args, **kw) for r, f in self.feats.items()},
            mv(self.image),
            mv(self.image_hr),
        )

    def source_at(self, size: int) -> torch.Tensor:
        """The source crop at ``size`` ``[B, 3, size, size]`` (resized once per size from the largest
        copy)."""
        if size not in self._sized:
            src = self.image_hr if self.image_hr is not None else self.image
            if src is None:
                raise ValueError("this source state has no image (the model has no full-resolution head)")
            self._sized[size] = resize(src.float(), size)
        return self._sized[size]


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
        # full-resolution warping head (not in the paper, see MotionConfig.fullres / vqtalker.motion.fullres)
        self.fullres = FullResWarp(cfg.channels(cfg.size), cfg.fullres_hidden) if cfg.fullres else None

    # -- pieces -----------------------------------------------------------------------------------
    def motion_code(self, h: torch.Tensor) -> torch.Tensor:
        """``h [B, L] -> f [B, M]``."""
        if self.decouple is not None:
            h = self.decouple(h)
        return self.motion_mlp(h)

    def encode_source(self, source: torch.Tensor, source_hr: torch.Tensor | None = None) -> SourceState:
        """``source [B, 3, S, S] -> SourceState``; ``source_hr [B, 3, H, H]``: the same crop at a larger
        size, kept for the full-resolution head (ignored by a model without one)."""
        h, feats = self.encoder(source)
        if self.fullres is None:
            return SourceState(h, self.motion_code(h), feats)
        return SourceState(h, self.motion_code(h), feats, image=source, image_hr=source_hr)

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
        self,
        state: SourceState,
        delta: torch.Tensor,
        mouth: torch.Tensor | None = None,
        size: int | None = None,
    ) -> torch.Tensor:
        """``delta [B, M] (, mouth [B]) -> image [B, 3, S, S]`` (a batch-1 state is broadcast over the
        frames). A model with the full-resolution head renders at ``size`` (default ``S``) by warping the
        state's source crop; without one, ``size`` must be None or ``S``."""
        w = self.latent(state, delta, mouth)
        if self.fullres is None:
            if size not in (None, self.cfg.size):
                raise ValueError(f"this model renders at {self.cfg.size} px only (no full-resolution head)")
            return self.renderer(w, state.feats)
        rgb, y, flows = self.renderer.run(w, state.feats)
        out, _, _ = self.fullres(
            y, flows[self.cfg.base_level], rgb, state.image, state.source_at(size or self.cfg.size)
        )
        return out

    # -- training path ------------------------------------------------------------------------------
    def forward(
        self,
        source: torch.Tensor,
        target: torch.Tensor,
        aux: dict | None = None,
        mouth: torch.Tensor | None = None,
        source_hr: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Training path: encode both, quantize ``f_t − f_s``, render (``aux``: :meth:`Renderer.forward`;
        ``mouth [B]``: o_t − o_s for the mouth channel). With the full-resolution head and ``source_hr
        [B, 3, H, H]`` also ``image_hr [B, 3, H, H]`` and the head's ``offset [B, 2, S, S]``."""
        b = source.shape[0]
        h, feats = self.encoder(torch.cat([source, target], 0))
        f = self.motion_code(h)
        f_s, f_t = f[:b], f[b:]
        state = SourceState(h[:b], f_s, {r: x[:b] for r, x in feats.items()})
        delta, indices = self.quantizer(f_t - f_s)
        image, y, flows = self.renderer.run(self.latent(state, delta, mouth), state.feats, aux=aux)
        out = {"image": image, "indices": indices, "delta": delta, "f_s": f_s, "f_t": f_t}
        if self.fullres is not None and source_hr is not None:
            out["image_hr"], out["offset"], out["mask_logit"] = self.fullres(
                y, flows[self.cfg.base_level], image, source, source_hr
            )
        return out


def build_generator(cfg: MotionConfig) -> MotionGenerator:
    return MotionGenerator(cfg)


def build_discriminator(cfg: MotionConfig) -> Discriminator:
    """The discriminator at the training output size (``cfg.output_size``)."""
    return Discriminator(cfg if cfg.output_size == cfg.size else cfg.replace(size=cfg.output_size))


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
