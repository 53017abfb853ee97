#!/usr/bin/env python
"""Do speech tokens carry phonetic information in languages the codebook never saw?

Synthesises espeak-ng speech in the held-out languages (default pl, fi, id, vi: not used to train the
default codebook), labels every 50 Hz token with the espeak-ng phoneme (and its viseme class) active at
its centre, and fits a logistic-regression probe on one-hot tokens in a ±2 token window (100 ms):

* ``within``: per held-out language, probe trained on utterances spoken with voice variants A
  (default, m1, m3, m5, f1, f3) and tested on *other* voices B (m2, m4, m7, f2, f4, f5) saying texts
  that do not occur in the training half;
* ``cross``: viseme probe trained on the 22 codebook-training languages (new sentences/seed) and
  tested zero-shot on the held-out languages.

Accuracy is compared with the majority-class baseline (most frequent class of the test set). Codebook
utilisation and token entropy are measured on the held-out speech. Compare with ``--tokenizers
default,hash`` (``hash`` = random-projection codes of the same features: a "random codebook" control).

    python scripts/probe_speech_tokens.py --tokenizers default,hash --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from vqtalker.speech import load_speech_tokenizer
from vqtalker.speech.corpus import HELDOUT_LANGUAGES, TRAIN_LANGUAGES, utterances
from vqtalker.speech.probe import (
    VISEMES,
    LinearWindowProbe,
    WindowProbe,
    codebook_stats,
    evaluate,
    fit_probe,
    frame_labels,
    viseme_of,
)
from vqtalker.tts import synthesize_full

VOICES_A = {"", "m1", "m3", "m5", "f1", "f3"}


def synth_set(lang: str, n: int, seed: int):
    """[(wave, timings, (voice, text))] for n utterances of lang."""
    out = []
    for u in utterances(lang, n, seed=seed):
        s = synthesize_full(
            u.text, lang, voice=u.voice, rate=u.rate, pitch=u.pitch, pitch_range=u.pitch_range
        )
        out.append((s.wave, s.phonemes, (u.voice, u.text)))
    return out


def encode_set(tok, items):
    """[(tokens [N] or features [N, D], phone labels [N], (voice, text))]"""
    res = []
    for wave, timings, voice in items:
        codes = tok(wave, 16000)
        labels = frame_labels(timings, codes.shape[0], wave, rate_hz=tok.rate_hz)
        res.append((codes, labels, voice))
    return res


def stack(probe_windows, encoded, label_fn, classes: dict[str, int], grow: bool):
    wins, ys = [], []
    for codes, labels, _ in encoded:
        y = []
        for lab in labels:
            c = label_fn(lab)
            if c not in classes:
                if not grow:
                    c = None
                else:
                    classes[c] = len(classes)
            y.append(classes[c] if c is not None else -1)
        wins.append(probe_windows(codes))
        ys.append(torch.tensor(y, dtype=torch.long))
    return torch.cat(wins), torch.cat(ys)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizers", default="default,hash")
    ap.add_argument("--languages", default=",".join(HELDOUT_LANGUAGES))
    ap.add_argument("--utterances", type=int, default=80, help="per held-out language")
    ap.add_argument("--train-utterances", type=int, default=25, help="per training language (cross probe)")
    ap.add_argument("--seed", type=int, default=777, help="text/voice seed (codebook training used 0)")
    ap.add_argument("--context", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--json", default=None, help="write all figures to this JSON file")
    ap.add_argument("--markdown", action="store_true", help="print README tables")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()

    langs = args.languages.split(",")
    held = {lang: synth_set(lang, args.utterances, args.seed) for lang in langs}
    train_langs = [lang for lang in TRAIN_LANGUAGES if lang not in langs]
    seen = {lang: synth_set(lang, args.train_utterances, args.seed + 1) for lang in train_langs}
    held_seconds = {lang: sum(w.shape[0] for w, _, _ in items) / 16000 for lang, items in held.items()}
    amounts = ", ".join(f"{k} {v:.0f}s" for k, v in held_seconds.items())
    print(f"synthesised in {time.time() - t0:.1f}s: {amounts}",
          file=sys.stderr)  # fmt: skip

    results = {"held_out_seconds": held_seconds, "tokenizers": {}}
    for name in args.tokenizers.split(","):
        tok = load_speech_tokenizer(name)
        enc_held = {lang: encode_set(tok, items) for lang, items in held.items()}
        enc_seen = [e for items in seen.values() for e in encode_set(tok, items)]

        def make_probe(n_classes, tok=tok):
            if tok.is_discrete:
                return WindowProbe(tok.vocab_size, n_classes, args.context)
            return LinearWindowProbe(tok.feature_dim, n_classes, args.context)

        windows = make_probe(1).windows
        lr = 0.1 if tok.is_discrete else 0.01
        entry = {"stats": {}, "within": {}, "cross": {}}
        if tok.is_discrete:
            all_codes = torch.cat([c for lang in enc_held for c, _, _ in enc_held[lang]])
            entry["stats"]["all_heldout"] = codebook_stats(all_codes, tok.vocab_size)
            for lang, enc in enc_held.items():
                entry["stats"][lang] = codebook_stats(torch.cat([c for c, _, _ in enc]), tok.vocab_size)
        for lang, enc in enc_held.items():
            train = [e for e in enc if e[2][0] in VOICES_A]
            train_texts = {e[2][1] for e in train}
            # other voices AND texts not spoken in the training half
            test = [e for e in enc if e[2][0] not in VOICES_A and e[2][1] not in train_texts]
            for task, fn in (("phone", lambda s: s), ("viseme", viseme_of)):
                classes: dict[str, int] = {}
                xw, y = stack(windows, train, fn, classes, grow=True)
                xt, yt = stack(windows, test, fn, classes, grow=False)
                keep = yt >= 0  # test classes never seen in training count as errors
                probe = fit_probe(xw, y, make_probe(len(classes)), args.epochs, lr=lr)
                r = evaluate(probe, xt[keep], yt[keep])
                acc = r.accuracy * keep.float().mean().item()
                maj = float(torch.bincount(yt[keep]).max()) / yt.numel()
                entry["within"].setdefault(lang, {})[task] = {
                    "accuracy": acc, "majority": maj, "n_test": int(yt.numel()), "n_classes": len(classes)
                }  # fmt: skip
        # cross-language viseme probe: fit on the training languages, test on each held-out language
        vis = {v: i for i, v in enumerate(VISEMES)}
        xw, y = stack(windows, enc_seen, viseme_of, vis, grow=False)
        probe = fit_probe(xw, y, make_probe(len(VISEMES)), args.epochs, lr=lr)
        for lang, enc in enc_held.items():
            xt, yt = stack(windows, enc, viseme_of, vis, grow=False)
            r = evaluate(probe, xt, yt)
            entry["cross"][lang] = {"accuracy": r.accuracy, "majority": r.majority, "n_test": r.n_test}
        results["tokenizers"][name] = entry
        print(f"{name}: done ({time.time() - t0:.1f}s)", file=sys.stderr)

    results["wall_seconds"] = round(time.time() - t0, 1)
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.markdown:
        print(markdown(results, langs))
    else:
        print(json.dumps(results, indent=1))
    return 0


def markdown(results, langs) -> str:
    names = list(results["tokenizers"])
    lines = ["| language (held out) | speech | task | majority | " + " | ".join(names) + " |",
             "|---|---|---|---|" + "---|" * len(names)]  # fmt: skip
    for lang in langs:
        for task in ("phone", "viseme"):
            first = results["tokenizers"][names[0]]["within"][lang][task]
            cells = [f"{results['tokenizers'][n]['within'][lang][task]['accuracy']:.3f}" for n in names]
            lines.append(
                f"| {lang} | {results['held_out_seconds'][lang]:.0f} s | {task} ({first['n_classes']} cl.), "
                f"other voices | {first['majority']:.3f} | " + " | ".join(cells) + " |"
            )
        first = results["tokenizers"][names[0]]["cross"][lang]
        cells = [f"{results['tokenizers'][n]['cross'][lang]['accuracy']:.3f}" for n in names]
        lines.append(
            f"| {lang} | | viseme (13 cl.), probe from 22 other languages | {first['majority']:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "| tokenizer | codes used (held-out speech) | entropy (bits) | perplexity |",
        "|---|---|---|---|",
    ]
    for n in names:
        if "all_heldout" not in results["tokenizers"][n]["stats"]:
            continue
        s = results["tokenizers"][n]["stats"]["all_heldout"]
        lines.append(
            f"| {n} | {s['used']} / {2 ** round(s['max_bits'])} ({100 * s['utilisation']:.1f}%) | "
            f"{s['entropy_bits']:.2f} / {s['max_bits']:.0f} | {s['perplexity']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
