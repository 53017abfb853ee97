"""The mouth read-out direction of the stage-1 motion space and a stage-2 token loss that follows it.

Why: the stage-2 token cross-entropy treats all 625 codes of a group as equally wrong. The codes mostly encode
head pose (the largest image change), so a model can reach a low cross-entropy while ignoring the small
deformation that opens the mouth (figures in the stage-2 model card). This module gives the mouth its own
term:

1. :func:`fit_mouth_direction` — ridge regression from the renderer's input ``Δ̂ = GRFSQ(f_t − f_ref)``
   ``[M]`` to the change of the inner-lip gap ``MOUTH_OPEN_SCALE · (gap_t − gap_ref)`` (prepared landmarks,
   fraction of the crop side × 20 ≈ 0..1) on the training clips. The result ``p [M]`` is the direction in
   motion space that opens the mouth (dev correlation of the linear read-out is reported).
2. :func:`mouth_code_values` — because ``Δ̂`` is linear in the per-layer codes (GRFSQ: per group
   ``W_g Σ_r s_r c_{r,g} + b_g``), ``p · Δ̂`` splits into one scalar per (layer, group, code):
   ``v[r, g, c] = (W_gᵀ p_g) · (s_r ⊙ code(c))``, a ``[R, G, C]`` table, plus the constant ``p · b``.
3. :func:`mouth_token_loss` — under teacher forcing the layer-r prediction changes the mouth read-out by the
   expected value ``Σ_g Σ_c softmax(logits)[g, c] · v[r, g, c]``; the loss is its L1 distance to the read-out
   of the true codes ``Σ_g v[r, g, c*_g]``. It is differentiable through the softmax and only weighs the
   component of the motion that moves the mouth.

4. :class:`~vqtalker.mouth.control.MouthControl` / :func:`~vqtalker.mouth.control.fit_mouth_control` (in
   :mod:`vqtalker.mouth.control`) — the other way round: the average motion that goes
   with a unit of mouth opening, ``d = Cov(Δ̂, y) / Var(y)`` ``[M]`` (regression of Δ̂ on y). ``p`` is the
   best *read-out* but not a good *control* (adding ``y · p / |p|²`` to the static motion does not move the
   rendered lips), while adding ``y · d`` renders lips whose opening follows ``y`` (figures in the stage-1
   model card). :class:`~vqtalker.mouth.guidance.MouthGuidance` adds ``gain · (pred − gap_ref) · d`` to the
   generated motion (beyond the paper; ``gain = 0`` is the paper's pure token output).

Units: frames at 25 fps; ``p`` maps motion-space units to 20 × (fraction of the crop side).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vqtalker.face.lips import mouth_opening


@torch.no_grad()
def mouth_features(quantizer, clip, max_frames: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Δ̂ [T, M], y [T])`` of one cached clip with its first frame as the reference (see module doc)."""
    f = clip.f[:max_frames].float()
    delta, _ = quantizer((f - f[:1]).unsqueeze(0))
    gap = mouth_opening(clip.mouth[:max_frames].float())
    return delta[0].float(), gap - gap[:1]


@torch.no_grad()
def fit_mouth_direction(
    quantizer, clips: Sequence, dev_clips: Sequence = (), ridge: float = 1e-4
) -> tuple[torch.Tensor, dict[str, float]]:
    """Ridge fit ``y ≈ p · Δ̂ + a`` on ``clips``; returns ``(p [M], stats)``.

    ``stats``: ``train_corr`` and (when ``dev_clips`` are given) ``dev_corr``, the Pearson correlation of the
    read-out with the real inner-lip gap change, pooled over frames. ``ridge`` is relative to the mean
    feature variance. Raises ``ValueError`` without clips.
    """
    if not clips:
        raise ValueError("fit_mouth_direction needs at least one clip")
    xs, ys = zip(*(mouth_features(quantizer, c) for c in clips))
    x, y = torch.cat(xs).double(), torch.cat(ys).double()
    mx, my = x.mean(0), y.mean()
    xc, yc = x - mx, y - my
    gram = xc.T @ xc / len(x)
    lam = ridge * gram.diagonal().mean()
    p = torch.linalg.solve(gram + lam * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ yc / len(x))

    def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a.numpy(), b.numpy()
        return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-12 and b.std() > 1e-12 else float("nan")

    stats = {"train_corr": _corr(x @ p, y)}
    if dev_clips:
        dx, dy = zip(*(mouth_features(quantizer, c) for c in dev_clips))
        stats["dev_corr"] = _corr(torch.cat(dx).double() @ p, torch.cat(dy).double())
    return p.float(), stats


@torch.no_grad()
def mouth_code_values(quantizer, direction: torch.Tensor) -> torch.Tensor:
    """``v [R, G, C]``: each code's contribution to ``direction · Δ̂`` (see module docstring).

    ``quantizer`` is a :class:`vqtalker.quantize.GroupResidualFSQ`; ``direction`` is ``[M]``.
    Invariant: ``direction · decode(idx) = Σ_{r,g} v[r, g, idx[r, g]] + direction · decode_bias``.
    """
    rfsq = quantizer.rfsq
    groups, dpg = quantizer.groups, quantizer.dim_per_group
    p = direction.float().view(groups, dpg)
    codes = rfsq.fsq.implicit_codebook.float()  # [C, c]
    if quantizer.project_out is None:
        u = p  # [G, c] (c == dpg)
    else:
        u = torch.stack([m.weight.float().T @ p[g] for g, m in enumerate(quantizer.project_out)])  # [G, c]
    scales = rfsq.scales.float()  # [R, c] (per-dimension residual scales)
    return (u[None] * scales[:, None]) @ codes.T  # [R, G, C]


def mouth_token_loss(
    logits: torch.Tensor, target: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Masked L1 between the expected and the true mouth read-out of one residual layer per sample.

    ``logits [B, T, G, C]``, ``target [B, T, G]`` (code indices), ``values [B, G, C]`` (the rows of
    :func:`mouth_code_values` for each sample's layer), ``mask [B, T]`` (1 = real frame). Returns a scalar in
    the units of the read-out (20 × fraction of the crop side).
    """
    v = values[:, None].to(logits.dtype)  # [B, 1, G, C]
    expected = (F.softmax(logits, dim=-1) * v).sum((-1, -2))  # [B, T]
    true = torch.gather(v.expand(-1, target.shape[1], -1, -1), -1, target.unsqueeze(-1)).squeeze(-1).sum(-1)
    return ((expected - true).abs() * mask).sum() / mask.sum().clamp(min=1)


__all__ = [
    "fit_mouth_direction",
    "mouth_code_values",
    "mouth_features",
    "mouth_token_loss",
]
