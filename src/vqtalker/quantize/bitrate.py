"""Bitrate of a token stream: bits per frame and bit/s at a frame rate (25 fps video by default).

The paper counts ``R * G * log2(K)`` bits per frame (no entropy coding): the GRFSQ configuration gives
``4 * 12 * log2(625) = 445.81`` bits/frame, i.e. ``445.81 * 25 = 11 145.25`` bit/s (~11.15 kbps).
Continuous baselines are counted as 32-bit floats (LIA: ``20 * 32 * 25 = 16 000`` bit/s).
"""

from __future__ import annotations

import math

from vqtalker.constants import FPS

VIDEO_FPS = float(FPS)


def bits_per_frame(num_quantizers: int, groups: int, codebook_size: int) -> float:
    """``R * G * log2(K)`` bits per frame."""
    if num_quantizers < 1 or groups < 1 or codebook_size < 2:
        raise ValueError("need num_quantizers >= 1, groups >= 1, codebook_size >= 2")
    return num_quantizers * groups * math.log2(codebook_size)


def bitrate_bps(bits_frame: float, fps: float = VIDEO_FPS) -> float:
    """Bits per second at ``fps`` frames per second."""
    return bits_frame * fps


def bitrate_kbps(bits_frame: float, fps: float = VIDEO_FPS) -> float:
    """Kilobits (1000 bits) per second at ``fps``."""
    return bits_frame * fps / 1000.0


def continuous_bits_per_frame(dim: int, bits_per_value: int = 32) -> float:
    """Bits per frame of an uncompressed continuous latent (paper convention: 32-bit floats)."""
    return float(dim * bits_per_value)


def quantizer_bits_per_frame(quantizer) -> float:
    """Bits per frame of any module exposing ``num_quantizers``, ``groups`` (default 1), ``codebook_size``."""
    if hasattr(quantizer, "bits_per_frame"):
        return float(quantizer.bits_per_frame)
    return bits_per_frame(quantizer.num_quantizers, getattr(quantizer, "groups", 1), quantizer.codebook_size)
