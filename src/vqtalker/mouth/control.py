"""Motion-space mouth control: the average stage-1 motion that goes with a unit of mouth opening.

``d = Cov(Δ̂, y) / Var(y)`` ``[M]`` (regression of the renderer input Δ̂ on the mouth opening y, 20 × inner-lip
gap / crop side, over training frames). Adding ``gain · (opening − ref) · d`` to generated motion opens the
rendered mouth as the opening track says (used by :class:`vqtalker.mouth.guidance.MouthGuidance`). The best
linear *read-out* (:func:`vqtalker.mouth.direction.fit_mouth_direction`) is not a good *control*: adding
``y · p / |p|²`` does not move the rendered lips.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

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

    def to_json(self) -> str:
        return json.dumps(
            {
                "direction": [round(float(x), 6) for x in self.direction],
                "mean_gap": self.mean_gap,
                "corr": self.corr,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> MouthControl:
        d = json.loads(text)
        return cls(
            torch.tensor(d["direction"], dtype=torch.float32),
            float(d["mean_gap"]),
            float(d.get("corr", float("nan"))),
        )

    def apply(
        self, motion: torch.Tensor, opening: torch.Tensor, ref_gap: float | None = None, gain: float = 1.0
    ) -> torch.Tensor:
        """``motion [T, M] + gain · (opening [T] − ref_gap) · direction``; ``opening`` and ``ref_gap`` in
        20 × gap units (``ref_gap`` None → ``mean_gap``: the portrait's mouth is assumed average)."""
        ref = self.mean_gap if ref_gap is None else float(ref_gap)
        return motion + gain * (opening.float() - ref)[:, None] * self.direction.to(motion.dtype)[None]


@torch.no_grad()
def fit_mouth_control(quantizer, clips: Sequence) -> MouthControl:
    """Regression of ``Δ̂ [M]`` on ``y`` (the gap change against each clip's first frame) over ``clips``."""
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
    return MouthControl(direction.float(), mean_gap, corr)


__all__ = ["MouthControl", "fit_mouth_control"]
