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

from vqtalker.errors import VQTalkerError
from vqtalker.generate.config import Stage2Config
from vqtalker.generate.model import MotionTokenBERT, build_model

FORMAT = "vqtalker-stage2"
TRAIN_HINT = (
    "train one with `vqtalker train stage2 --stage1 STAGE1 --data DATASET --out RUN_DIR` "
    "and pass RUN_DIR/stage2.safetensors with --stage2"
)


def save_stage2(path: str | os.PathLike, model: MotionTokenBERT, **metadata: str) -> Path:
    """Write ``model`` and ``metadata`` (str values) to ``path`` atomically."""
    from vqtalker.io.weights import save_weights

    return save_weights(path, model.state_dict(), format=FORMAT, config=json.dumps(model.cfg.to_dict()),
                        metadata=metadata)


def load_stage2(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[MotionTokenBERT, dict]:
    """Load a stage-2 file → ``(model in eval mode, fp32, metadata dict)``.

    Raises :class:`MissingWeightsError` (one line, says how to train it) if the file does not exist.
    """
    from vqtalker.io.weights import config_of, load_weights

    tensors, meta = load_weights(path, FORMAT, "stage-2 weights", TRAIN_HINT)
    model = build_model(Stage2Config.from_dict(config_of(meta, path)))
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise VQTalkerError(f"{path}: weights do not match their config ({first})") from exc
    return model.to(device).eval(), meta


__all__ = ["FORMAT", "TRAIN_HINT", "load_stage2", "save_stage2"]
