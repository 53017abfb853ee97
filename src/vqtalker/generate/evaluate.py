"""Dev metrics of the stage-2 generator.

* :func:`token_metrics` — on dev windows (reference = window start): cross-entropy and token accuracy per
  residual layer with teacher forcing (ground-truth R_{r−1}), token accuracy per layer of the free-running
  4-pass generation, and the motion-space error after detokenising (L1 of the generated Δ̂ against the
  detokenised ground-truth tokens, i.e. in the renderer's input space), next to the static baseline (the
  tokens of zero motion, i.e. the reference frame held).
* :func:`lipsync_metrics` — the paper's speech-driven protocol on a few dev clips: animate each clip's first
  frame with its own speech (and its own pose/gaze/blink), render with stage 1, find the mouth landmarks of
  the rendered frames (mediapipe) and measure their distance to the real video's mouth landmarks (mean L2
  over the 40 lip points, in % of the crop side), against the static-first-frame baseline (the first frame
  rendered by stage 1 with Δ = 0 and held, so both sides carry the same reconstruction error); plus the
  Pearson correlation of the mouth opening (inner-lip gap) with the real one. With a model that has a mouth
  head (or a :class:`~vqtalker.generate.mouth_predictor.MouthPredictor`) also the correlation of the
  predicted opening with the real one (``mouth_pred_corr``), and with a
  :class:`~vqtalker.generate.mouth.MouthControl` and ``mouth_gain > 0`` the rendered video uses mouth
  guidance (reference opening = the first frame's prepared landmarks).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vqtalker.generate.inference import coarse_to_fine, generate_motion


def _targets(stage1, batch):
    """``(delta [B, T, M] raw f_t − f_ref, Δ̂ [B, T, M] its quantisation, indices [B, T, R, G])``."""
    delta = batch.f - batch.f_ref[:, None]
    dhat, idx = stage1.model.quantizer(delta)
    return delta, dhat, idx.long()


@torch.no_grad()
def token_metrics(model, stage1, batches) -> dict[str, float]:
    """Aggregate dev metrics over ``batches`` (list of :class:`vqtalker.generate.data.Batch`)."""
    model.eval()
    cfg = model.cfg
    dev = next(model.parameters()).device
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}

    def add(name, value, n):
        sums[name] = sums.get(name, 0.0) + float(value)
        counts[name] = counts.get(name, 0.0) + float(n)

    counts_rg = None  # token histograms per (layer, group) for the majority-class reference
    for b in batches:
        b = b.to(dev)
        delta, target, idx = _targets(stage1, b)
        m = b.mask
        nvalid = int(m.sum())
        if cfg.motion_output == "tokens":
            valid = idx[m.bool()]  # [N, R, G]
            oh = F.one_hot(valid, cfg.codebook_size).sum(0).float().cpu()  # [R, G, C]
            counts_rg = oh if counts_rg is None else counts_rg + oh
        args = (b.units, b.pose, b.gaze, b.blink, b.f_g)
        # motion error in the renderer's input space Δ̂ = GRFSQ(f_t − f_s): the GRFSQ projections make Δ̂ a
        # different space from the raw difference, so the raw difference is not a meaningful reference.
        # Static = the quantised "no motion" (the reference frame held).
        still, _ = stage1.model.quantizer(torch.zeros_like(delta[:, :1]))
        add("motion_l1_static", ((still - target).abs().mean(-1) * m).sum(), nvalid)
        if cfg.motion_output == "tokens":
            for r in range(cfg.num_layers_rvq):
                logits = model(*args, idx, r, m, b.pose_ref)
                tgt = idx[:, :, r]
                ce = F.cross_entropy(logits.reshape(-1, cfg.codebook_size), tgt.reshape(-1), reduction="none")
                add("ce", (ce.view_as(tgt.float()) * m[..., None]).sum(), nvalid * cfg.groups)
                add(f"acc_tf_r{r}", ((logits.argmax(-1) == tgt) * m[..., None]).sum(), nvalid * cfg.groups)
            gen = coarse_to_fine(model, *args, mask=m, pose_ref=b.pose_ref)
            for r in range(cfg.num_layers_rvq):
                add(
                    f"acc_gen_r{r}",
                    ((gen[:, :, r] == idx[:, :, r]) * m[..., None]).sum(),
                    nvalid * cfg.groups,
                )
            mot = stage1.model.quantizer.decode(gen)
        else:  # continuous variants regress Δ̂ itself
            mot = model(*args, None, 0, m, b.pose_ref)
        add("motion_l1", ((mot - target).abs().mean(-1) * m).sum(), nvalid)
    out = {k: sums[k] / max(counts[k], 1.0) for k in sums}
    if counts_rg is not None:
        # accuracy of always predicting each (layer, group)'s most frequent dev token: an optimistic
        # reference (it peeks at the dev distribution) that any useful model must beat
        maj = counts_rg.max(-1).values.sum(-1) / counts_rg.sum(-1).sum(-1).clamp(min=1)
        for r in range(cfg.num_layers_rvq):
            out[f"acc_majority_r{r}"] = float(maj[r])
    if "ce" in out:
        out["acc_tf"] = float(np.mean([out[f"acc_tf_r{r}"] for r in range(cfg.num_layers_rvq)]))
    return out


@torch.no_grad()
def lipsync_metrics(
    model,
    stage1,
    data_root,
    clips,
    max_clips: int = 4,
    window: int = 250,
    overlap: int = 50,
    log=print,
    temperature: float = 0.0,
    top_k: int = 0,
    seed: int = 0,
    mouth_control=None,
    mouth_gain: float = 0.0,
    mouth_predictor=None,
    mouth_channel_gain: float = 1.0,
) -> dict[str, float]:
    """Speech-driven dev protocol (see module docstring) on up to ``max_clips`` cached dev ``clips``.

    ``temperature`` 0 = argmax (the paper); > 0 samples with ``top_k`` and a ``seed`` per clip.
    With a ``mouth_predictor`` and a stage-1 model that has a mouth channel, the channel receives
    :func:`vqtalker.generate.mouth.channel_input` of the predicted opening against the first frame's, with
    gain ``mouth_channel_gain`` (0 = off).

    Returns ``{}`` when no face is found in the rendered frames (the metric is then unavailable, not zero).
    """
    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.generate.data import mouth_points
    from vqtalker.generate.mouth import channel_input
    from vqtalker.lips import MOUTH_OPEN_SCALE, compare_lips, corr, lip_points, mouth_open

    model.eval()
    index = {c["id"]: c for c in load_index(data_root)["clips"]}
    per_clip = []
    for c in clips[:max_clips]:
        prepared = PreparedClip.open(f"{data_root}/{index[c.id]['dir']}")
        first = np.array(prepared.array("frames")[0])
        state = stage1.encode_source(first)
        opening = None
        if mouth_predictor is not None:
            from vqtalker.io.audio import load_audio

            wave = load_audio(prepared.path / "audio.wav", 16000)
            opening = mouth_predictor.predict(wave, c.num_frames)
        res = generate_motion(
            model,
            c.units,
            c.pose,
            c.gaze,
            c.blink,
            state.f_g[0],
            stage1.detokenize,
            window=window,
            overlap=overlap,
            temperature=temperature,
            top_k=top_k,
            generator=torch.Generator().manual_seed(seed),
            mouth_control=mouth_control,
            mouth_gain=mouth_gain,
            mouth_ref=float(mouth_open(c.mouth[0]) * MOUTH_OPEN_SCALE),
            mouth_opening=opening,
        )
        mouth_input = None
        if opening is not None and stage1.has_mouth_channel and mouth_channel_gain > 0:
            mouth_input = channel_input(opening, float(mouth_open(c.mouth[0]) * MOUTH_OPEN_SCALE),
                                        mouth_channel_gain)
        pred_corr = float("nan")
        if res.mouth is not None:
            pred_corr = corr(res.mouth.numpy(), mouth_open(c.mouth.numpy()[: len(res.mouth)]))
        frames = np.concatenate(list(stage1.render_uint8(state, res.motion, mouth_input)))
        pts, ok = lip_points(frames)
        if ok.mean() < 0.5:
            log(f"lipsync: face found in only {ok.mean():.0%} of rendered frames of {c.id}; skipped")
            continue
        n = min(len(ok), len(c.mouth))
        ok = ok[:n]
        gen = pts[:n][ok]
        real = c.mouth.numpy()[:n][ok]
        # static baseline: the first frame held, passed through stage 1 like the generated frames (Δ = 0)
        still = next(iter(stage1.render_uint8(state, torch.zeros(1, res.motion.shape[1]))))[:1]
        pts0, ok0 = lip_points(still)
        if not ok0[0]:  # fall back on the prepared landmarks of the real first frame
            pts0 = mouth_points(np.array(prepared.array("landmarks")[:1]), first.shape[0])
        static = np.repeat(pts0, len(real), 0)
        m = compare_lips(gen, real)
        d_static = float(np.linalg.norm(static - real, axis=-1).mean() * 100)
        per_clip.append(
            (
                m["mouth_lmd"],
                d_static,
                m["mouth_open_corr"],
                float(ok.mean()),
                m["mouth_open_range"],
                pred_corr,
            )
        )
        log(
            f"lipsync {c.id}: mouth LMD {m['mouth_lmd']:.3f}% (static first frame {d_static:.3f}%), "
            f"mouth-open corr {m['mouth_open_corr']:.3f}, range {m['mouth_open_range']:.2f}, "
            f"face found {ok.mean():.0%}"
            + ("" if res.mouth is None else f", predicted-opening corr {pred_corr:.3f}")
        )
    if not per_clip:
        return {}
    arr = np.array(per_clip)
    return {
        "mouth_lmd": float(arr[:, 0].mean()),
        "mouth_lmd_static": float(arr[:, 1].mean()),
        "mouth_open_corr": float(np.nanmean(arr[:, 2])) if np.isfinite(arr[:, 2]).any() else float("nan"),
        "face_found": float(arr[:, 3].mean()),
        "mouth_open_range": float(np.nanmean(arr[:, 4])),
        **({"mouth_pred_corr": float(np.nanmean(arr[:, 5]))} if np.isfinite(arr[:, 5]).any() else {}),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m vqtalker.generate.evaluate --stage1 S1 --stage2 S2 --data DATASET [--render 4]``.

    Prints (and with ``--json`` writes) the dev metrics of a trained stage-2 model: per-layer token
    accuracy (teacher-forced and generated), motion-space L1 against the static and quantisation-floor
    references, and with ``--render N`` the speech-driven mouth-landmark distance on N dev clips.
    """
    import argparse
    import json
    import sys
    from pathlib import Path

    from vqtalker.errors import VQTalkerError
    from vqtalker.generate.checkpoint import load_stage2
    from vqtalker.generate.data import build_cache, eval_windows, file_fingerprint, load_cache, planned_clips
    from vqtalker.generate.mouth import mouth_guidance
    from vqtalker.generate.mouth_predictor import load_mouth_predictor
    from vqtalker.generate.stage1 import FrozenStage1
    from vqtalker.pipeline import load_stage1_generator
    from vqtalker.speech import load_speech_tokenizer

    p = argparse.ArgumentParser(prog="python -m vqtalker.generate.evaluate", description=main.__doc__)
    p.add_argument("--stage1", required=True, help="stage-1 weights the stage-2 model was trained with")
    p.add_argument("--stage2", required=True, help="stage-2 weights (RUN_DIR/stage2.safetensors)")
    p.add_argument("--data", required=True, help="prepared dataset")
    p.add_argument("--split", default="dev")
    p.add_argument("--cache", default=None, help="cache dir (default: the run's cache next to --stage2)")
    p.add_argument("--window", type=int, default=200)
    p.add_argument("--render", type=int, default=4, metavar="N", help="clips for the lip metric (0 = skip)")
    p.add_argument("--max-clips", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the metrics here")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = argmax (paper); > 0 = sampling")
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--mouth-predictor",
        default=None,
        help="mouth predictor + control (vqtalker train mouth) for mouth guidance (default: none)",
    )
    p.add_argument(
        "--mouth-gain",
        type=float,
        default=None,
        help="mouth guidance gain (default: the predictor file's; 0 = off, the paper)",
    )
    p.add_argument(
        "--mouth-channel-gain",
        type=float,
        default=1.0,
        help="with a stage-1 mouth channel: scale of the predicted opening it receives (0 = off)",
    )
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        model, meta = load_stage2(args.stage2)
        predictor, control, gain = None, None, 0.0
        if args.mouth_predictor:
            predictor, pmeta = load_mouth_predictor(args.mouth_predictor)
            control, gain = mouth_guidance(pmeta, args.mouth_gain)
        stage1_path = Path(args.stage1)
        stage1 = FrozenStage1(load_stage1_generator(stage1_path))
        name = meta.get("speech_tokenizer", "default")
        tok = load_speech_tokenizer(name)
        cache = Path(args.cache) if args.cache else Path(args.stage2).parent / "cache"
        key = {"stage1": file_fingerprint(stage1_path), "speech_tokenizer": name, "tok": repr(tok)}
        plan = planned_clips(args.data, (args.split,), max_clips=args.max_clips)
        build_cache(args.data, cache, stage1, tok, key, plan, log=lambda m: print(m, file=sys.stderr))
        clips = load_cache(cache, plan, args.split)
        metrics = token_metrics(model, stage1, eval_windows(clips, min(args.window, model.cfg.max_len)))
        if args.render > 0:
            lip = lipsync_metrics(
                model,
                stage1,
                args.data,
                clips,
                args.render,
                log=lambda m: print(m, file=sys.stderr),
                temperature=args.temperature,
                top_k=args.top_k,
                seed=args.seed,
                mouth_control=control,
                mouth_gain=gain,
                mouth_predictor=predictor,
                mouth_channel_gain=args.mouth_channel_gain,
            )
            metrics.update(lip or {"mouth_lmd": None})  # None = unavailable (no face in the renders)
    except VQTalkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics = {
        "split": args.split,
        "clips": len(clips),
        "frames": sum(c.num_frames for c in clips),
        "step": meta.get("step"),
        "temperature": args.temperature,
        "top_k": args.top_k,
        "mouth_gain": gain,
        "mouth_channel_gain": args.mouth_channel_gain if stage1.has_mouth_channel and predictor else 0.0,
        **metrics,
    }
    text = json.dumps(metrics, indent=1)
    print(text)
    if args.json:
        from vqtalker.utils import atomic_write_bytes

        atomic_write_bytes(args.json, text.encode())
    return 0


__all__ = ["lipsync_metrics", "main", "token_metrics"]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
