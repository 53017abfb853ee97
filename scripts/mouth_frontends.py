"""Which speech front-end should the mouth predictor use? Train one predictor per candidate on the same
clips with the same recipe and report the dev correlation of the predicted mouth opening with the real one
(from the video's landmarks), per clip and per language.

    python scripts/mouth_frontends.py --data PREPARED/talking --cache CACHE_DIR \
        [--features mel100 mel phonemes mel+phonemes mel+phonemes+vad tokens] [--steps 2000] [--json OUT]

``--cache``: where the phoneme posteriors / voice activity / blendshapes are kept per clip (they are slow).
This is an offline research script (real data from a prepared dataset); it prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", default=None)
    ap.add_argument(
        "--features",
        nargs="+",
        default=["mel100", "mel", "tokens", "phonemes", "mel+phonemes", "mel+phonemes+vad"],
    )
    ap.add_argument("--params", default="", help="also predict these mouth parameters (comma-separated/all)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--dilations", default="1,2,4,8")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--corr-weight", type=float, default=0.0)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from vqtalker.face.blendshapes import MOUTH_PARAMS
    from vqtalker.face.lips import corr
    from vqtalker.mouth.predictor import MouthPredictorConfig
    from vqtalker.mouth.training import clip_examples, evaluate_predictor, train_predictor

    params = tuple(MOUTH_PARAMS) if args.params == "all" else tuple(p for p in args.params.split(",") if p)
    dil = tuple(int(d) for d in args.dilations.split(","))
    results = {}
    for spec in args.features:
        cfg = MouthPredictorConfig(
            features=spec,
            outputs=("opening",) + params,
            channels=args.channels,
            dilations=(1, 2, 4) if spec == "mel100" else dil,
        )
        train = clip_examples(args.data, "train", cfg, args.cache)
        dev = clip_examples(args.data, "dev", cfg, args.cache)
        runs = []
        for seed in range(args.seeds):
            t0 = time.time()
            model, _ = train_predictor(
                train,
                dev,
                cfg,
                steps=args.steps,
                seed=seed,
                log=lambda *_: None,
                eval_every=args.steps,
                corr_weight=args.corr_weight,
            )
            per_clip = {}
            with torch.no_grad():
                for ex in dev:
                    p = model(ex.feats[None])[0, :, 0].numpy()
                    per_clip[ex.id] = corr(p, ex.target[:, 0].numpy())
            m = evaluate_predictor(model, dev, by_language=True)
            m["per_clip"] = per_clip
            m["train_s"] = time.time() - t0
            runs.append(m)
            print(f"{spec} seed {seed}: dev corr {m['corr']:.3f} ({m['train_s']:.0f} s)", flush=True)
        results[spec] = runs
        langs = {ex.id: ex.language for ex in dev}

    keys = sorted({k for r in results.values() for k in r[0] if k.startswith("corr@")})
    print("\n| front-end | dev mean | " + " | ".join(k[5:] for k in keys) + " | worst clip |")
    print("|---|---|" + "---|" * len(keys) + "---|")
    for spec, runs in results.items():
        mean = np.mean([r["corr"] for r in runs])
        by = [np.mean([r[k] for r in runs]) for k in keys]
        worst = min(np.mean([r["per_clip"][c] for r in runs]) for c in runs[0]["per_clip"])
        print(f"| {spec} | {mean:.3f} | " + " | ".join(f"{b:.3f}" for b in by) + f" | {worst:.3f} |")
    first = next(iter(results.values()))[0]["per_clip"]
    print("\n| dev clip | language | " + " | ".join(results) + " |")
    print("|---|---|" + "---|" * len(results))
    for c in first:
        row = [np.mean([r["per_clip"][c] for r in results[s]]) for s in results]
        print(f"| {c} | {langs.get(c, '')} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    if args.json:
        from vqtalker.utils import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(results, indent=1).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
