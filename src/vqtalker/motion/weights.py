"""Stage-1 generator weights in the project's convention (:mod:`vqtalker.io.weights`).

``save_generator(G, path, dtype=float16)`` writes ``path`` (format ``vqtalker-motion-1``, metadata
``config`` = :class:`MotionConfig` JSON, ``dtype``) and a human-readable ``path.with_suffix(".json")`` copy
of the config. ``load_generator(path)`` rebuilds the model in fp32; a training checkpoint
(``step-*.safetensors``, format ``vqtalker-ckpt-1``) is also accepted (its EMA weights). The public API on
top of these is :class:`vqtalker.motion.tokenizer.MotionTokenizer` (``from_pretrained`` /
``save_pretrained``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from vqtalker.errors import VQTalkerError
from vqtalker.io.weights import load_weights, save_weights

FORMAT = "vqtalker-motion-1"
CHECKPOINT_FORMAT = "vqtalker-ckpt-1"
#: how to make a stage-1 file (named by every "not found" error)
TRAIN_HINT = "train one with `vqtalker train stage1 --data DATASET --out RUN_DIR` and pass it with --stage1"


def save_generator(generator, path: str | os.PathLike, dtype: torch.dtype = torch.float16,
                   extra: dict[str, str] | None = None) -> Path:
    md = {"dtype": str(dtype).replace("torch.", ""), **(extra or {})}
    return save_weights(path, generator.state_dict(), format=FORMAT, config=generator.cfg.to_json(),
                        metadata=md, dtype=dtype, config_sidecar=True)


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu", which: str = "ema"):
    """Load a :class:`MotionGenerator` (fp32, eval mode) from exported weights or a training checkpoint (a
    directory: its last ``*.safetensors`` file)."""
    from vqtalker.motion.config import MotionConfig
    from vqtalker.motion.model import build_generator

    path = Path(path)
    if path.is_dir():
        cands = sorted(path.glob("*.safetensors"))
        if not cands:
            raise VQTalkerError(f"no .safetensors file in {path}")
        path = cands[-1]
    tensors, md = load_weights(path, (FORMAT, CHECKPOINT_FORMAT), "stage-1 weights", TRAIN_HINT)
    if md["format"] == FORMAT:
        cfg = MotionConfig.from_dict(json.loads(md["config"]))
        sd = tensors
    else:
        cfg = MotionConfig.from_dict(json.loads(md["meta"])["config"])
        pre = f"model/{which}/"
        sd = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
    G = build_generator(cfg)
    try:
        G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise VQTalkerError(f"{path}: weights do not match config {cfg.name} ({first})") from exc
    return G.to(device).eval()


__all__ = ["FORMAT", "TRAIN_HINT", "load_generator", "save_generator"]
