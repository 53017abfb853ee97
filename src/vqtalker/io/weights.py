"""The one weights convention of the project: a safetensors file with a format tag, a config and metadata.

Every model file (stage 1 ``vqtalker-motion-1``, stage 2 ``vqtalker-stage2``, mouth ``vqtalker-mouth``,
speech codebook ``vqtalker-speech-kmeans``) and every training checkpoint (``vqtalker-ckpt-1``) is written
by :func:`save_weights` and read by :func:`load_weights`:

* tensors: the model's ``state_dict`` (optionally cast, e.g. fp16 for shipped weights);
* metadata (str → str): ``format`` (the tag), ``config`` (JSON of the model's config dataclass) and any
  further entries (step, the speech tokenizer's name, control statistics, …);
* optionally a human-readable ``<file>.json`` copy of the config next to it.

Loading never unpickles anything. A missing file raises :class:`MissingWeightsError` with the caller's hint
(which command trains it); a file that is not safetensors, or has another format tag, raises a one-line
:class:`VQTalkerError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from vqtalker.errors import MissingWeightsError, VQTalkerError
from vqtalker.utils import atomic_output


def save_weights(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    *,
    format: str,
    config: dict | None = None,
    metadata: dict[str, object] | None = None,
    dtype: torch.dtype | None = None,
    config_sidecar: bool = False,
) -> Path:
    """Write ``tensors`` (floating tensors cast to ``dtype`` when given) with ``format``, ``config`` (JSON)
    and ``metadata`` (values stringified) to ``path`` atomically; ``config_sidecar`` also writes
    ``path.with_suffix(".json")``."""
    from safetensors.torch import save_file

    sd = {
        k: v.detach()
        .to("cpu", dtype if (dtype is not None and v.is_floating_point()) else v.dtype)
        .contiguous()
        for k, v in tensors.items()
    }
    md = {"format": format}
    if config is not None:
        md["config"] = json.dumps(config, sort_keys=True) if not isinstance(config, str) else config
    md.update({k: str(v) for k, v in (metadata or {}).items()})
    path = Path(path)
    with atomic_output(path) as tmp:
        save_file(sd, str(tmp), metadata=md)
    if config_sidecar and config is not None:
        text = config if isinstance(config, str) else json.dumps(config, indent=2, sort_keys=True)
        with atomic_output(path.with_suffix(".json")) as tmp:
            tmp.write_text(text + "\n")
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file (one-line :class:`VQTalkerError` if it is not one)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
        raise VQTalkerError(f"{path}: not a safetensors file ({exc.__class__.__name__})") from exc


def check_file(path: str | os.PathLike, what: str, hint: str | None = None) -> Path:
    """``path`` as a :class:`Path` if it is a file, else :class:`MissingWeightsError` ("WHAT not found")."""
    p = Path(path)
    if not p.is_file():
        raise MissingWeightsError(f"{what} not found: {p}" + (f"; {hint}" if hint else ""))
    return p


def load_weights(
    path: str | os.PathLike,
    formats: str | tuple[str, ...],
    what: str = "weights",
    hint: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a file whose format tag is one of ``formats`` (see the module docstring);
    ``what`` names the file in errors ("stage-2 weights"), ``hint`` says how to make it."""
    from safetensors.torch import load_file

    p = check_file(path, what, hint)
    md = read_metadata(p)
    allowed = (formats,) if isinstance(formats, str) else tuple(formats)
    if md.get("format") not in allowed:
        raise VQTalkerError(
            f"{p} is not a vqtalker {what} file "
            f"(format={md.get('format')!r}, expected {' or '.join(allowed)})"
        )
    try:
        tensors = load_file(str(p), device=str(device))
    except Exception as exc:  # noqa: BLE001
        raise VQTalkerError(f"{p}: cannot read the tensors ({exc.__class__.__name__})") from exc
    return tensors, md


def config_of(metadata: dict[str, str], path: str | os.PathLike = "") -> dict:
    """The ``config`` JSON of a weights file's metadata as a dict."""
    try:
        return json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise VQTalkerError(f"{path}: the weights file has no readable config") from exc


__all__ = ["check_file", "config_of", "load_weights", "read_metadata", "save_weights"]
