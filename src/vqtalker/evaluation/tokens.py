"""Dev token metrics of the stage-2 generator (the speech-driven lip metric is :mod:`.lipsync`).

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
  head (or a :class:`~vqtalker.mouth.predictor.MouthPredictor`) also the correlation of the
  predicted opening with the real one (``mouth_pred_corr``), and with a
  :class:`~vqtalker.mouth.control.MouthControl` and ``mouth_gain > 0`` the rendered video uses mouth
  guidance (reference opening = the first frame's prepared landmarks).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vqtalker.generate.inference import coarse_to_fine


def _targets(stage1, batch):
    """``(delta [B, T, M] raw f_t − f_ref, Δ̂ [B, T, M] its quantisation, indices [B, T, R, G])``."""
    delta = batch.f - batch.f_ref[:, None]
    dhat, idx = stage1.quantizer(delta)
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
        still, _ = stage1.quantizer(torch.zeros_like(delta[:, :1]))
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
            mot = stage1.quantizer.decode(gen)
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


__all__ = ["token_metrics"]
