"""Training data and loop of the speech → mouth predictor (:mod:`vqtalker.mouth.predictor`).

Examples are prepared clips with speech: speech features ``[R·T, D]`` (:mod:`vqtalker.mouth.features`) and
the target tracks ``[T, n_outputs]`` at 25 fps: the mouth opening (20 × inner-lip gap / crop side, from the
prepared landmarks) and, when the model predicts them, the blendshape mouth parameters
(:mod:`vqtalker.face.blendshapes`; NaN where no face was found, not scored).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqtalker.mouth.predictor import MouthPredictor, MouthPredictorConfig


@dataclass
class MouthExample:
    """One clip: ``feats [R·T, D]``, ``target [T, n_outputs]`` (NaN = unknown), its ``language``."""

    id: str
    feats: torch.Tensor
    target: torch.Tensor
    language: str = ""

    def __iter__(self):  # (id, feats, target) unpacking, as before
        return iter((self.id, self.feats, self.target))

    def __len__(self) -> int:
        return self.target.shape[0]


def as_examples(examples) -> list[MouthExample]:
    """Accept :class:`MouthExample` items or ``(id, feats, target)`` tuples (target ``[T]`` or
    ``[T, n]``)."""
    out = []
    for ex in examples:
        if not isinstance(ex, MouthExample):
            cid, feats, target = ex
            ex = MouthExample(cid, feats, target.reshape(target.shape[0], -1).float())
        elif ex.target.dim() == 1:
            ex = MouthExample(ex.id, ex.feats, ex.target[:, None], ex.language)
        out.append(ex)
    return out


def clip_examples(
    data_root,
    split: str,
    cfg: MouthPredictorConfig = MouthPredictorConfig(),
    cache_dir: str | os.PathLike | None = None,
    log=None,
) -> list[MouthExample]:
    """Examples of the prepared clips with speech in ``split`` for a model configured by ``cfg``.

    ``cache_dir``: where the slow parts (phoneme posteriors, voice activity, blendshapes) are kept per clip
    (``<clip id>.npz``), so a resumed or repeated run does not recompute them."""
    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.face.lips import mouth_opening, mouth_points
    from vqtalker.io.audio import load_audio
    from vqtalker.mouth.features import assemble, compute_parts, raw_parts

    want_bs = [o for o in cfg.outputs[1:]]
    out = []
    for c in load_index(data_root)["clips"]:
        if c["split"] != split or not c.get("has_audio"):
            continue
        clip = PreparedClip.open(f"{data_root}/{c['dir']}")
        lm = np.array(clip.array("landmarks"))
        t = int(lm.shape[0])
        cached = _load_cache(cache_dir, c["id"])
        parts = {k: cached[k] for k in raw_parts(cfg.features) if k in cached and k not in _FAST}
        missing = [k for k in raw_parts(cfg.features) if k not in parts]
        if missing:
            wave = load_audio(clip.path / "audio.wav", 16000)
            new = compute_parts(wave, "+".join(missing), t)
            parts.update(new)
            _save_cache(cache_dir, c["id"], {k: v for k, v in new.items() if k not in _FAST}, cached)
        cols = [torch.from_numpy(mouth_opening(mouth_points(lm, int(c["size"])))).float()[:, None]]
        if want_bs:
            if "mouth_params" not in cached:
                from vqtalker.face.blendshapes import video_mouth_params

                cached["mouth_params"] = video_mouth_params(clip.array("frames"))
                _save_cache(cache_dir, c["id"], {"mouth_params": cached["mouth_params"]}, cached)
            cols.append(torch.from_numpy(_select_params(cached["mouth_params"], want_bs)))
        y = torch.cat([col[:t] for col in cols], 1)
        if t >= 8:
            out.append(MouthExample(c["id"], assemble(parts, cfg.features, t), y, c.get("language", "")))
        if log is not None and [k for k in missing if k not in _FAST]:
            log(f"mouth features computed: {c['id']} ({t} frames)")
    return out


#: parts recomputed every time (cheaper than their cache)
_FAST = ("mel", "mel100", "tokens")


def _select_params(params: np.ndarray, names: list[str]) -> np.ndarray:
    from vqtalker.face.blendshapes import MOUTH_PARAMS

    order = list(MOUTH_PARAMS)
    return np.asarray(params, np.float32)[:, [order.index(n) for n in names]]


def _load_cache(cache_dir, clip_id: str) -> dict:
    if cache_dir is None:
        return {}
    p = Path(cache_dir) / f"{clip_id}.npz"
    if not p.is_file():
        return {}
    with np.load(p) as z:
        return {k: z[k].astype(np.float32) for k in z.files}


def _save_cache(cache_dir, clip_id: str, new: dict, cached: dict) -> None:
    if cache_dir is None or not new:
        return
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    cached.update(new)
    p = Path(cache_dir) / f"{clip_id}.npz"
    tmp = p.with_suffix(".tmp.npz")
    np.savez(
        tmp, **{k: np.asarray(v, np.float16 if k == "phonemes" else np.float32) for k, v in cached.items()}
    )
    os.replace(tmp, p)


def evaluate_predictor(model: MouthPredictor, examples, by_language: bool = False) -> dict[str, float]:
    """Mean per-clip Pearson correlation and L1 of the predicted opening (and of each mouth parameter,
    ``corr_<name>``); ``by_language``: also ``corr@<language>``."""
    from vqtalker.face.lips import corr

    model.eval()
    examples = as_examples(examples)
    per = {n: [] for n in model.cfg.outputs}
    l1, langs = [], []
    with torch.no_grad():
        for ex in examples:
            p = model(ex.feats[None])[0]
            y = ex.target
            for j, n in enumerate(model.cfg.outputs):
                ok = ~torch.isnan(y[:, j])
                per[n].append(corr(p[ok, j].numpy(), y[ok, j].numpy()) if ok.sum() > 2 else float("nan"))
            l1.append(float((p[:, 0] - y[:, 0]).abs().mean()))
            langs.append(ex.language)
    if not l1:
        return {"corr": float("nan"), "l1": float("nan")}
    res = {"corr": _finite_mean(per["opening"]), "l1": float(np.mean(l1))}
    for n in model.cfg.outputs[1:]:
        res[f"corr_{n}"] = _finite_mean(per[n])
    if by_language:
        for lang in sorted(set(langs)):
            res[f"corr@{lang}"] = _finite_mean([c for c, la in zip(per["opening"], langs) if la == lang])
    return res


def _finite_mean(values) -> float:
    """Mean of the finite values (NaN, without a warning, when there is none)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def predictor_step(
    model,
    opt,
    train,
    g: torch.Generator,
    batch: int = 16,
    window: int = 64,
    corr_weight: float = 0.0,
    noise: float = 0.1,
    param_weight: float = 1.0,
) -> float:
    """One AdamW step on ``batch`` random ``window``-frame crops of ``train`` (:func:`clip_examples`, drawn
    with ``g`` in proportion to their lengths): L1 on the opening + ``param_weight`` · L1 on the mouth
    parameters (+ ``corr_weight`` · (1 − correlation of the opening) per crop), Gaussian feature noise
    ``noise``. Returns the loss."""
    model.train()
    train = train if train and isinstance(train[0], MouthExample) else as_examples(train)
    r = model.cfg.rows_per_frame
    n_out = len(model.cfg.outputs)
    lengths = torch.tensor([len(ex) for ex in train], dtype=torch.float)
    feats, ys = [], []
    for i in torch.multinomial(lengths, batch, replacement=True, generator=g).tolist():
        _, x, y = train[i]
        w = min(window, len(y))
        s = int(torch.randint(0, len(y) - w + 1, (1,), generator=g))
        m = x[s * r : (s + w) * r]
        if w < window:  # short clip: pad (the padded frames are not scored)
            m = F.pad(m, (0, 0, 0, (window - w) * r))
        feats.append(m)
        yy = y[s : s + w].reshape(w, -1)[:, :n_out]
        ys.append(F.pad(yy, (0, 0, 0, window - w), value=float("nan")))
    x_b = torch.stack(feats)
    x_b = x_b + noise * torch.randn(x_b.shape, generator=g)
    y_b = torch.stack(ys)  # [B, W, n_out]
    pred = model(x_b)
    ok = ~torch.isnan(y_b)
    err = (pred - torch.nan_to_num(y_b)).abs() * ok
    loss = err[..., 0].sum() / ok[..., 0].sum().clamp(min=1)
    if n_out > 1:
        loss = loss + param_weight * err[..., 1:].sum() / ok[..., 1:].sum().clamp(min=1)
    if corr_weight > 0:
        loss = loss + corr_weight * (1 - _masked_corr(pred[..., 0], y_b[..., 0], ok[..., 0])).mean()
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
    train, dev = as_examples(train), as_examples(dev)
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


def motion_clips(stage1, data_root, split, cache_dir=None, param_names=()):
    """Minimal clip views (``f`` motion codes, ``mouth`` lip points, and with ``param_names`` the cached
    ``params [T, K]`` of :func:`clip_examples`) of ``split`` for the control fit."""
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
        view = SimpleNamespace(f=f, mouth=mouth)
        if param_names:
            cached = _load_cache(cache_dir, c["id"])
            if "mouth_params" not in cached:
                continue
            view.params = _select_params(cached["mouth_params"], list(param_names))
        out.append(view)
    return out


def text_calibration(examples):
    """:class:`~vqtalker.mouth.visemes.TextCalibration` of the real openings of ``examples`` (all frames:
    rest = 5th, /a/ = 90th percentile)."""
    from vqtalker.mouth.visemes import TextCalibration

    ys = torch.cat([ex.target[:, 0] for ex in as_examples(examples)]).numpy()
    return TextCalibration.fit(ys)


__all__ = [
    "MouthExample",
    "as_examples",
    "clip_examples",
    "text_calibration",
    "evaluate_predictor",
    "motion_clips",
    "predictor_step",
    "train_predictor",
]
