"""Contact sheet of a prepared clip: frames with landmarks and region boxes, plus the control signals.

Row 1: 6 frames evenly spaced, with the 478 landmarks (green dots, iris centres red), the eye/mouth boxes
(yellow/cyan) and the frame number. Rows 2–4: pose (yaw/pitch/roll degrees), gaze (horizontal/vertical),
blink (left/right eye openness) over time (seconds), with the shown frames marked by grey lines.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def draw_landmarks(frame: np.ndarray, landmarks: np.ndarray, regions: np.ndarray | None = None) -> np.ndarray:
    """Copy of ``frame [S, S, 3]`` with ``landmarks [478, 3]`` (crop px) and ``regions [3, 4]`` drawn."""
    import cv2

    img = np.ascontiguousarray(frame).copy()
    r = max(1, img.shape[0] // 256)
    for x, y in landmarks[:468, :2]:
        cv2.circle(img, (int(round(x)), int(round(y))), r, (0, 255, 0), -1, lineType=cv2.LINE_AA)
    for i in (468, 473):
        x, y = landmarks[i, :2]
        cv2.circle(img, (int(round(x)), int(round(y))), 2 * r, (255, 0, 0), -1, lineType=cv2.LINE_AA)
    if regions is not None:
        for box, col in zip(regions, ((255, 255, 0), (255, 255, 0), (0, 255, 255))):
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x0, y0), (x1, y1), col, r)
    return img


def write_preview(clip_dir: str | os.PathLike, out_png: str | os.PathLike, n_frames: int = 6) -> Path:
    """Render the contact sheet of ``clip_dir`` to ``out_png`` (atomically); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vqtalker.data.layout import PreparedClip
    from vqtalker.utils import atomic_output

    clip = PreparedClip.open(clip_dir)
    T = clip.num_frames
    fps = float(clip.meta.get("fps", 25.0))
    idx = np.linspace(0, T - 1, n_frames).round().astype(int)
    frames, lms, regs = clip.array("frames"), clip.array("landmarks"), clip.array("regions")
    pose, gaze, blink = clip.array("pose"), clip.array("gaze"), clip.array("blink")
    t = np.arange(T) / fps
    fig = plt.figure(figsize=(2.2 * n_frames, 9.0), dpi=80)
    gs = fig.add_gridspec(4, n_frames, height_ratios=[1.35, 1, 1, 1])
    for j, k in enumerate(idx):
        ax = fig.add_subplot(gs[0, j])
        ax.imshow(draw_landmarks(frames[k], lms[k], regs[k]))
        ax.set_title(f"frame {k}", fontsize=8)
        ax.axis("off")
    series = [
        ("pose (deg)", pose, ("yaw", "pitch", "roll")),
        ("gaze", gaze, ("horizontal", "vertical")),
        ("blink (eye openness)", blink, ("left", "right")),
    ]
    for row, (name, data, labels) in enumerate(series, start=1):
        ax = fig.add_subplot(gs[row, :])
        for c, lab in enumerate(labels):
            ax.plot(t, data[:, c], label=lab, lw=1)
        for k in idx:
            ax.axvline(k / fps, color="0.8", lw=0.8, zorder=0)
        ax.set_ylabel(name, fontsize=8)
        ax.legend(fontsize=7, loc="upper right", ncol=len(labels))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    ax.set_xlabel("time (s)", fontsize=8)
    m = clip.meta
    fig.suptitle(
        f"{m['id']}  |  {T} frames @ {fps:g} fps, {m['size']}px  |  "
        f"audio: {'yes' if m['has_audio'] else 'no'}"
        f"  |  licence: {m.get('license') or '?'}",
        fontsize=9,
    )
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_output(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out_png
