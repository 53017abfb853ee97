"""Motion-space mouth control: the average stage-1 motion that goes with a unit of mouth opening.

``d = Cov(Δ̂, y) / Var(y)`` ``[M]`` (regression of the renderer input Δ̂ on the mouth opening y, 20 × inner-lip
gap / crop side, over training frames). Optionally also one direction per explicit mouth parameter
(:data:`vqtalker.face.blendshapes.MOUTH_PARAMS`, e.g. pucker, stretch): the coefficients of a joint
regression of Δ̂ on ``[y, p_1 … p_K]``, i.e. what each parameter moves *with the opening held fixed*.
Adding ``gain · (opening − ref) · d`` to generated motion opens the rendered mouth as the opening track says
(used by :class:`vqtalker.mouth.guidance.MouthGuidance`). The best linear *read-out*
(:func:`vqtalker.mouth.direction.fit_mouth_direction`) is not a good *control*: adding ``y · p / |p|²`` does
not move the rendered lips.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vqtalker.face.lips import mouth_opening
from vqtalker.mouth.direction import mouth_features


@dataclass
class MouthControl:
    """Motion-space mouth control (see module docstring, item 4).

    ``direction [M]``: motion change per unit of read-out (20 × inner-lip gap as a fraction of the crop
    side); ``mean_gap``: mean 20 × gap of the training frames (the reference when a portrait's own gap is
    unknown); ``corr``: correlation of the fit on the training frames (how much of Δ̂ moves with the mouth).
    """

    direction: torch.Tensor
    mean_gap: float
    corr: float = float("nan")
    param_names: tuple[str, ...] = ()
    param_directions: torch.Tensor | None = None  # [K, M]

    def to_json(self) -> str:
        d = {
            "direction": [round(float(x), 6) for x in self.direction],
            "mean_gap": self.mean_gap,
            "corr": self.corr,
        }
        if self.param_names:
            d["param_names"] = list(self.param_names)
            d["param_directions"] = [[round(float(x), 6) for x in row] for row in self.param_directions]
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> MouthControl:
        d = json.loads(text)
        names = tuple(d.get("param_names", ()))
        return cls(
            torch.tensor(d["direction"], dtype=torch.float32),
            float(d["mean_gap"]),
            float(d.get("corr", float("nan"))),
            names,
            torch.tensor(d["param_directions"], dtype=torch.float32) if names else None,
        )

    def apply(
        self,
        motion: torch.Tensor,
        opening: torch.Tensor,
        ref_gap: float | None = None,
        gain: float = 1.0,
        params: torch.Tensor | None = None,
        param_gain: float = 1.0,
    ) -> torch.Tensor:
        """``motion [T, M] + gain · (opening [T] − ref_gap) · direction``; ``opening`` and ``ref_gap`` in
        20 × gap units (``ref_gap`` None → ``mean_gap``: the portrait's mouth is assumed average).

        ``params [T, K]`` (columns :attr:`param_names`): adds ``param_gain · (params − mean over T) ·
        param_directions`` — the articulation of each parameter, not an offset of the resting expression."""
        ref = self.mean_gap if ref_gap is None else float(ref_gap)
        out = motion + gain * (opening.float() - ref)[:, None] * self.direction.to(motion.dtype)[None]
        if params is not None and self.param_directions is not None and param_gain > 0 and len(params):
            p = params.float() - params.float().mean(0, keepdim=True)
            out = out + param_gain * (p @ self.param_directions.float()).to(motion.dtype)
        return out


@torch.no_grad()
def fit_mouth_control(quantizer, clips: Sequence, param_names: Sequence[str] = ()) -> MouthControl:
    """Regression of ``Δ̂ [M]`` on ``y`` (the gap change against each clip's first frame) over ``clips``;
    with ``param_names``, also the joint regression on ``[y, params − params[0]]`` (each clip then needs
    ``params [T, K]``, NaN rows skipped) for the parameter directions."""
    if not clips:
        raise ValueError("fit_mouth_control needs at least one clip")
    xs, ys = zip(*(mouth_features(quantizer, c) for c in clips))
    x, y = torch.cat(xs).double(), torch.cat(ys).double()
    xc, yc = x - x.mean(0), y - y.mean()
    var = float((yc**2).sum())
    if var < 1e-12:
        raise ValueError("the mouth never moves in these clips: no mouth control can be fitted")
    direction = (xc * yc[:, None]).sum(0) / var
    # how much of Δ̂'s variance moves with the mouth (R² of the rank-one fit, as a correlation)
    fitted = yc[:, None] * direction[None]
    corr = float((1 - ((xc - fitted) ** 2).sum() / (xc**2).sum()).clamp(min=0).sqrt())
    mean_gap = float(torch.cat([mouth_opening(c.mouth.float()) for c in clips]).mean())
    control = MouthControl(direction.float(), mean_gap, corr)
    if param_names:
        dirs = _joint_directions(xs, ys, [c.params for c in clips])
        if dirs is not None:  # None: too few frames with a measured face for the joint fit
            control.param_names, control.param_directions = tuple(param_names), dirs
    return control


def _joint_directions(xs, ys, params) -> torch.Tensor | None:
    """Coefficients ``[K, M]`` of the parameters in the least-squares fit ``Δ̂ ≈ [y, p] B + c``
    (pseudo-inverse: a parameter that never moves gets a zero direction); None with fewer than ``2 (K + 1)``
    usable frames."""
    rows_x, rows_z = [], []
    for x, y, p in zip(xs, ys, params):
        p = torch.as_tensor(np.asarray(p, np.float32))[: len(y)]
        n = min(len(y), len(p))
        z = torch.cat([y[:n, None].float(), p[:n] - p[:1]], 1)
        ok = torch.isfinite(z).all(1)
        rows_x.append(x[:n][ok])
        rows_z.append(z[ok])
    x, z = torch.cat(rows_x).double(), torch.cat(rows_z).double()
    if len(z) < 2 * z.shape[1]:
        return None
    x, z = x - x.mean(0), z - z.mean(0)
    gram = z.T @ z + 1e-6 * torch.eye(z.shape[1], dtype=z.dtype) * z.pow(2).sum() / len(z)
    b = torch.linalg.pinv(gram) @ (z.T @ x)  # [1 + K, M]
    return b[1:].float()


__all__ = ["MouthControl", "fit_mouth_control"]
