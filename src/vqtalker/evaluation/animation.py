"""``vqtalker eval animate``: speech-driven animation as a user gets it, scored against the real video.

For every clip of a prepared split the first frame (the clip's face crop) is the portrait and the clip's
own speech drives the whole pipeline (``pipe(portrait, wave, crop=False, size=…)``: speech front-end,
stage 2, mouth pathway, natural head motion, stage 1), so the real video is the reference for what the
face should do. Per clip:

* lip sync — mouth-open correlation, opening range ratio and mouth LMD (% of the crop side) between the
  rendered and the real lips (:func:`vqtalker.face.lips.compare_lips`, the mouth pathway's definitions),
  next to the **first frame held** (LMD) and the **audio-energy heuristic** (correlation of the speech's
  RMS envelope with the real opening, :func:`vqtalker.generate.controls.speech_envelope`: what a mouth that
  opens with loudness would score);
* identity — CSIM of the rendered frames to the portrait (:mod:`vqtalker.evaluation.identity`);
* sharpness — variance of the Laplacian, rendered / real; temporal jitter of the rendered opening.

Writes ``OUT/results.json`` (per clip; resumed), ``OUT/report.json`` and ``OUT/report.md`` (per clip, per
language, mean). The pipeline object is passed in (this layer does not import it).
"""

from __future__ import annotations

import json

import numpy as np

FPS = 25.0


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def animate_clip(pipe, frames: np.ndarray, wave: np.ndarray, size: int, seed: int = 0) -> dict:
    """One clip: real face crops uint8 ``[T, S, S, 3]`` at 25 fps + its 16-kHz speech → metric dict."""
    from vqtalker.evaluation import identity
    from vqtalker.evaluation.quality import sharpness
    from vqtalker.face.lips import compare_lips, lip_points, mouth_opening
    from vqtalker.generate.controls import speech_envelope
    from vqtalker.motion.tokenizer import to_model_frames, to_uint8

    real = frames if frames.shape[1] == size else to_uint8(to_model_frames(frames, size))
    out = pipe(real[0], wave, 16000, crop=False, size=size, seed=seed).frames
    n = min(len(out), len(real))
    out, real = out[:n], real[:n]
    g, okg = lip_points(out)
    r, okr = lip_points(real)
    ok = okg & okr
    rec: dict = {"frames": n, "face_found": float(ok.mean())}
    if ok.mean() >= 0.5 and okr[0]:
        lp = compare_lips(g[ok], r[ok])
        rec.update(lp)
        rec["mouth_lmd_static"] = float(np.linalg.norm(r[:1] - r[ok], axis=-1).mean() * 100)
        env = speech_envelope(wave, n)
        rec["energy_corr"] = _corr(env[ok], mouth_opening(r[ok]))
        op = mouth_opening(g[ok])
        rec["mouth_jitter"] = float(np.abs(np.diff(op, 2)).mean()) if len(op) > 2 else None
        rec["mouth_jitter_real"] = (float(np.abs(np.diff(mouth_opening(r[ok]), 2)).mean())
                                    if len(op) > 2 else None)
    rec["csim"] = identity.csim(real[0], out, every=10)["csim"] if identity.available() else None
    rec["sharpness_ratio"] = float(sharpness(out).mean() / max(float(sharpness(real).mean()), 1e-9))
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in rec.items()}


COLUMNS = (("mouth corr", "mouth_open_corr"), ("energy corr", "energy_corr"), ("range", "mouth_open_range"),
           ("mouth LMD %", "mouth_lmd"), ("frame-0 LMD %", "mouth_lmd_static"), ("CSIM", "csim"),
           ("sharpness", "sharpness_ratio"), ("jitter", "mouth_jitter"), ("jitter real", "mouth_jitter_real"))


def _table(rows: list[dict]) -> str:
    def mean(rs, k):
        xs = [r.get(k) for r in rs if isinstance(r.get(k), (int, float))]
        return "n/a" if not xs else f"{float(np.mean(xs)):.3f}"

    lines = ["| clip | lang | " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    for r in rows:
        lines.append(f"| {r['clip'].split('__')[0]} | {r['language']} | "
                     + " | ".join(mean([r], k) for _, k in COLUMNS) + " |")
    for lang in sorted({r["language"] for r in rows}):
        rs = [r for r in rows if r["language"] == lang]
        cells = " | ".join(mean(rs, k) for _, k in COLUMNS)
        lines.append(f"| **mean {lang}** ({len(rs)}) | {lang} | {cells} |")
    if rows:
        lines.append("| **mean** | all | " + " | ".join(mean(rows, k) for _, k in COLUMNS) + " |")
    return "\n".join(lines)


def run_animate_eval(pipe, data, out_dir, *, split: str = "dev", size: int = 256, clips: int | None = None,
                     max_frames: int | None = None, seed: int = 0, log=print) -> dict:
    """Run the suite (module docstring) with a :class:`~vqtalker.pipeline.TalkingHeadPipeline`."""
    from vqtalker.evaluation.suite import clip_dirs, open_results, pending_clips
    from vqtalker.io.audio import load_audio
    from vqtalker.utils import atomic_write_bytes

    dirs = clip_dirs(data, split, clips)
    res_path, state = open_results(out_dir, {})
    keys: list[str] = []
    for key, clip, frames in pending_clips(dirs, state, max_frames, f"{size}:{seed}", keys, log):
        wave = load_audio(clip.path / "audio.wav")[: int(len(frames) / FPS * 16000)]
        rec = animate_clip(pipe, frames, wave, size, seed)
        rec.update(clip=clip.id, language=str(clip.meta.get("language", "?")).split(" ")[0])
        state["per_clip"][key] = rec
        atomic_write_bytes(res_path, (json.dumps(state, indent=1) + "\n").encode())
        log(f"  mouth corr {rec.get('mouth_open_corr')}  energy corr {rec.get('energy_corr')}  "
            f"CSIM {rec.get('csim')}")
    rows = [state["per_clip"][k] for k in keys if k in state["per_clip"]]  # this run's setting only
    md = [f"# Speech-driven animation ({split}, {len(rows)} clips, {size}×{size})", "",
          "Portrait = the clip's first frame, speech = the clip's own; rendered vs real lips, identity to "
          "the portrait, sharpness rendered / real. `energy corr`: the audio-energy heuristic's correlation "
          "with the real opening.", "", _table(rows), ""]
    (res_path.parent / "report.md").write_text("\n".join(md) + "\n")
    report = {"split": split, "size": size, "clips": rows}
    atomic_write_bytes(res_path.parent / "report.json", (json.dumps(report, indent=1) + "\n").encode())
    return report


__all__ = ["animate_clip", "run_animate_eval"]
