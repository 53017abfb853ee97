"""Stage-2 inference: coarse-to-fine token generation (4 passes) and long audio in blended windows.

* :func:`sample_tokens` — argmax (the paper) or temperature / top-k sampling with an explicit
  ``torch.Generator`` (same seed → same tokens; diverse dynamics as in FlowVQTalker's sampling idea, beyond
  the paper).
* :func:`coarse_to_fine` — exactly ``R`` forward passes for a window: layer r is predicted from the speech,
  controls, f_g and the layer r−1 just generated (zeros for r = 0); each pass is non-autoregressive in time.
* :func:`generate_motion` — a whole utterance of any length: fixed-size windows with overlap, each window
  generated independently and detokenised to the 120-d motion difference Δ; overlaps are cross-faded in motion
  space with linear weights, so seams cannot jump and the model's memory use is that of one window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vqtalker.generate.model import MotionTokenBERT


def sample_tokens(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one class per position from ``logits [..., C]`` → long ``[...]``.

    ``temperature <= 0`` is argmax. Otherwise sample from ``softmax(logits / temperature)`` restricted to the
    ``top_k`` most likely classes (``top_k <= 0``: all). Sampling runs on the CPU generator so that the result
    depends only on the seed, not on the device.
    """
    if temperature is None or temperature <= 0:
        return logits.argmax(dim=-1)
    x = logits.detach().float().cpu() / float(temperature)
    if top_k and 0 < top_k < x.shape[-1]:
        kth = x.topk(top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    probs = torch.softmax(x, dim=-1).reshape(-1, x.shape[-1])
    idx = torch.multinomial(probs, 1, generator=generator).view(x.shape[:-1])
    return idx.to(logits.device)


@torch.no_grad()
def coarse_to_fine(
    model: MotionTokenBERT,
    audio: torch.Tensor,
    pose: torch.Tensor,
    gaze: torch.Tensor,
    blink: torch.Tensor,
    f_g: torch.Tensor,
    mask: torch.Tensor | None = None,
    temperature: float = 0.0,
    top_k: int = 0,
    generator: torch.Generator | None = None,
    pose_ref: torch.Tensor | None = None,
    aux: dict | None = None,
) -> torch.Tensor:
    """Generate motion tokens ``[B, T, R, G]`` (long) in exactly ``R`` passes, coarse (r = 0) to fine.

    Inputs as :meth:`MotionTokenBERT.forward`. Only for token-output models. ``aux``: receives
    ``aux["mouth"] [B, T]``, the mouth-opening prediction averaged over the passes, when the model has a
    mouth head.
    """
    cfg = model.cfg
    if cfg.motion_output != "tokens":
        raise ValueError(
            "coarse_to_fine needs a token-output model; use predict_motion for continuous output"
        )
    b, t = pose.shape[:2]
    tokens = torch.zeros(b, t, cfg.num_layers_rvq, cfg.groups, dtype=torch.long, device=pose.device)
    mouth = []
    for r in range(cfg.num_layers_rvq):
        out: dict = {}
        logits = model(audio, pose, gaze, blink, f_g, tokens, r, mask, pose_ref, aux=out)  # [B, T, G, C]
        tokens[:, :, r] = sample_tokens(logits, temperature, top_k, generator)
        if "mouth" in out:
            mouth.append(out["mouth"])
    if aux is not None and mouth:
        aux["mouth"] = torch.stack(mouth).mean(0)
    return tokens


@torch.no_grad()
def predict_motion(
    model: MotionTokenBERT, audio, pose, gaze, blink, f_g, mask=None, pose_ref=None, aux=None
) -> torch.Tensor:
    """One pass of a continuous-output model → motion difference ``[B, T, motion_dim]`` (``aux``: as in
    :func:`coarse_to_fine`)."""
    if model.cfg.motion_output != "continuous":
        raise ValueError("predict_motion needs a continuous-output model")
    return model(audio, pose, gaze, blink, f_g, None, 0, mask, pose_ref, aux=aux)


def window_starts(n_frames: int, window: int, overlap: int) -> list[int]:
    """Start frames of windows of ``window`` frames, consecutive windows sharing ``overlap`` frames.

    The last window is shifted left so that it ends exactly at ``n_frames`` (its overlap with the previous one
    can then be larger than ``overlap``). One window when ``n_frames <= window``.
    """
    if window <= 0:
        raise ValueError("window must be positive")
    if not 0 <= overlap < window:
        raise ValueError("overlap must satisfy 0 <= overlap < window")
    if n_frames <= window:
        return [0]
    hop = window - overlap
    starts = list(range(0, n_frames - window, hop))
    starts.append(n_frames - window)
    return starts


def crossfade_weights(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """Per-frame weights ``[length]`` rising linearly over the first ``fade_in`` frames and falling over
    the last
    ``fade_out`` frames (strictly positive, so every frame has non-zero total weight)."""
    w = torch.ones(length)
    if fade_in > 0:
        w[:fade_in] = torch.arange(1, fade_in + 1, dtype=torch.float32) / (fade_in + 1)
    if fade_out > 0:
        w[length - fade_out :] = torch.minimum(
            w[length - fade_out :], torch.arange(fade_out, 0, -1, dtype=torch.float32) / (fade_out + 1)
        )
    return w


@dataclass
class GeneratedMotion:
    """Result of :func:`generate_motion` for one utterance (25 fps).

    ``motion``: ``[T, motion_dim]`` float, the blended motion difference Δ̂ (add f_s to get α).
    ``tokens``: ``[T, R, G]`` long motion tokens (in overlaps: those of the window whose weight is larger), or
    ``None`` for a continuous-output model.
    ``mouth``: ``[T]`` the model's mouth-opening prediction (20 × inner-lip gap as a fraction of the crop
    side; blended like the motion), or ``None`` when the model has no mouth head. Mouth guidance from a
    separate predictor is applied afterwards by :class:`vqtalker.mouth.guidance.MouthGuidance`.
    """

    motion: torch.Tensor
    tokens: torch.Tensor | None
    mouth: torch.Tensor | None = None


@torch.no_grad()
def generate_motion(
    model: MotionTokenBERT,
    audio: torch.Tensor,
    pose: torch.Tensor,
    gaze: torch.Tensor,
    blink: torch.Tensor,
    f_g: torch.Tensor,
    detokenize: Callable[[torch.Tensor], torch.Tensor] | None,
    window: int = 250,
    overlap: int = 50,
    temperature: float = 0.0,
    top_k: int = 0,
    generator: torch.Generator | None = None,
    pose_ref: torch.Tensor | None = None,
) -> GeneratedMotion:
    """Generate the motion of one utterance of any length.

    ``audio``: ``[2T]`` long tokens or ``[2T, audio_dim]`` features (50 Hz); ``pose [T, 3]`` (deg),
    ``gaze [T, 2]``, ``blink [T, 2]``; ``f_g [face_dim]``. ``detokenize(tokens [t, R, G]) -> [t, motion_dim]``
    (the frozen stage-1 decoder; unused for continuous-output models). Windows of ``window`` frames
    (≤ ``max_len``) overlap by ``overlap`` frames and are cross-faded in motion space.
    ``pose_ref [3]``: head pose of the reference (source) frame every window is relative to (default
    ``pose[0]``; only read by models with ``pose_input="both"``).
    """
    cfg = model.cfg
    t_total = pose.shape[0]
    window = min(window, cfg.max_len)
    overlap = min(overlap, window - 1)
    dev = next(model.parameters()).device
    motion = torch.zeros(t_total, cfg.motion_dim)
    weight = torch.zeros(t_total, 1)
    tokens = None
    best = None
    if cfg.motion_output == "tokens":
        if detokenize is None:
            raise ValueError("detokenize is required for token-output models")
        tokens = torch.zeros(t_total, cfg.num_layers_rvq, cfg.groups, dtype=torch.long)
        best = torch.full((t_total,), -1.0)
    mouth = torch.zeros(t_total) if hasattr(model, "mouth_head") else None
    starts = window_starts(t_total, window, overlap)
    r = cfg.audio_rate_ratio
    for i, s in enumerate(starts):
        e = min(s + window, t_total)
        n = e - s
        a = audio[r * s : r * e].unsqueeze(0).to(dev)
        args = (
            a,
            pose[s:e].unsqueeze(0).to(dev),
            gaze[s:e].unsqueeze(0).to(dev),
            blink[s:e].unsqueeze(0).to(dev),
            f_g.view(1, -1).to(dev),
        )
        ref = (pose[0] if pose_ref is None else pose_ref).view(1, 3).to(dev)
        aux: dict = {}
        if cfg.motion_output == "tokens":
            tok = coarse_to_fine(
                model, *args, temperature=temperature, top_k=top_k, generator=generator, pose_ref=ref, aux=aux
            )[0].cpu()
            mot = detokenize(tok).detach().float().cpu().reshape(n, cfg.motion_dim)
        else:
            tok = None
            mot = predict_motion(model, *args, pose_ref=ref, aux=aux)[0].float().cpu()
        fade_in = (starts[i - 1] + window - s) if i > 0 else 0
        fade_out = (e - starts[i + 1]) if i + 1 < len(starts) else 0
        w = crossfade_weights(n, max(fade_in, 0), max(fade_out, 0))
        motion[s:e] += w[:, None] * mot
        weight[s:e, 0] += w
        if mouth is not None:
            mouth[s:e] += w * aux["mouth"][0].float().cpu()
        if tok is not None:
            better = w > best[s:e]
            tokens[s:e][better] = tok[better]
            best[s:e] = torch.maximum(best[s:e], w)
    motion = motion / weight
    if mouth is not None:
        mouth = mouth / weight[:, 0]
    return GeneratedMotion(motion=motion, tokens=tokens, mouth=mouth)


__all__ = [
    "GeneratedMotion",
    "coarse_to_fine",
    "crossfade_weights",
    "generate_motion",
    "predict_motion",
    "sample_tokens",
    "window_starts",
]
