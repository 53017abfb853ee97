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

Resumable: features are cached per language in ``OUT/cache/*.npy`` and the k-means state is checkpointed by
the :class:`~vqtalker.training.trainer.Trainer` (``OUT/step-XXXXXXXX.safetensors``) every ``--ckpt-every``
steps; rerunning the same command continues where it stopped (identical result to an uninterrupted run:
batches depend only on seed and step).
The final codebook is ``OUT/default.safetensors`` (fp16), loadable with
``load_speech_tokenizer("default", path=...)``.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqtalker.errors import VQTalkerError
from vqtalker.training.trainer import Trainer, TrainerOptions

RESTRICTED = re.compile(r"\bNC\b|\bND\b|(?i:research)|\bNONE\b|^\s*\?\s*$")


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


@dataclass
class SpeechOptions(TrainerOptions):
    """Options of ``vqtalker train speech`` (``batch_size``: frames per k-means mini-batch)."""

    data: str | None = None
    codes: int = 1024
    languages: str | None = None
    synthetic_seconds: float = 240.0
    max_seconds_per_language: float = 360.0
    steps: int = 1500
    batch_size: int = 8192
    ckpt_every: int = 50
    log_every: int = 50
    eval_every: int = 10**9
    include_restricted: bool = False
    exclude_license: str | None = None
    threads: int = 1
    keep: int = 2


class _KMeansState:
    """Adapter: a :class:`MiniBatchKMeans` as a checkpointable part (``state_dict`` / ``load_state_dict``)."""

    def __init__(self, km):
        self.km = km

    def state_dict(self):
        return self.km.state_dict()

    def load_state_dict(self, sd, strict: bool = True):
        self.km.load_state_dict(sd)


class SpeechTrainer(Trainer):
    def setup(self) -> None:
        from vqtalker.speech.kmeans import MiniBatchKMeans, MiniBatchKMeansConfig

        opts = self.opts
        if (self.out / "checkpoint.safetensors").is_file():
            raise VQTalkerError(
                f"{self.out / 'checkpoint.safetensors'} is a checkpoint of the previous trainer; "
                "delete it to restart in this directory (the feature cache is kept)"
            )
        t0 = time.time()
        self.stats = build_cache(opts, self.out / "cache", self.log)
        self.pools = language_pools(
            self.out / "cache", self.stats, int(opts.max_seconds_per_language * 50), opts.seed
        )
        if not self.pools:
            raise VQTalkerError("no training data")
        self.log("pools: " + ", ".join(f"{k}={v.shape[0] / 50:.0f}s" for k, v in sorted(self.pools.items())))
        self.t_data = time.time() - t0
        self.cfg = MiniBatchKMeansConfig(n_clusters=opts.codes, batch_size=opts.batch_size)
        self.km = MiniBatchKMeans(self.cfg, seed=opts.seed)
        init = balanced_batch(self.pools, max(self.cfg.init_sample, 4 * opts.codes), opts.seed, step=10**9)
        self.km.initialise(init)
        self.log(f"k-means++ init: {opts.codes} codes from {init.shape[0]} frames")
        self.models = {"kmeans": _KMeansState(self.km)}
        self.inertia = float("nan")

    def train_step(self, step: int) -> dict[str, float]:
        self.inertia = self.km.partial_fit(
            balanced_batch(self.pools, self.opts.batch_size, self.opts.seed, self.km.step)
        )
        return {"inertia": self.inertia}

    def export(self, step: int, final: bool) -> None:
        if not final or step < self.opts.steps:
            return
        from vqtalker.speech.backends import KMeansSpeechTokenizer
        from vqtalker.speech.features import FeatureConfig
        from vqtalker.utils import atomic_write_bytes

        opts, km = self.opts, self.km
        probe = balanced_batch(self.pools, 50000, opts.seed + 1, 0)  # utilisation on a fresh balanced sample
        codes = km.predict(probe)
        counts = torch.bincount(codes, minlength=opts.codes).double()
        p = counts[counts > 0] / counts.sum()
        used = int((counts > 0).sum())
        entropy = float(-(p * p.log2()).sum())
        meta = {
            "codes": opts.codes,
            "steps": km.step,
            "final_batch_inertia": round(self.inertia, 4),
            "utilisation": round(used / opts.codes, 4),
            "entropy_bits": round(entropy, 3),
            "data_seconds": {k: round(v["seconds"], 1) for k, v in sorted(self.stats.items())},
            "languages": sorted(self.pools),
            "data_seconds_wall": round(self.t_data, 1),
        }
        tok = KMeansSpeechTokenizer(km.centroids, FeatureConfig())
        tok.save(self.out / "default.safetensors", {"training": json.dumps(meta)})
        atomic_write_bytes(self.out / "train_stats.json", json.dumps(meta, indent=1).encode())
        self.log(
            f"done: {self.out / 'default.safetensors'}; utilisation {used}/{opts.codes}, "
            f"entropy {entropy:.2f} bits"
        )


def train_speech(opts: SpeechOptions, log=None) -> dict:
    return SpeechTrainer(opts, log=log).run()


__all__ = [
    "SpeechOptions",
    "SpeechTrainer",
    "balanced_batch",
    "build_cache",
    "language_pools",
    "real_sources",
    "train_speech",
]
