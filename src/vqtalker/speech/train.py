"""``vqtalker train speech``: learn the offline default speech codebook (k-means on CMVN log-mel at 50 Hz).

Data (language-balanced):

* real speech listed in ``DATA/MANIFEST.tsv`` (``speech/*`` and the audio of ``talking/train/*``; talking
  clips whose audio duplicates a ``speech/`` file are skipped). Rows whose licence says NC / ND /
  research-only / unknown are skipped unless ``--include-restricted``;
* espeak-ng speech synthesised on the fly from :mod:`vqtalker.speech.corpus` in the 22 training
  languages (random voice variant, 120–240 wpm, pitch 20–80), ``--synthetic-seconds`` per language.
  The held-out probe languages (pl, fi, id, vi) are never used.

Every language is capped at ``--max-seconds-per-language`` and each k-means mini-batch draws the same
number of frames from every language, so English (the bulk of the real data) does not dominate.

Resumable: features are cached per language in ``OUT/cache/*.npy`` and the k-means state is checkpointed
atomically to ``OUT/checkpoint.safetensors`` every ``--checkpoint-every`` steps; rerunning the same command
continues where it stopped (identical result to an uninterrupted run: batches depend only on seed and step).
The final codebook is ``OUT/default.safetensors`` (fp16), loadable with
``load_speech_tokenizer("default", path=...)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import torch

from vqtalker.errors import VQTalkerError

RESTRICTED = re.compile(r"\bNC\b|\bND\b|(?i:research)|\bNONE\b|^\s*\?\s*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, help="output directory (cache, checkpoint, default.safetensors)"
    )
    parser.add_argument(
        "--data",
        default=os.environ.get("VQTALKER_DATA"),
        help="data folder with MANIFEST.tsv (default: $VQTALKER_DATA; omit: synthetic speech only)",
    )
    parser.add_argument("--codes", type=int, default=1024, help="codebook size (default 1024)")
    parser.add_argument("--languages", default=None, help="comma-separated synthetic languages (default: 22)")
    parser.add_argument(
        "--synthetic-seconds", type=float, default=240.0, help="synthetic speech per language"
    )
    parser.add_argument("--max-seconds-per-language", type=float, default=360.0, help="cap per language")
    parser.add_argument("--steps", type=int, default=1500, help="mini-batch k-means steps")
    parser.add_argument("--batch-size", type=int, default=8192, help="frames per mini-batch")
    parser.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints")
    parser.add_argument("--stop-after", type=int, default=None, help="stop (checkpointed) after this step")
    parser.add_argument("--include-restricted", action="store_true", help="also use NC/ND/research-only data")
    parser.add_argument(
        "--exclude-license", default=None, help="also skip rows whose licence matches this regex (e.g. GPL)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")


# ------------------------------------------------------------------------------------------------------
# data
def _norm_lang(raw: str) -> str:
    m = re.match(r"\s*([a-z]{2,3})\b", raw or "")
    if not m or m.group(1) in ("none", "multi", "uns", "unsure"):
        return "other"
    return m.group(1)


def real_sources(data_dir: Path, include_restricted: bool = False, exclude: str | None = None) -> list[dict]:
    """Rows of ``MANIFEST.tsv`` with speech audio: ``{"path", "lang", "license", "seconds"}``."""
    manifest = data_dir / "MANIFEST.tsv"
    if not manifest.is_file():
        raise VQTalkerError(f"{manifest} not found (pass --data pointing at a folder with MANIFEST.tsv)")
    rows = list(csv.DictReader(manifest.open(encoding="utf-8"), delimiter="\t"))
    speech_files = {r["file"] for r in rows if r["file"].startswith("speech/")}
    out = []
    for r in rows:
        f = r["file"]
        if f.startswith("speech/"):
            path = f
        elif f.startswith("talking/train/"):
            paired = (r.get("paired_audio") or "").strip()
            if paired:
                if paired in speech_files:
                    continue  # the same audio is already used from speech/
                path = paired
            elif r.get("has_audio", "").strip().lower() == "yes":
                path = f
            else:
                continue
        else:
            continue
        lic = r.get("license", "")
        if RESTRICTED.search(lic) and not include_restricted:
            continue
        if exclude and re.search(exclude, lic):
            continue
        out.append(
            {"path": path, "lang": _norm_lang(r.get("language", "")), "license": lic,
             "seconds": float(r.get("duration_s") or 0)}
        )  # fmt: skip
    return out


def _save_npy(path: Path, array: np.ndarray) -> None:
    from vqtalker.utils import atomic_output

    with atomic_output(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def build_cache(args, cache: Path, log) -> dict[str, dict]:
    """Compute (or reuse) per-language features ``cache/{real,synth}_{lang}.npy`` (fp16 ``[N, 256]``)."""
    from vqtalker.io.audio import load_audio
    from vqtalker.speech.corpus import SENTENCES, TRAIN_LANGUAGES, utterances
    from vqtalker.speech.features import FrameFeaturizer
    from vqtalker.tts import synthesize_full
    from vqtalker.utils import atomic_write_bytes

    featurize = FrameFeaturizer()
    stats: dict[str, dict] = {}
    cache.mkdir(parents=True, exist_ok=True)
    summary_path = cache / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}

    if args.data:
        sources = real_sources(Path(args.data), args.include_restricted, args.exclude_license)
        by_lang: dict[str, list[dict]] = {}
        for s in sources:
            by_lang.setdefault(s["lang"], []).append(s)
        for lang, items in sorted(by_lang.items()):
            key = f"real_{lang}"
            if not (cache / f"{key}.npy").is_file():
                feats, files = [], []
                for s in items:
                    try:
                        wave = load_audio(Path(args.data) / s["path"])
                    except VQTalkerError as exc:
                        log(f"skip {s['path']}: {exc}")
                        continue
                    feats.append(featurize(wave).numpy().astype(np.float16))
                    files.append({"path": s["path"], "license": s["license"], "seconds": len(wave) / 16000})
                arr = np.concatenate(feats) if feats else np.zeros((0, featurize.config.dim), np.float16)
                _save_npy(cache / f"{key}.npy", arr)
                summary[key] = {"lang": lang, "kind": "real", "seconds": arr.shape[0] / 50.0, "files": files}
                atomic_write_bytes(summary_path, json.dumps(summary, indent=1).encode())
                log(f"{key}: {len(files)} files, {arr.shape[0] / 50.0:.1f} s")

    langs = (
        [x.strip() for x in args.languages.split(",") if x.strip()]
        if args.languages
        else list(TRAIN_LANGUAGES)
    )
    unknown = [x for x in langs if x not in SENTENCES]
    if unknown:
        raise VQTalkerError(f"no synthetic corpus for {unknown}; choose from {', '.join(SENTENCES)}")
    for lang in langs:
        key = f"synth_{lang}"
        if (cache / f"{key}.npy").is_file():
            continue
        feats, seconds, n_utt, i = [], 0.0, 0, 0
        batch = utterances(lang, 4000, seed=args.seed)
        while seconds < args.synthetic_seconds and i < len(batch):
            u = batch[i]
            i += 1
            syn = synthesize_full(
                u.text, lang, voice=u.voice, rate=u.rate, pitch=u.pitch, pitch_range=u.pitch_range
            )
            feats.append(featurize(syn.wave).numpy().astype(np.float16))
            seconds += syn.duration
            n_utt += 1
        arr = np.concatenate(feats)
        _save_npy(cache / f"{key}.npy", arr)
        summary[key] = {"lang": lang, "kind": "synthetic", "seconds": seconds, "utterances": n_utt}
        atomic_write_bytes(summary_path, json.dumps(summary, indent=1).encode())
        log(f"{key}: {n_utt} utterances, {seconds:.1f} s")

    for key, info in summary.items():
        if not (cache / f"{key}.npy").is_file():
            continue
        if (key.startswith("real_") and args.data) or (key.startswith("synth_") and info["lang"] in langs):
            stats[key] = info
    return stats


def language_pools(cache: Path, stats: dict[str, dict], cap_frames: int, seed: int) -> dict[str, np.ndarray]:
    """Per-language feature pools (real + synthetic), each randomly capped to ``cap_frames`` frames."""
    pools: dict[str, list[np.ndarray]] = {}
    for key, info in sorted(stats.items()):
        arr = np.load(cache / f"{key}.npy")
        if arr.shape[0]:
            pools.setdefault(info["lang"], []).append(arr)
    out = {}
    rng = np.random.default_rng(seed)
    for lang, arrs in pools.items():
        arr = np.concatenate(arrs)
        if arr.shape[0] > cap_frames:
            arr = arr[np.sort(rng.choice(arr.shape[0], cap_frames, replace=False))]
        out[lang] = arr
    return out


def balanced_batch(pools: dict[str, np.ndarray], size: int, seed: int, step: int) -> torch.Tensor:
    """``size`` frames, the same number from every language; depends only on ``(seed, step)``."""
    rng = np.random.default_rng([seed, step])
    langs = sorted(pools)
    per = [size // len(langs) + (1 if i < size % len(langs) else 0) for i in range(len(langs))]
    parts = [pools[lang][rng.integers(0, pools[lang].shape[0], n)] for lang, n in zip(langs, per)]
    return torch.from_numpy(np.concatenate(parts).astype(np.float32))


# ------------------------------------------------------------------------------------------------------
# training
def _save_checkpoint(path: Path, km, meta: dict) -> None:
    from safetensors.torch import save_file

    from vqtalker.utils import atomic_output

    with atomic_output(path) as tmp:
        save_file(km.state_dict(), str(tmp), metadata={"meta": json.dumps(meta)})


def run(args) -> int:
    from vqtalker.speech.backends import KMeansSpeechTokenizer
    from vqtalker.speech.features import FeatureConfig
    from vqtalker.speech.kmeans import MiniBatchKMeans, MiniBatchKMeansConfig

    torch.set_num_threads(max(1, int(args.threads)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / "train.log").open("a", encoding="utf-8")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    t0 = time.time()
    stats = build_cache(args, out / "cache", log)
    pools = language_pools(out / "cache", stats, int(args.max_seconds_per_language * 50), args.seed)
    if not pools:
        raise VQTalkerError("no training data")
    log("pools: " + ", ".join(f"{k}={v.shape[0] / 50:.0f}s" for k, v in sorted(pools.items())))
    t_data = time.time() - t0

    cfg = MiniBatchKMeansConfig(n_clusters=args.codes, batch_size=args.batch_size)
    km = MiniBatchKMeans(cfg, seed=args.seed)
    ckpt = out / "checkpoint.safetensors"
    if ckpt.is_file():
        from safetensors.torch import load_file

        km.load_state_dict(load_file(str(ckpt)))
        log(f"resumed from {ckpt} at step {km.step}")
    else:
        init = balanced_batch(pools, max(cfg.init_sample, 4 * args.codes), args.seed, step=10**9)
        km.initialise(init)
        log(f"k-means++ init: {args.codes} codes from {init.shape[0]} frames")

    inertia = float("nan")
    last = args.steps if args.stop_after is None else min(args.steps, args.stop_after)
    while km.step < last:
        inertia = km.partial_fit(balanced_batch(pools, args.batch_size, args.seed, km.step))
        if km.step % args.checkpoint_every == 0 or km.step == last:
            _save_checkpoint(ckpt, km, {"step": km.step, "inertia": inertia})
            log(f"step {km.step}/{args.steps} inertia {inertia:.3f}")
    if km.step < args.steps:
        log(f"stopped at step {km.step} (checkpoint {ckpt}); rerun to resume")
        return 0

    # utilisation on a fresh balanced sample
    probe = balanced_batch(pools, 50000, args.seed + 1, 0)
    codes = km.predict(probe)
    counts = torch.bincount(codes, minlength=args.codes).double()
    p = counts[counts > 0] / counts.sum()
    used = int((counts > 0).sum())
    entropy = float(-(p * p.log2()).sum())
    seconds = {k: round(v["seconds"], 1) for k, v in sorted(stats.items())}
    meta = {
        "codes": args.codes,
        "steps": km.step,
        "final_batch_inertia": round(inertia, 4),
        "utilisation": round(used / args.codes, 4),
        "entropy_bits": round(entropy, 3),
        "data_seconds": seconds,
        "languages": sorted(pools),
        "train_seconds_wall": round(time.time() - t0, 1),
        "data_seconds_wall": round(t_data, 1),
    }
    tok = KMeansSpeechTokenizer(km.centroids, FeatureConfig())
    tok.save(out / "default.safetensors", {"training": json.dumps(meta)})
    from vqtalker.utils import atomic_write_bytes

    atomic_write_bytes(out / "train_stats.json", json.dumps(meta, indent=1).encode())
    log(f"done: {out / 'default.safetensors'}; utilisation {used}/{args.codes}, entropy {entropy:.2f} bits")
    return 0
