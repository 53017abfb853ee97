"""Training data and loop of the speech → mouth-opening predictor (:mod:`vqtalker.mouth.predictor`).

Examples are prepared clips with speech: per-utterance normalised log-mel ``[4T, 128]`` (100 fps) and the
mouth opening ``[T]`` (25 fps, 20 × inner-lip gap / crop side) from the prepared landmarks.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from vqtalker.mouth.predictor import MEL_PER_FRAME, MouthPredictor, MouthPredictorConfig, log_mel


def clip_examples(data_root, split: str) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``[(id, log-mel [4T, n_mels], opening [T])]`` of the prepared clips with speech in ``split``."""
    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.face.lips import mouth_opening, mouth_points
    from vqtalker.io.audio import load_audio

    out = []
    for c in load_index(data_root)["clips"]:
        if c["split"] != split or not c.get("has_audio"):
            continue
        clip = PreparedClip.open(f"{data_root}/{c['dir']}")
        lm = np.array(clip.array("landmarks"))
        y = torch.from_numpy(mouth_opening(mouth_points(lm, int(c["size"])))).float()
        mel = log_mel(load_audio(clip.path / "audio.wav", 16000))
        t = min(len(y), mel.shape[0] // MEL_PER_FRAME)
        if t >= 8:
            out.append((c["id"], mel[: t * MEL_PER_FRAME], y[:t]))
    return out


def evaluate_predictor(model: MouthPredictor, examples) -> dict[str, float]:
    """Mean per-clip Pearson correlation and L1 of the predicted opening."""
    from vqtalker.face.lips import corr

    model.eval()
    cs, l1 = [], []
    with torch.no_grad():
        for _, mel, y in examples:
            p = model(mel[None])[0]
            cs.append(corr(p.numpy(), y.numpy()))
            l1.append(float((p - y).abs().mean()))
    return {
        "corr": float(np.nanmean(cs)) if cs else float("nan"),
        "l1": float(np.mean(l1)) if l1 else float("nan"),
    }


def predictor_step(model, opt, train, g: torch.Generator, batch: int = 16, window: int = 64,
                   corr_weight: float = 0.0) -> float:
    """One AdamW step on ``batch`` random ``window``-frame crops of ``train`` (:func:`clip_examples`, drawn
    with ``g`` in proportion to their lengths), L1 loss (+ ``corr_weight`` · (1 − correlation) per crop), mel
    noise augmentation. Returns the loss."""
    model.train()
    lengths = torch.tensor([len(y) for _, _, y in train], dtype=torch.float)
    mels, ys = [], []
    for i in torch.multinomial(lengths, batch, replacement=True, generator=g).tolist():
        _, mel, y = train[i]
        w = min(window, len(y))
        s = int(torch.randint(0, len(y) - w + 1, (1,), generator=g))
        m = mel[s * MEL_PER_FRAME : (s + w) * MEL_PER_FRAME]
        if w < window:  # short clip: pad (the padded frames are not scored)
            m = F.pad(m, (0, 0, 0, (window - w) * MEL_PER_FRAME))
        mels.append(m)
        ys.append(F.pad(y[s : s + w], (0, window - w), value=float("nan")))
    mel_b = torch.stack(mels)
    mel_b = mel_b + 0.1 * torch.randn(mel_b.shape, generator=g)
    y_b = torch.stack(ys)
    pred = model(mel_b)
    ok = ~torch.isnan(y_b)
    loss = (pred[ok] - y_b[ok]).abs().mean()
    if corr_weight > 0:
        loss = loss + corr_weight * (1 - _masked_corr(pred, y_b, ok)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def train_predictor(
    train,
    dev=(),
    cfg: MouthPredictorConfig = MouthPredictorConfig(),
    steps: int = 1500,
    batch: int = 16,
    window: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    log=print,
    eval_every: int = 250,
    corr_weight: float = 0.0,
) -> tuple[MouthPredictor, list[dict]]:
    """Train in memory (no checkpoints; ``vqtalker train mouth`` runs the same steps in
    :class:`vqtalker.solvers.mouth.MouthTrainer`): AdamW with cosine decay, :func:`predictor_step`.
    Returns the final model (no selection on ``dev``) and the evaluation history."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MouthPredictor(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    history = []
    t0 = time.time()
    for step in range(1, steps + 1):
        for grp in opt.param_groups:
            grp["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = predictor_step(model, opt, train, g, batch, window, corr_weight)
        if step % eval_every == 0 or step == steps:
            dev_m = evaluate_predictor(model, dev) if dev else {}
            ev = {"step": step, "loss": loss, **{f"dev_{k}": v for k, v in dev_m.items()}}
            history.append(ev)
            log(
                f"mouth predictor step {step}: train L1 {ev['loss']:.4f}"
                + (f", dev corr {ev['dev_corr']:.3f}, dev L1 {ev['dev_l1']:.4f}" if dev_m else "")
                + f" ({time.time() - t0:.0f} s)"
            )
    return model.eval(), history


def _masked_corr(a: torch.Tensor, b: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per row of ``a``, ``b`` ``[B, T]`` over the frames where ``ok``; ``[B]``."""
    w = ok.float()
    n = w.sum(1).clamp(min=1)
    b = torch.nan_to_num(b)
    am = a - (a * w).sum(1, keepdim=True) / n[:, None]
    bm = b - (b * w).sum(1, keepdim=True) / n[:, None]
    cov = (am * bm * w).sum(1)
    return cov / ((am**2 * w).sum(1) * (bm**2 * w).sum(1) + 1e-8).sqrt()


def motion_clips(stage1, data_root, split):
    """Minimal clip views (``f`` motion codes, ``mouth`` lip points) of ``split`` for the control fit."""
    from types import SimpleNamespace

    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.face.lips import mouth_points

    out = []
    for c in load_index(data_root)["clips"]:
        if c["split"] != split or not c.get("has_audio"):
            continue
        clip = PreparedClip.open(f"{data_root}/{c['dir']}")
        _, f = stage1.encode_codes(clip.array("frames"))
        mouth = torch.from_numpy(mouth_points(np.array(clip.array("landmarks")), int(c["size"])))
        out.append(SimpleNamespace(f=f, mouth=mouth))
    return out




__all__ = ["clip_examples", "evaluate_predictor", "motion_clips", "predictor_step", "train_predictor"]
