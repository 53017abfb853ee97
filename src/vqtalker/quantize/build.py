"""``build_quantizer(name, **cfg)``: a config name -> a quantizer module with the common interface.

Every module returned has ``forward(x[B, T, D]) -> (quantized[B, T, D], indices[B, T, R, G])``,
``decode(indices, n_layers=None)``, ``bits_per_frame``, ``num_quantizers``, ``groups`` and
``codebook_size``. Defaults are the paper's Table 3 rows (D = 120):

=========  ==========================================================  ==================
name       module (defaults)                                           bits/frame @25 fps
=========  ==========================================================  ==================
``grfsq``  GroupResidualFSQ(groups=12, num_quantizers=4, levels=5^4)   445.8 -> 11.15 kbps
``rfsq``   GroupResidualFSQ(groups=1, num_quantizers=4, levels=5^4)    37.2 -> 0.93 kbps
``fsq``    GroupResidualFSQ(groups=1, num_quantizers=1, levels=5^4)    9.3 -> 0.23 kbps
``vq``     VQ(codebook_size=8196)                                      13.0 -> 0.33 kbps
``gvq``    GVQ(groups=32, codebook_size=1024)                          320 -> 8 kbps
``rvq``    RVQ(num_quantizers=32, codebook_size=1024)                  320 -> 8 kbps
``grvq``   GRVQ(groups=12, num_quantizers=4, codebook_size=1024)       480 -> 12 kbps
=========  ==========================================================  ==================
"""

from __future__ import annotations

from torch import nn

from vqtalker.quantize.residual_fsq import GroupResidualFSQ
from vqtalker.quantize.vq import GroupResidualVQ

_DEFAULTS: dict[str, tuple[type, dict]] = {
    "grfsq": (GroupResidualFSQ, dict(dim=120, groups=12, num_quantizers=4, levels=(5, 5, 5, 5))),
    "rfsq": (GroupResidualFSQ, dict(dim=120, groups=1, num_quantizers=4, levels=(5, 5, 5, 5))),
    "fsq": (GroupResidualFSQ, dict(dim=120, groups=1, num_quantizers=1, levels=(5, 5, 5, 5))),
    "vq": (GroupResidualVQ, dict(dim=120, groups=1, num_quantizers=1, codebook_size=8196)),
    "gvq": (GroupResidualVQ, dict(dim=120, groups=32, num_quantizers=1, codebook_size=1024)),
    "rvq": (GroupResidualVQ, dict(dim=120, groups=1, num_quantizers=32, codebook_size=1024)),
    "grvq": (GroupResidualVQ, dict(dim=120, groups=12, num_quantizers=4, codebook_size=1024)),
}

QUANTIZER_NAMES = tuple(_DEFAULTS)


def quantizer_config(name: str, **overrides) -> dict:
    """The full keyword configuration ``build_quantizer(name)`` would use (defaults + overrides)."""
    key = name.lower()
    if key not in _DEFAULTS:
        raise ValueError(f"unknown quantizer {name!r}; choose from {', '.join(QUANTIZER_NAMES)}")
    cfg = dict(_DEFAULTS[key][1])
    cfg.update(overrides)
    if "levels" in cfg:
        cfg["levels"] = tuple(int(v) for v in cfg["levels"])
    return cfg


def build_quantizer(name: str, **cfg) -> nn.Module:
    """Build the quantizer ``name`` (grfsq, rfsq, fsq, vq, gvq, rvq, grvq); ``cfg`` overrides defaults.

    FSQ-family extra keywords go to :class:`ResidualFSQ` (``preset``, ``scale_base``, ``input_bound``,
    ``quantize_dropout``, ...); VQ-family ones to :class:`VectorQuantizer` (``ema``, ``decay``,
    ``commitment_weight``, ``dead_code_threshold``, ``data_init``).
    """
    cls, _ = _DEFAULTS.get(name.lower(), (None, None))
    full = quantizer_config(name, **cfg)
    return cls(**full)
