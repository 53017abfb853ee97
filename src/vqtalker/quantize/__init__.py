"""Quantizers: FSQ, ResidualFSQ, GroupResidualFSQ (GRFSQ, the paper's motion tokenizer bottleneck) and the
learned-codebook baselines of Table 3 (VQ, GVQ, RVQ, GRVQ), plus bitrate and codebook statistics.

Common interface: ``forward(x[B, T, D]) -> (quantized[B, T, D], indices[B, T, R, G])``,
``decode(indices, n_layers=None) -> [B, T, D]``, ``bits_per_frame``.
"""

from vqtalker.quantize.bitrate import bitrate_bps, bitrate_kbps, bits_per_frame
from vqtalker.quantize.build import QUANTIZER_NAMES, build_quantizer, quantizer_config
from vqtalker.quantize.fsq import FSQ
from vqtalker.quantize.residual_fsq import RESIDUAL_FSQ_PRESETS, GroupResidualFSQ, ResidualFSQ
from vqtalker.quantize.stats import CodebookStats
from vqtalker.quantize.vq import GRVQ, GVQ, RVQ, VQ, GroupResidualVQ, VectorQuantizer

__all__ = [
    "FSQ",
    "GRVQ",
    "GVQ",
    "QUANTIZER_NAMES",
    "RESIDUAL_FSQ_PRESETS",
    "RVQ",
    "VQ",
    "CodebookStats",
    "GroupResidualFSQ",
    "GroupResidualVQ",
    "ResidualFSQ",
    "VectorQuantizer",
    "bitrate_bps",
    "bitrate_kbps",
    "bits_per_frame",
    "build_quantizer",
    "quantizer_config",
]
