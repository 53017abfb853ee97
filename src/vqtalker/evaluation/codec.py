"""``vqtalker eval codec``: rate–distortion of the ``.vqt`` codec next to classical codecs, on the same crops.

For every clip of a prepared split (``DATA/<split>/<clip>/frames.npy``, uint8 face crops at 25 fps) the
suite codes the clip with

* **vqtalker** at each setting (``tokens`` = one key picture then tokens only; ``kbps=B[,q=Q][,ssim=S]
  [,keyint=K][,layers=L]``: the sender-side rate control of :mod:`vqtalker.codec.ratecontrol`), in memory
  through :class:`~vqtalker.codec.encoder.VQTEncoder` and :class:`~vqtalker.codec.decoder.VQTDecoder`;
  the rate is the whole stream without audio (tokens + mouth side info + key pictures + header/framing);
* each **baseline** (x264, x265, SVT-AV1, libaom; 2-pass at each target, settings in
  :mod:`vqtalker.evaluation.ratedistortion`), rate measured from the elementary stream;
* **copy frame 0** (a receiver that gets one picture and nothing else; rate = that picture's AVIF bytes),

and scores all of them with the same tools on the same frames: SSIM-Y, PSNR-Y, VMAF (bundled ffmpeg)
and, for vqtalker and copy-frame-0, identity similarity CSIM to frame 0 (:mod:`vqtalker.evaluation.identity`).
``OUT/results.json`` holds one entry per clip × codec × setting and is rewritten after each (resume: an
entry already there is not recomputed); ``OUT/report.json`` / ``report.md`` have the per-setting means over
clips, a per-language table at the vqtalker settings, BD-rates of every baseline against vqtalker, and
``rd_<metric>.png`` plots. Rates are kbit/s (1000 bit/s).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from vqtalker.errors import VQTalkerError

FPS = 25.0
METRICS = ("ssim_y", "psnr_y", "vmaf")
DEFAULT_SETTINGS = ("tokens", "kbps=8", "kbps=12", "kbps=16", "kbps=24", "kbps=32")
DEFAULT_KBPS = (8.0, 12.0, 16.0, 24.0, 32.0)


def parse_setting(text: str) -> dict:
    """``tokens`` | ``kbps=16[,q=20][,ssim=0.7][,keyint=2][,layers=2]`` → rate-control keyword arguments
    (``q`` = key-picture quality). One-line error for anything else."""
    if text == "tokens":
        return {"keyint_max": None}
    names = {"kbps": "kbps", "q": "q", "ssim": "min_ssim", "keyint": "keyint_max", "layers": "max_layers"}
    out: dict = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        if k not in names or not v:
            raise VQTalkerError(f"--settings: cannot read {text!r} (e.g. tokens, kbps=16, kbps=16,q=20)")
        try:
            out[names[k]] = int(v) if k in ("q", "layers") else float(v)
        except ValueError:
            raise VQTalkerError(f"--settings: {k} must be a number in {text!r}") from None
    return out


def vqtalker_point(tok, frames: np.ndarray, setting: str, size: int, fps: float = FPS) -> dict:
    """Code ``frames`` uint8 ``[T, S, S, 3]`` at one setting → entry (rate, quality, CSIM, speeds, keys)."""
    from vqtalker.codec.decoder import VQTDecoder
    from vqtalker.codec.encoder import EncoderConfig, VQTEncoder
    from vqtalker.codec.ratecontrol import RateControlConfig
    from vqtalker.evaluation import identity
    from vqtalker.evaluation.ratedistortion import measure_quality
    from vqtalker.motion.tokenizer import to_model_frames, to_uint8

    kw = parse_setting(setting)
    q = kw.pop("q", None)
    kw.setdefault("keyint_max", 10.0)
    cfg = EncoderConfig(size=size, rate=RateControlConfig(**kw), key_quality=q)
    ref = frames if frames.shape[1] == size else to_uint8(to_model_frames(frames, size))
    buf = io.BytesIO()
    t0 = time.perf_counter()
    enc = VQTEncoder(tok, cfg, buf.write, fps)
    try:
        enc.add(ref)
        st = enc.close()
    finally:
        enc.release()
    t_enc = time.perf_counter() - t0
    data = buf.getvalue()
    t0 = time.perf_counter()
    dec = VQTDecoder(tok)
    out = np.stack(dec.feed(data) + dec.finish())
    t_dec = time.perf_counter() - t0
    entry = {"codec": "vqtalker", "setting": setting, "kbps": 8 * len(data) / (len(ref) / fps) / 1000,
             "kbps_tokens": st.kbps("tokens"), "kbps_keys": st.kbps("keys"),
             "kbps_overhead": st.kbps("overhead"), "keys": st.keys, "skips": st.skips,
             "layer_frames": {str(k): v for k, v in st.layer_frames.items()},
             "enc_fps": len(ref) / t_enc, "dec_fps": len(ref) / t_dec, **measure_quality(ref, out, fps)}
    if identity.available():
        entry["csim"] = identity.csim(ref[0], out, every=10)["csim"]
    return entry


def copy_first_point(frames: np.ndarray, fps: float = FPS, quality: int = 40) -> dict:
    """The copy-frame-0 baseline: frame 0 as an AVIF picture, shown for the whole clip."""
    from vqtalker.codec.pictures import decode_picture, encode_picture
    from vqtalker.evaluation import identity
    from vqtalker.evaluation.ratedistortion import measure_quality

    data = encode_picture(frames[0], "avif", quality)
    pic = decode_picture(data)
    out = np.repeat(pic[None], len(frames), 0)
    entry = {"codec": "copy-frame-0", "setting": f"avif q{quality}",
             "kbps": 8 * len(data) / (len(frames) / fps) / 1000, **measure_quality(frames, out, fps)}
    if identity.available():
        entry["csim"] = identity.csim(frames[0], out[:1], every=1)["csim"]
    return entry


def baseline_point(frames: np.ndarray, codec: str, kbps: float, workdir, threads: int = 1,
                   fps: float = FPS) -> dict:
    from vqtalker.evaluation.ratedistortion import encode_baseline, measure_quality

    decoded, actual = encode_baseline(frames, fps, codec, kbps, workdir, threads=threads)
    return {"codec": codec, "setting": f"{kbps:g} kbps", "target_kbps": float(kbps), "kbps": actual,
            **measure_quality(frames, decoded, fps, threads=threads)}


def _mean(rows: list[dict], key: str):
    vals = [r.get(key) for r in rows]
    return None if not vals or any(v is None for v in vals) else float(np.mean(vals))


def averages(entries: list[dict], clips: Sequence[str]) -> list[dict]:
    """Per codec × setting means over ``clips`` (only complete groups: every clip present)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for e in entries:
        if e["clip"] in clips:
            groups.setdefault((e["codec"], e["setting"]), []).append(e)
    out = []
    for (codec, setting), rows in groups.items():
        if len({r["clip"] for r in rows}) != len(clips):
            continue
        avg = {"codec": codec, "setting": setting, "n_clips": len(rows)}
        for k in ("kbps", "kbps_tokens", "kbps_keys", "csim", "enc_fps", "dec_fps", *METRICS):
            if any(k in r for r in rows):
                avg[k] = _mean(rows, k)
        out.append(avg)
    out.sort(key=lambda r: (r["codec"] != "vqtalker", r["codec"], r["kbps"] or 0))
    return out


def language_table(entries: list[dict], languages: dict[str, str], setting: str) -> str:
    """Markdown: vqtalker at ``setting`` and every baseline's nearest-rate point, mean SSIM-Y per language."""
    rows = [e for e in entries if e["codec"] == "vqtalker" and e["setting"] == setting]
    langs = sorted({languages.get(e["clip"], "?") for e in rows})
    lines = [f"| language | clips | vqtalker {setting}: kbps | SSIM-Y | VMAF | CSIM |",
             "|---|---:|---:|---:|---:|---:|"]
    for lang in langs:
        rs = [e for e in rows if languages.get(e["clip"], "?") == lang]

        def fmt(k, d=3, rs=rs):
            v = _mean(rs, k)
            return "n/a" if v is None else f"{v:.{d}f}"

        lines.append(f"| {lang} | {len(rs)} | {fmt('kbps', 2)} | {fmt('ssim_y')} | {fmt('vmaf', 1)} | "
                     f"{fmt('csim')} |")
    return "\n".join(lines)


def run_codec_eval(tok, data: str | Path, out_dir: str | Path, *, split: str = "dev",
                   settings: Sequence[str] = DEFAULT_SETTINGS, baselines: Sequence[str] = (),
                   kbps: Sequence[float] = DEFAULT_KBPS, size: int = 256, clips: int | None = None,
                   max_frames: int | None = None, threads: int = 1,
                   log: Callable[[str], None] = print) -> dict:
    """Run the suite (see the module docstring); returns the report dict."""
    import tempfile

    from vqtalker.data.layout import PreparedClip
    from vqtalker.evaluation.ratedistortion import (
        bd_rate_table_markdown,
        plot_rd,
        rd_table_markdown,
    )
    from vqtalker.evaluation.suite import check_baselines, clip_dirs, open_results
    from vqtalker.utils import atomic_write_bytes

    for s in settings:
        parse_setting(s)
    check_baselines(baselines)
    clip_dirs_ = clip_dirs(data, split, clips)
    res_path, state = open_results(out_dir, [])
    out_dir = res_path.parent
    entries: list[dict] = state["per_clip"]
    this_size = [e for e in entries if e.get("size", size) == size]  # entries of other sizes are kept apart
    done = {(e["clip"], e["codec"], e["setting"], e["frames"]) for e in this_size}
    languages: dict[str, str] = {}

    def save():
        atomic_write_bytes(res_path, (json.dumps(state, indent=1) + "\n").encode())

    def add(clip_id, n, entry):
        entry.update(clip=clip_id, frames=n, size=size)
        entries.append(entry)
        done.add((clip_id, entry["codec"], entry["setting"], n))
        save()
        vm = "n/a" if entry.get("vmaf") is None else f"{entry['vmaf']:.1f}"
        log(f"{clip_id[:30]:30s} {entry['codec']:12s} {entry['setting']:12s} {entry['kbps']:7.2f} kbps  "
            f"SSIM-Y {entry['ssim_y']:.3f}  PSNR-Y {entry['psnr_y']:.2f}  VMAF {vm}")

    with tempfile.TemporaryDirectory(prefix="vqt-eval-codec-") as work:
        for k, d in enumerate(clip_dirs_):
            clip = PreparedClip.open(d)
            languages[clip.id] = str(clip.meta.get("language", "?")).split(" ")[0]
            frames = np.ascontiguousarray(clip.array("frames")[:max_frames])
            n = int(len(frames))
            log(f"[{k + 1}/{len(clip_dirs_)}] {clip.id} ({n} frames)")
            if frames.shape[1] != size:
                from vqtalker.motion.tokenizer import to_model_frames, to_uint8

                frames = to_uint8(to_model_frames(frames, size))
            if (clip.id, "copy-frame-0", "avif q40", n) not in done:
                add(clip.id, n, copy_first_point(frames))
            for s in settings:
                if (clip.id, "vqtalker", s, n) not in done:
                    add(clip.id, n, vqtalker_point(tok, frames, s, size))
            for b in baselines:
                for r in kbps:
                    if (clip.id, b, f"{r:g} kbps", n) not in done:
                        add(clip.id, n, baseline_point(frames, b, r, work, threads))
    ids = [PreparedClip.open(d).id for d in clip_dirs_]
    results = averages([e for e in entries if e.get("size", size) == size], ids)  # this size only
    report = {"data": str(data), "split": split, "size": size, "clips": ids, "languages": languages,
              "averaged": results}
    atomic_write_bytes(out_dir / "report.json", (json.dumps(report, indent=1) + "\n").encode())
    rd_rows = [r for r in results if r["codec"] != "copy-frame-0"]
    md = [f"# Codec rate–distortion ({split}, {len(ids)} clips, {size}×{size})", "",
          "Means over clips; kbps = whole stream without audio (vqtalker) / elementary stream (baselines).",
          "", rd_table_markdown(results), "", "## BD-rate of each baseline against vqtalker", "",
          bd_rate_table_markdown(rd_rows, anchor="vqtalker"), ""]
    vq = [r for r in results if r["codec"] == "vqtalker"]
    if vq:
        mid = min(vq, key=lambda r: abs((r["kbps"] or 0) - 16))["setting"]
        md += [f"## Per language (vqtalker {mid})", "", language_table(entries, languages, mid), ""]
    for m in METRICS:
        try:
            plot_rd(rd_rows, out_dir / f"rd_{m}.png", metric=m)
            md.append(f"![{m}](rd_{m}.png)")
        except VQTalkerError as exc:
            md.append(f"({m} plot unavailable: {exc})")
    (out_dir / "report.md").write_text("\n".join(md) + "\n")
    return report


__all__ = ["DEFAULT_KBPS", "DEFAULT_SETTINGS", "averages", "baseline_point", "copy_first_point",
           "parse_setting", "run_codec_eval", "vqtalker_point"]
