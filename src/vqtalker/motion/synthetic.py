"""A tiny procedural frame-pair dataset (no real faces) for tests and smoke runs.

Each item is a cartoon "face" (ellipse with two eyes and a mouth) on a coloured background; source and
target differ by a small head translation, eye opening and mouth opening. Items are deterministic in the
index. Same dict layout as :class:`vqtalker.data.datasets.FramePairDataset`:
``source, target [3, S, S]`` in [-1, 1], ``eye_mask, mouth_mask [1, S, S]`` in {0, 1} (of the target),
``source_mouth, target_mouth`` (0-d): the mouth ellipse's height / side × 20 (the units of
:data:`vqtalker.face.lips.MOUTH_OPEN_SCALE`).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


def _face(size: int, cx: float, cy: float, eye: float, mouth: float, hue: torch.Tensor):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    img = hue[:, None, None] * 0.5 + 0.1 * yy  # background
    face = ((xx - cx) / 0.55) ** 2 + ((yy - cy) / 0.7) ** 2 < 1
    img = torch.where(face, torch.tensor([0.6, 0.3, 0.1])[:, None, None], img)
    eye_mask = torch.zeros(size, size, dtype=torch.bool)
    for ex in (-0.22, 0.22):
        e = ((xx - cx - ex) / 0.12) ** 2 + ((yy - cy + 0.2) / (0.02 + 0.08 * eye)) ** 2 < 1
        img = torch.where(e, torch.tensor([-0.9, -0.9, -0.9])[:, None, None], img)
        eye_mask |= ((xx - cx - ex).abs() < 0.18) & ((yy - cy + 0.2).abs() < 0.14)
    m = ((xx - cx) / 0.25) ** 2 + ((yy - cy - 0.35) / (0.02 + 0.12 * mouth)) ** 2 < 1
    img = torch.where(m, torch.tensor([-0.6, -1.0, -1.0])[:, None, None], img)
    mouth_mask = ((xx - cx).abs() < 0.32) & ((yy - cy - 0.35).abs() < 0.2)
    return img.clamp(-1, 1), eye_mask[None].float(), mouth_mask[None].float()


class SyntheticPairs(Dataset):
    """``n`` deterministic synthetic source/target pairs at ``size`` px (``n_identities`` background hues)."""

    def __init__(
        self, n: int = 64, size: int = 32, n_identities: int = 4, seed: int = 0, hr_size: int | None = None
    ):
        self.n, self.size, self.n_id, self.seed = n, size, n_identities, seed
        self.hr_size = hr_size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 7919 + i)
        hue = torch.rand(3, generator=torch.Generator().manual_seed(1000 + i % self.n_id)) * 2 - 1
        p = torch.rand(2, 4, generator=g)
        src, _, _ = _face(self.size, (p[0, 0] - 0.5) * 0.3, (p[0, 1] - 0.5) * 0.2, p[0, 2], p[0, 3], hue)
        tgt, eye, mouth = _face(
            self.size, (p[1, 0] - 0.5) * 0.3, (p[1, 1] - 0.5) * 0.2, p[1, 2], p[1, 3], hue
        )
        # ellipse semi-axis in [-1, 1] coordinates = full height in units of the side
        gap = 20.0 * (0.02 + 0.12 * p[:, 3])
        item = {
            "source": src,
            "target": tgt,
            "eye_mask": eye,
            "mouth_mask": mouth,
            "source_mouth": gap[0],
            "target_mouth": gap[1],
        }
        if self.hr_size:  # the same faces drawn at the full-resolution renderer's output size
            item["source_hr"], _, _ = _face(
                self.hr_size, (p[0, 0] - 0.5) * 0.3, (p[0, 1] - 0.5) * 0.2, p[0, 2], p[0, 3], hue
            )
            item["target_hr"], _, _ = _face(
                self.hr_size, (p[1, 0] - 0.5) * 0.3, (p[1, 1] - 0.5) * 0.2, p[1, 2], p[1, 3], hue
            )
        return item
