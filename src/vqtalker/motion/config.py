"""One dataclass describes a stage-1 motion tokenizer; named presets cover the paper and the CPU builds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from vqtalker.errors import VQTalkerError

#: StyleGAN2/LIA channel table (feature channels per resolution), shared by encoder, renderer and D.
BASE_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}


@dataclass
class MotionConfig:
    """Stage-1 architecture and loss weights.

    Shapes: images ``[B, 3, size, size]`` in ``[-1, 1]``; global feature / latent ``w`` ``[B, latent_dim]``;
    motion code ``[B, motion_dim]`` (= ``quant_groups`` × ``motion_dim / quant_groups``); tokens per frame
    ``[num_quantizers, quant_groups]`` with ``prod(levels)`` codes each.
    """

    name: str = "paper-256"
    size: int = 256
    latent_dim: int = 512  # f_g width = style width of the renderer (paper: 512)
    channel_multiplier: float = 1.0  # scales BASE_CHANNELS
    max_channels: int = 512
    min_channels: int = 8
    motion_dim: int = 120
    motion_mlp_layers: int = 5  # 4 × (latent→latent) + latent→motion_dim (LIA)
    motion_mlp_act: str = "none"  # "none" (LIA: purely linear) | "lrelu"
    quant_groups: int = 12
    num_quantizers: int = 4
    levels: tuple[int, ...] = (5, 5, 5, 5)
    hal: bool = False  # AniTalker-style hierarchical aggregation of all encoder layers into f_g
    decouple_mlps: bool = False  # AniTalker-style identity / density / identity-excluded MLPs
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)
    disc_channel_multiplier: float | None = None  # None: same as the generator
    # loss weights (paper defaults)
    lambda_l1: float = 1.0
    lambda_eye: float = 1000.0
    lambda_mouth: float = 1000.0
    lambda_perc: float = 0.01
    lambda_adv: float = 1.0
    # not in the paper: L1 between the source image warped by each renderer level's flow and the target, at
    # that level's resolution (vqtalker.motion.losses.warp_loss). It gives every flow head a direct signal,
    # also when its occlusion mask is ~0 (a head that gets none can die: saturated flow, mask ~0). 0 = off.
    lambda_warp: float = 0.0
    # not in the paper: the "mouth channel". The renderer also takes the inner-lip gap difference
    # m = o_t − o_s (20 × gap / crop side, vqtalker.face.lips.MOUTH_OPEN_SCALE units; ≈ 0 … 1) through a
    # learned
    # vector: w = f_g + D(f_s + Δ̂) + m · v. One explicitly supervised motion direction, so the renderer
    # learns to open the lips as far as m says instead of hedging on what the tokens carry of the mouth;
    # the speech side drives it with the predicted opening (vqtalker.mouth.guidance), the codec
    # sends it as side information (5 bit/frame). v starts at 0: an old model loads unchanged.
    mouth_channel: bool = False
    # the mouth channel with its own vector for every styled renderer layer ("W+", 1 + 3 × levels vectors)
    # instead of one shared v: more freedom to move the lips (trained with the rest frozen, m = 0 unchanged)
    mouth_per_layer: bool = False
    # not in the paper: the full-resolution warping head (vqtalker.motion.fullres). The renderer's flow and a
    # blending mask, refined at `size` from the flow of renderer level `fullres_base` (0 = size / 2), warp the
    # source crop at the output size; the generated image fills only what the source does not show.
    # `fullres_size` is the training output size (and the discriminator's input size when it is on).
    fullres: bool = False
    fullres_size: int = 256
    fullres_base: int = 0
    fullres_hidden: int = 24
    lambda_photo: float = 0.0  # L1 of the source warped by the head's flow against the target (full res)
    # prior mean(1 − m) on the head's blend mask: an L1 loss alone prefers the blurred generated image
    # wherever the warp is slightly off; this makes the source's real pixels the default
    lambda_blend: float = 0.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.levels = tuple(int(v) for v in self.levels)
        self.blur_kernel = tuple(int(v) for v in self.blur_kernel)
        n = self.size.bit_length() - 1
        if self.size < 16 or 2**n != self.size:
            raise VQTalkerError(f"size must be a power of two >= 16, got {self.size}")
        if self.motion_dim % self.quant_groups:
            raise VQTalkerError("motion_dim must be divisible by quant_groups")
        if self.fullres and (self.fullres_size < self.size or self.fullres_size & (self.fullres_size - 1)):
            raise VQTalkerError(f"fullres_size must be a power of two >= size, got {self.fullres_size}")
        if self.latent_dim < self.motion_dim:
            raise VQTalkerError("latent_dim must be >= motion_dim (the direction bank is orthonormal)")

    def channels(self, res: int, multiplier: float | None = None) -> int:
        """Feature channels at resolution ``res`` (independent of ``size``, so growing keeps shapes)."""
        m = self.channel_multiplier if multiplier is None else multiplier
        base = BASE_CHANNELS.get(res, 16 * 1024 // res if res > 1024 else 512)
        return int(max(self.min_channels, min(self.max_channels, round(base * m))))

    def disc_channels(self, res: int) -> int:
        return self.channels(res, self.disc_channel_multiplier)

    @property
    def output_size(self) -> int:
        """Size of the training output (and the default render size): ``fullres_size`` with the
        full-resolution
        head, else ``size``."""
        return self.fullres_size if self.fullres else self.size

    @property
    def base_level(self) -> int:
        """Renderer level whose flow seeds the full-resolution head."""
        return self.fullres_base or self.size // 2

    @property
    def resolutions(self) -> list[int]:
        """Renderer / skip-feature resolutions ``8, 16, …, size``."""
        return [2**i for i in range(3, self.size.bit_length())]

    @property
    def bits_per_frame(self) -> float:
        import math

        return self.num_quantizers * self.quant_groups * sum(math.log2(v) for v in self.levels)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["levels"] = list(self.levels)
        d["blur_kernel"] = list(self.blur_kernel)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> MotionConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise VQTalkerError(f"unknown motion config fields: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **kw) -> MotionConfig:
        return dataclasses.replace(self, **kw)


PRESETS: dict[str, dict] = {
    # The paper's stage 1 (LIA-derived): full channel table, 512-d latent.
    "paper-256": dict(size=256),
    "paper-512": dict(size=512),
    # CPU builds: eighth-width channel table (max 64, min 8), 256-d latent. lite-128 grows into lite-256.
    "lite-128": dict(size=128, latent_dim=256, channel_multiplier=0.125, max_channels=64),
    "lite-256": dict(size=256, latent_dim=256, channel_multiplier=0.125, max_channels=64),
    # Test-only build: a few channels, 32 px.
    "tiny-32": dict(
        size=32,
        latent_dim=128,
        channel_multiplier=1 / 32,
        max_channels=16,
        min_channels=8,
        motion_mlp_layers=2,
    ),
}


def get_config(name: str, **overrides) -> MotionConfig:
    """Return the named preset (``paper-256``, ``paper-512``, ``lite-128``, ``lite-256``, ``tiny-32``).

    ``name`` may carry option suffixes ``+hal`` / ``+decouple`` / ``+mouth`` / ``+mouthplus`` /
    ``+fullres`` (``+fullres512``: trained at 512) (e.g. ``paper-256+hal+decouple`` approximates the paper's
    47.7 M-parameter build).
    """
    base, *opts = name.split("+")
    if base not in PRESETS:
        raise VQTalkerError(f"unknown motion config {base!r}; choose from {', '.join(PRESETS)}")
    kw = dict(PRESETS[base])
    for o in opts:
        if o == "hal":
            kw["hal"] = True
        elif o == "decouple":
            kw["decouple_mlps"] = True
        elif o == "mouth":
            kw["mouth_channel"] = True
        elif o == "mouthplus":
            kw["mouth_channel"] = True
            kw["mouth_per_layer"] = True
        elif o.startswith("fullres"):
            kw["fullres"] = True
            if o != "fullres":
                kw["fullres_size"] = int(o[len("fullres") :])
        else:
            raise VQTalkerError(
                f"unknown config option +{o} (known: +hal, +decouple, +mouth, +mouthplus, +fullres[SIZE])"
            )
    kw.update(overrides)
    return MotionConfig(name=name, **kw)
