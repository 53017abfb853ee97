"""Stage-2 weights files (safetensors only; never pickle).

A stage-2 file holds the network's ``state_dict`` and string metadata:

* ``format = "vqtalker-stage2"``, ``config`` (JSON of :class:`Stage2Config`),
* ``speech_tokenizer`` — the name the speech units were made with (the pipeline loads the same one),
* ``control_stats`` — JSON of :class:`vqtalker.generate.controls.ControlStats` (neutral pose/gaze/blink),
* optional ``stage1`` (description of the stage-1 model whose tokens were the targets), ``step``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from vqtalker.errors import MissingWeightsError, VQTalkerError
from vqtalker.generate.config import Stage2Config
from vqtalker.generate.model import MotionTokenBERT, build_model
from vqtalker.utils import atomic_output

FORMAT = "vqtalker-stage2"
TRAIN_HINT = (
    "train one with `vqtalker train stage2 --stage1 STAGE1 --data DATASET --out RUN_DIR` "
    "and pass RUN_DIR/stage2.safetensors with --stage2"
)


def save_stage2(path: str | os.PathLike, model: MotionTokenBERT, **metadata: str) -> Path:
    """Write ``model`` and ``metadata`` (str values) to ``path`` atomically."""
    from safetensors.torch import save_file

    meta = {"format": FORMAT, "config": json.dumps(model.cfg.to_dict())}
    meta.update({k: str(v) for k, v in metadata.items()})
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_output(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_stage2(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[MotionTokenBERT, dict]:
    """Load a stage-2 file → ``(model in eval mode, metadata dict)``.

    Raises :class:`MissingWeightsError` (one line, says how to train it) if the file does not exist.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"stage-2 weights not found: {path}; {TRAIN_HINT}")
    try:
        meta = read_metadata(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise VQTalkerError(f"{path} is not a safetensors file ({exc.__class__.__name__})") from exc
    if meta.get("format") != FORMAT:
        raise VQTalkerError(f"{path} is not a vqtalker stage-2 weights file (format={meta.get('format')!r})")
    cfg = Stage2Config.from_dict(json.loads(meta["config"]))
    model = build_model(cfg)
    model.load_state_dict(load_file(str(path), device="cpu"))
    return model.to(device).eval(), meta


__all__ = ["FORMAT", "TRAIN_HINT", "load_stage2", "read_metadata", "save_stage2"]
