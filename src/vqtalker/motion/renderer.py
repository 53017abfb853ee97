"""Flow-warping renderer (LIA-style synthesis): latent ``w`` + encoder skip features -> image."""

from __future__ import annotations

import torch
from torch import nn

from vqtalker.motion.config import MotionConfig
from vqtalker.motion.ops import StyledConv, ToFlow, ToRGB


class RenderLevel(nn.Module):
    """One resolution ``res``: up-StyledConv (res/2 → res), StyledConv, ToFlow (warps the encoder feature
    of this resolution), ToRGB (from the warped feature, plus the upsampled previous RGB)."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, blur_kernel):
        super().__init__()
        self.conv_up = StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_kernel=blur_kernel)
        self.conv = StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel)
        self.to_flow = ToFlow(out_ch, style_dim, blur_kernel=blur_kernel)
        self.to_rgb = ToRGB(out_ch, blur_kernel=blur_kernel)

    def forward(self, y, w, feature, flow_skip, rgb_skip):
        """``w``: ``[B, L]`` for all three styled layers, or a tuple of three ``[B, L]`` (up, conv, flow)."""
        w_up, w_conv, w_flow = w if isinstance(w, tuple) else (w, w, w)
        y = self.conv(self.conv_up(y, w_up), w_conv)
        f_warp, y, flow = self.to_flow(y, w_flow, feature, flow_skip)
        rgb = self.to_rgb(f_warp, rgb_skip)
        return y, flow, rgb


class Renderer(nn.Module):
    """``w [B, latent], feats {res: [B, ch(res), res, res]} -> image [B, 3, S, S]`` (no output tanh).

    A learned 4×4 constant, one StyledConv at 4×4, then one :class:`RenderLevel` per resolution
    8 … S (``levels[str(res)]``). Every layer is modulated by the same ``w [B, L]``, or layer by layer with
    ``w [B, K, L]`` (``K = num_styles`` = 1 + 3 × levels: conv1, then up / conv / flow of each level).
    """

    def __init__(self, cfg: MotionConfig):
        super().__init__()
        self.cfg = cfg
        ch, style, bk = cfg.channels, cfg.latent_dim, cfg.blur_kernel
        self.const = nn.Parameter(torch.randn(1, ch(4), 4, 4))
        self.conv1 = StyledConv(ch(4), ch(4), 3, style, blur_kernel=bk)
        self.levels = nn.ModuleDict(
            {str(r): RenderLevel(ch(r // 2), ch(r), style, bk) for r in cfg.resolutions}
        )

    @property
    def num_styles(self) -> int:
        return 1 + 3 * len(self.levels)

    def forward(
        self, w: torch.Tensor, feats: dict[int, torch.Tensor], aux: dict | None = None
    ) -> torch.Tensor:
        """``aux``: when a dict is given, it receives per-level diagnostics (means over the batch):
        ``mask_{res}`` (occlusion mask, 0 = the warped source feature is not used) and ``flow_px_{res}``
        (mean absolute displacement in pixels of that level). A level whose mask sits near 0 with a
        saturated flow is dead: the output then has the sharpness of the level below. When ``aux`` holds a
        dict under ``"flows"``, it receives each level's raw warp output ``{res: [B, 3, res, res]}`` (with
        gradient; channels: 2 pre-tanh offsets, 1 pre-sigmoid mask) for :func:`~.losses.warp_loss`."""
        return self.run(w, feats, aux)[0]

    def run(
        self, w: torch.Tensor, feats: dict[int, torch.Tensor], aux: dict | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
        """:meth:`forward` that also returns the last decoder feature ``y [B, ch(S), S, S]`` and every level's
        raw warp output ``{res: [B, 3, res, res]}`` (for :class:`~vqtalker.motion.fullres.FullResWarp`)."""
        b = w.shape[0]
        if w.ndim == 3:
            if w.shape[1] != self.num_styles:
                raise ValueError(f"per-layer w needs {self.num_styles} styles, got {w.shape[1]}")
            styles = w.unbind(1)
        else:
            styles = (w,) * self.num_styles
        y = self.conv1(self.const.expand(b, -1, -1, -1).to(w.dtype), styles[0])
        flow = rgb = None
        flows: dict[int, torch.Tensor] = {}
        for i, (key, level) in enumerate(self.levels.items()):
            feat = feats[int(key)]
            if feat.shape[0] != b:
                feat = feat.expand(b, -1, -1, -1)
            y, flow, rgb = level(y, tuple(styles[1 + 3 * i : 4 + 3 * i]), feat, flow, rgb)
            flows[int(key)] = flow
            if aux is not None:
                res = int(key)
                if "flows" in aux:
                    aux["flows"][res] = flow
                aux[f"mask_{res}"] = float(torch.sigmoid(flow[:, 2:3].detach().float()).mean())
                aux[f"flow_px_{res}"] = float(torch.tanh(flow[:, :2].detach().float()).abs().mean() * res / 2)
        return rgb, y, flows
