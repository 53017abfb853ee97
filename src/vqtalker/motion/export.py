"""Self-contained generator weights: one safetensors file whose metadata carries the config JSON.

``export_generator(G, path, dtype=float16)`` writes ``path`` (weights, ``metadata["config"]`` =
:class:`MotionConfig` JSON, ``metadata["format"] = "vqtalker-motion-1"``) and a human-readable
``path.with_suffix(".json")`` copy of the config. ``load_generator(path)`` rebuilds the model in fp32.
A training checkpoint (``step-*.safetensors``) is also accepted by ``load_generator`` (its EMA weights).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vqtalker.errors import VQTalkerError
from vqtalker.utils import atomic_output

FORMAT = "vqtalker-motion-1"


def export_generator(generator, path: str | os.PathLike, dtype: torch.dtype = torch.float16,
                     extra: dict[str, str] | None = None) -> Path:
    path = Path(path)
    sd = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
          for k, v in generator.state_dict().items()}
    md = {"format": FORMAT, "config": generator.cfg.to_json(), "dtype": str(dtype).replace("torch.", "")}
    md.update(extra or {})
    with atomic_output(path) as tmp:
        save_file(sd, str(tmp), metadata=md)
    with atomic_output(path.with_suffix(".json")) as tmp:
        tmp.write_text(generator.cfg.to_json() + "\n")
    return path


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu", which: str = "ema"):
    """Load a :class:`MotionGenerator` (fp32, eval mode) from exported weights or a training checkpoint."""
    from vqtalker.motion.config import MotionConfig
    from vqtalker.motion.model import build_generator

    path = Path(path)
    if path.is_dir():
        cands = sorted(path.glob("*.safetensors"))
        if not cands:
            raise VQTalkerError(f"no .safetensors file in {path}")
        path = cands[-1]
    if not path.is_file():
        raise VQTalkerError(f"motion tokenizer weights not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise VQTalkerError(f"{path}: not a safetensors file ({exc})") from exc
    tensors = load_file(str(path))
    if md.get("format") == FORMAT:
        cfg = MotionConfig.from_dict(json.loads(md["config"]))
        sd = tensors
    elif md.get("format") == "vqtalker-ckpt-1":
        cfg = MotionConfig.from_dict(json.loads(md["meta"])["config"])
        pre = f"model/{which}/"
        sd = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
    else:
        raise VQTalkerError(f"{path}: not a vqtalker motion tokenizer file (format {md.get('format')!r})")
    G = build_generator(cfg)
    try:
        G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise VQTalkerError(f"{path}: weights do not match config {cfg.name} ({first})") from exc
    return G.to(device).eval()


def training_clips_table(prepared_roots: list[str | os.PathLike], splits=("train",),
                         manifest: str | os.PathLike | None = None) -> list[dict]:
    """Clips of prepared datasets (``index.json``) used for training, joined with the raw data's
    ``MANIFEST.tsv`` (source repository, licence, notes) when given. Used to write model cards."""
    import csv

    man = {}
    if manifest and Path(manifest).is_file():
        with open(manifest, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                man[row["file"]] = row
    rows = []
    for root in prepared_roots:
        index = json.loads((Path(root) / "index.json").read_text())
        top = Path(root).name
        for c in index["clips"]:
            if c["split"] not in splits:
                continue
            m = man.get(f"{top}/{c.get('source', '')}", {})
            rows.append({"clip": c["id"], "dataset": top, "frames": c["num_frames"],
                         "source_repo": m.get("source_repo", "?"),
                         "license": m.get("license", c.get("license")),
                         "notes": m.get("notes", "")})
    return rows


def research_only(rows: list[dict]) -> bool:
    """True if any clip's licence or notes mark it non-commercial / no-derivatives / research-only."""
    keys = ("nc", "non-commercial", "noncommercial", "research", "-nd", "no license", "none")
    for r in rows:
        text = f"{r.get('license', '')} {r.get('notes', '')}".lower()
        if any(k in text for k in keys):
            return True
    return False
