"""Does the mouth rest when nobody speaks? For each dev clip's speech, build
``[speech, 2 s pause, speech, 2 s music, speech + music]`` (pause = −60 dB noise; music = a synthetic chord
progression with drums, no voice) and measure the mouth-opening track of the guidance object that
``vqtalker animate`` uses (predictor + voice-activity gate), relative to the rest position:

    ratio = mean(opening − rest) during the pause (or the music) / mean(opening − rest) during speech

    python scripts/mouth_silence.py --data PREPARED/talking --mouth MOUTH.safetensors [--no-gate]

Target (issue 14): the pause ratio ≤ 0.20. ``speech + music``: the correlation of the opening track with the
clean-speech track of the same words (music under speech must not drive the lips).
"""

from __future__ import annotations

import argparse

import numpy as np


def music(n: int, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """A voiceless synthetic accompaniment: chords of harmonic tones + a kick drum, about −14 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    out = np.zeros(n)
    beat = int(0.5 * sr)
    for k in range(0, n, 2 * beat):
        root = rng.choice([110.0, 130.8, 146.8, 164.8])
        seg = slice(k, min(n, k + 2 * beat))
        for ratio in (1.0, 1.26, 1.5):
            for h in (1, 2, 3):
                out[seg] += np.sin(2 * np.pi * root * ratio * h * t[seg]) / (h * 3)
    for k in range(0, n, beat):
        m = min(n - k, int(0.12 * sr))
        tt = np.arange(m) / sr
        out[k : k + m] += 2.0 * np.sin(2 * np.pi * 60 * tt) * np.exp(-tt * 30)
    return (0.2 * out / np.abs(out).max()).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--mouth", required=True)
    ap.add_argument("--no-gate", action="store_true", help="measure the predictor without the voice gate")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.face.lips import corr
    from vqtalker.io.audio import load_audio
    from vqtalker.mouth.guidance import MouthGuidance

    g = MouthGuidance.from_file(args.mouth)
    g.silence = not args.no_gate
    sr, rows = 16000, []
    rng = np.random.default_rng(0)
    for c in load_index(args.data)["clips"]:
        if c["split"] != "dev" or not c.get("has_audio"):
            continue
        sp = np.asarray(load_audio(PreparedClip.open(f"{args.data}/{c['dir']}").path / "audio.wav", sr))
        sp = sp[: len(sp) // 640 * 640]
        pause = (rng.normal(0, 1e-3, 2 * sr)).astype(np.float32)
        mus = music(2 * sr)
        mixed = sp + music(len(sp), seed=1)
        wave = np.concatenate([sp, pause, sp, mus, mixed])
        n = [len(x) // 640 for x in (sp, pause, sp, mus, mixed)]
        o = g.predict(wave, sum(n)).numpy() - g.rest
        edges = np.cumsum([0] + n)
        seg = [o[edges[i] : edges[i + 1]] for i in range(5)]
        speech_level = max(np.mean(np.r_[seg[0], seg[2]]), 1e-6)
        # the 0.3 s after speech ends are the closing ramp: measured from there on
        ramp = 8
        clean = g.predict(sp, n[0]).numpy()
        rows.append(
            {
                "id": c["id"],
                "language": c.get("language", ""),
                "pause_ratio": float(np.mean(seg[1][ramp:]) / speech_level),
                "music_ratio": float(np.mean(seg[3][ramp:]) / speech_level),
                "music_under_speech_corr": corr(seg[4] + g.rest, clean),
            }
        )
        r = rows[-1]
        print(
            f"{c['id']}: pause {r['pause_ratio']:.3f}, music {r['music_ratio']:.3f}, "
            f"speech+music corr {r['music_under_speech_corr']:.3f}",
            flush=True,
        )
    print("\n| dev clip | language | pause / speech | music / speech | speech + music vs clean (corr) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['id']} | {r['language']} | {r['pause_ratio']:.3f} | {r['music_ratio']:.3f} | "
            f"{r['music_under_speech_corr']:.3f} |"
        )
    keys = ("pause_ratio", "music_ratio", "music_under_speech_corr")
    print("| **mean** | | " + " | ".join(f"**{np.mean([r[k] for r in rows]):.3f}**" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
