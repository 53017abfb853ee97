"""Metrics as a long-format CSV (``step,split,name,value``; appends survive resume) and a PNG of curves."""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from pathlib import Path

from vqtalker.utils import atomic_output


class MetricsLogger:
    """Append ``(step, split, name, value)`` rows to ``metrics.csv``; on resume rows past ``resume_step``
    (written after the last checkpoint) are dropped so the curve has no duplicates."""

    HEADER = ["step", "split", "name", "value"]

    def __init__(self, path: str | os.PathLike, resume_step: int | None = None):
        self.path = Path(path)
        if self.path.exists() and resume_step is not None:
            rows = [r for r in self.read(self.path) if int(r["step"]) <= resume_step]
            with atomic_output(self.path) as tmp, open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(self.HEADER)
                for r in rows:
                    w.writerow([r["step"], r["split"], r["name"], r["value"]])
        elif not self.path.exists() or resume_step is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.HEADER)

    def log(self, step: int, split: str, values: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            for k, v in values.items():
                w.writerow([int(step), split, k, f"{float(v):.6g}"])

    @staticmethod
    def read(path: str | os.PathLike) -> list[dict]:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))


def plot_metrics(csv_path: str | os.PathLike, png_path: str | os.PathLike, smooth: int = 20) -> None:
    """One subplot per metric name, a line per split; training curves get a running mean of ``smooth``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for r in MetricsLogger.read(csv_path):
        v = float(r["value"])
        if math.isfinite(v):
            series[r["name"]][r["split"]].append((int(r["step"]), v))
    if not series:
        return
    names = sorted(series)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for split, pts in sorted(series[name].items()):
            pts.sort()
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            if split == "train" and smooth > 1 and len(ys) > smooth:
                acc, out = 0.0, []
                for i, y in enumerate(ys):
                    acc += y
                    if i >= smooth:
                        acc -= ys[i - smooth]
                    out.append(acc / min(i + 1, smooth))
                ys = out
            ax.plot(xs, ys, label=split, marker="o" if len(xs) < 30 else None)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_output(png_path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
