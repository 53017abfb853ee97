"""The Table-3 quantizer comparison on a synthetic facial-motion-like signal (the ``vqtalker demo`` table).

:func:`motion_like_signal` makes a seeded ``[T, 120]`` signal at 25 fps that behaves like LIA motion-code
deltas: slow head motion (0.05-0.5 Hz sinusoids + a smoothed random walk), slow expression changes,
syllable-rate mouth oscillation (3-6 Hz, gated by talk/pause bursts), occasional blinks, all mixed into 120
channels by a fixed random matrix, plus small per-frame jitter. It is synthetic, not facial data.

:func:`quantizer_table` fits every quantizer of the family on one such signal (learned projections of the
FSQ family by Adam on the reconstruction MSE; codebooks of the VQ family by EMA k-means updates; same number
of steps and batch size for all), then evaluates on a *different* seeded signal: bits/frame, kbps at 25
fps, utilisation (codes used at least once, mean over groups) per residual layer and overall, perplexity,
and reconstruction MSE (absolute and relative to the signal variance).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from vqtalker.quantize.bitrate import VIDEO_FPS, bitrate_kbps
from vqtalker.quantize.build import build_quantizer
from vqtalker.quantize.stats import CodebookStats


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average along axis 0 (same length, reflect padding)."""
    if width <= 1:
        return x
    k = np.ones(width) / width
    pad = width // 2
    xp = np.pad(x, ((pad, width - 1 - pad), (0, 0)), mode="reflect")
    return np.stack([np.convolve(xp[:, j], k, mode="valid") for j in range(x.shape[1])], axis=1)


def motion_like_signal(
    num_frames: int, dim: int = 120, fps: float = VIDEO_FPS, seed: int = 0, jitter: float = 0.03
) -> torch.Tensor:
    """Seeded facial-motion-like signal ``[num_frames, dim]`` (float32, per-channel std about 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    lat = []
    # head pose (6 latents): sum of slow sinusoids with 1/f amplitudes + smoothed random walk
    for _ in range(6):
        f = rng.uniform(0.05, 0.5, size=3)
        s = sum(np.sin(2 * np.pi * fi * t + rng.uniform(0, 2 * np.pi)) / (fi / 0.05) ** 0.5 for fi in f)
        walk = _smooth(np.cumsum(rng.normal(size=(num_frames, 1)), axis=0), int(2 * fps))[:, 0]
        walk = (walk - walk.mean()) / (walk.std() + 1e-8)
        lat.append(s + 0.5 * walk)
    # expressions / eyebrows (4 latents): piecewise-constant targets, smoothed over ~0.5 s
    for _ in range(4):
        n_seg = max(1, int(num_frames / (fps * rng.uniform(1.5, 4.0))))
        edges = np.sort(rng.integers(0, num_frames, size=n_seg))
        vals = rng.normal(size=n_seg + 1)
        step = vals[np.searchsorted(edges, np.arange(num_frames), side="right")]
        lat.append(_smooth(step[:, None], int(0.5 * fps))[:, 0])
    # speech envelope: talk bursts of 1-4 s separated by 0.3-1 s pauses, 80 ms ramps
    env = np.zeros(num_frames)
    pos, talking = 0, True
    while pos < num_frames:
        dur = int(fps * (rng.uniform(1.0, 4.0) if talking else rng.uniform(0.3, 1.0)))
        env[pos : pos + dur] = 1.0 if talking else 0.0
        pos, talking = pos + max(dur, 1), not talking
    env = _smooth(env[:, None], max(1, int(0.08 * fps)))[:, 0]
    # mouth (8 latents): syllable oscillation at a drifting 3-6 Hz rate + harmonics, gated by the envelope
    rate = 4.5 + 1.5 * np.sin(2 * np.pi * 0.07 * t + rng.uniform(0, 2 * np.pi))
    phase = np.cumsum(2 * np.pi * rate / fps)
    for _ in range(8):
        ph = rng.uniform(0, 2 * np.pi)
        osc = np.sin(phase + ph) + 0.4 * rng.uniform(-1, 1) * np.sin(2 * phase + 2 * ph)
        lat.append(1.2 * env * (0.3 + 0.7 * np.abs(osc)) * np.sign(osc))
    # blinks (2 latents): ~150 ms closures every 2-6 s
    blink = np.zeros(num_frames)
    pos = int(fps * rng.uniform(0.5, 3.0))
    while pos < num_frames:
        blink += np.exp(-0.5 * ((np.arange(num_frames) - pos) / (0.05 * fps)) ** 2)
        pos += int(fps * rng.uniform(2.0, 6.0))
    lat.append(1.5 * blink)
    lat.append(1.5 * blink * rng.uniform(0.8, 1.0))
    latents = np.stack(lat, axis=1)  # [T, 20]
    # fixed mixing (seed-independent so train/eval signals share the same "face space")
    mix_rng = np.random.default_rng(1234)
    weights = np.concatenate([np.full(6, 1.0), np.full(4, 0.6), np.full(8, 0.8), np.full(2, 0.5)])
    mix = mix_rng.normal(size=(latents.shape[1], dim)) * weights[:, None]
    x = latents @ mix
    x = x / (x.std(axis=0, keepdims=True) + 1e-8)
    x = x + jitter * rng.normal(size=x.shape)
    return torch.from_numpy(x.astype(np.float32))


@dataclass
class TableRow:
    """One line of the comparison (one quantizer configuration)."""

    label: str
    name: str
    groups: int
    num_quantizers: int
    codes: str
    bits_per_frame: float
    kbps: float
    utilization: float
    utilization_per_layer: list[float]
    perplexity: float
    mse: float
    rel_mse: float
    fit_seconds: float
    params: int
    cfg: dict = field(default_factory=dict)


# (label, builder name, overrides): the rows of the paper's Table 3 (D = 120)
TABLE3_ROWS: tuple[tuple[str, str, dict], ...] = (
    ("VQ", "vq", {}),
    ("GVQ", "gvq", {}),
    ("RVQ", "rvq", {}),
    ("GRVQ", "grvq", {}),
    ("GRFSQ", "grfsq", dict(groups=8)),
    ("GRFSQ", "grfsq", dict(num_quantizers=2)),
    ("GRFSQ", "grfsq", dict(levels=(4, 4, 4, 4))),
    ("GRFSQ", "grfsq", dict(levels=(6, 6, 6, 6))),
    ("GRFSQ (paper)", "grfsq", {}),
)


def _codes_label(q) -> str:
    levels = getattr(q, "levels", None)
    if levels is not None:
        return "x".join(str(v) for v in levels)
    return str(q.codebook_size)


def _windows(x: torch.Tensor, batch: int, window: int, gen: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, x.shape[0] - window + 1, (batch,), generator=gen)
    return torch.stack([x[s : s + window] for s in starts.tolist()])


def fit_quantizer(
    q, train: torch.Tensor, steps: int, batch: int = 8, window: int = 64, lr: float = 1e-2, seed: int = 0
) -> None:
    """Fit ``q`` on ``train[T, D]``: Adam on the MSE for learned parameters (FSQ projections), EMA codebook
    updates for the VQ family (their STE output carries no parameter gradient)."""
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in q.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, foreach=True) if params else None
    q.train()
    for _ in range(steps):
        xb = _windows(train, batch, window, gen)
        if opt is None:
            with torch.no_grad():
                q(xb)
            continue
        out, _ = q(xb)
        loss = F.mse_loss(out, xb)
        aux = getattr(q, "commit_loss", None)
        if aux is not None and aux.requires_grad:
            loss = loss + aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    q.eval()


@torch.no_grad()
def evaluate_quantizer(q, x: torch.Tensor, chunk: int = 500) -> tuple[CodebookStats, float, float]:
    """Quantize ``x[T, D]`` in chunks; return (stats, MSE, MSE / var(x))."""
    q.eval()
    stats = CodebookStats.for_quantizer(q)
    se = 0.0
    for s in range(0, x.shape[0], chunk):
        xb = x[s : s + chunk].unsqueeze(0)
        out, idx = q(xb)
        stats.update(idx)
        se += float(((out - xb) ** 2).sum())
    mse = se / x.numel()
    return stats, mse, mse / float(x.var())


def quantizer_table(
    rows=TABLE3_ROWS,
    train_seconds: float = 120.0,
    eval_seconds: float = 60.0,
    fit_steps: int = 300,
    batch: int = 4,
    window: int = 32,
    fps: float = VIDEO_FPS,
    dim: int = 120,
    seed: int = 0,
    num_threads: int = 1,
) -> list[TableRow]:
    """Fit and evaluate each ``(label, name, overrides)`` row; returns one :class:`TableRow` per row.

    Runs with ``num_threads`` torch threads (default 1, restored afterwards): every op here is tiny, and on a
    shared 2-core machine two OpenMP threads made the fits much slower (figures in the README).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(num_threads)))
    try:
        return _quantizer_table(rows, train_seconds, eval_seconds, fit_steps, batch, window, fps, dim, seed)
    finally:
        torch.set_num_threads(previous)


def _quantizer_table(rows, train_seconds, eval_seconds, fit_steps, batch, window, fps, dim, seed):
    torch.manual_seed(seed)
    train = motion_like_signal(int(train_seconds * fps), dim, fps, seed=seed)
    test = motion_like_signal(int(eval_seconds * fps), dim, fps, seed=seed + 1)
    out = []
    for i, (label, name, overrides) in enumerate(rows):
        torch.manual_seed(seed + 17 * i)
        q = build_quantizer(name, dim=dim, **overrides)
        t0 = time.perf_counter()
        fit_quantizer(q, train, fit_steps, batch, min(window, train.shape[0]), seed=seed + i)
        fit_s = time.perf_counter() - t0
        stats, mse, rel = evaluate_quantizer(q, test)
        summ = stats.summary()
        out.append(
            TableRow(
                label=label,
                name=name,
                groups=q.groups,
                num_quantizers=q.num_quantizers,
                codes=_codes_label(q),
                bits_per_frame=q.bits_per_frame,
                kbps=bitrate_kbps(q.bits_per_frame, fps),
                utilization=summ["utilization"],
                utilization_per_layer=summ["utilization_per_layer"],
                perplexity=summ["perplexity"],
                mse=mse,
                rel_mse=rel,
                fit_seconds=fit_s,
                params=sum(p.numel() for p in q.parameters()),
                cfg=dict(overrides),
            )
        )
    return out


def _fmt_layers(util: list[float], max_shown: int = 4) -> str:
    shown = "/".join(f"{100 * u:.1f}" for u in util[:max_shown])
    if len(util) > max_shown:
        shown += f"/..({len(util)}: last {100 * util[-1]:.1f})"
    return shown


def format_table(rows: list[TableRow], fps: float = VIDEO_FPS) -> str:
    """Plain-text table (also valid Markdown)."""
    head = [
        "Method",
        "G",
        "R",
        "Codes",
        "bits/frame",
        f"kbps@{fps:g}",
        "Util.%",
        "Util.% per layer",
        "Perplexity",
        "MSE",
        "rel.MSE",
    ]
    lines = [head]
    for r in rows:
        lines.append(
            [
                r.label,
                str(r.groups),
                str(r.num_quantizers),
                r.codes,
                f"{r.bits_per_frame:.1f}",
                f"{r.kbps:.2f}",
                f"{100 * r.utilization:.2f}",
                _fmt_layers(r.utilization_per_layer),
                f"{r.perplexity:.1f}",
                f"{r.mse:.4f}",
                f"{r.rel_mse:.4f}",
            ]
        )
    widths = [max(len(line[j]) for line in lines) for j in range(len(head))]
    fmt = lambda line: "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(lines[0]), sep] + [fmt(line) for line in lines[1:]])


def paper_bitrate_check() -> float:
    """``4 * 12 * log2(625) * 25`` bit/s (the paper's 11 145.25)."""
    return 4 * 12 * math.log2(625) * VIDEO_FPS
