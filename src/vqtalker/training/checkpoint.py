"""Atomic, pickle-free training checkpoints in one safetensors file.

Layout of ``step-XXXXXXXX.safetensors``:

* ``model/<name>/<param>``: every tensor of each module's ``state_dict`` (e.g. ``model/generator/...``,
  ``model/ema/...``);
* ``optim/<name>/<param_index>/<key>``: optimiser per-parameter state tensors (Adam ``exp_avg`` …;
  non-tensor scalars are stored as 0-d float64 tensors);
* safetensors metadata (str → str): ``format=vqtalker-ckpt-1``, ``step``, ``meta`` (JSON of the caller's
  extra data: config, RNG-free counters …) and ``optim/<name>`` (JSON of the param groups).

Nothing is unpickled on load, so a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from vqtalker.errors import VQTalkerError

FORMAT = "vqtalker-ckpt-1"
_CKPT_RE = re.compile(r"^step-(\d{8,})\.safetensors$")


def optimizer_state_to_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict, str]:
    """Flatten ``opt.state_dict()`` into ``{prefix/idx/key: tensor}`` plus a JSON string of param groups."""
    sd = opt.state_dict()
    tensors = {}
    scalar_kinds = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            name = f"{prefix}/{idx}/{key}"
            if torch.is_tensor(val):
                tensors[name] = val.detach().cpu().contiguous()
            else:
                tensors[name] = torch.tensor(float(val), dtype=torch.float64)
                scalar_kinds[name] = type(val).__name__
    groups = json.dumps({"param_groups": sd["param_groups"], "scalars": scalar_kinds})
    return tensors, groups


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict, prefix: str, groups_json: str) -> None:
    """Inverse of :func:`optimizer_state_to_tensors`."""
    info = json.loads(groups_json)
    state: dict[int, dict] = {}
    for name, val in tensors.items():
        if not name.startswith(prefix + "/"):
            continue
        idx, key = name[len(prefix) + 1:].split("/", 1)
        kind = info["scalars"].get(name)
        if kind == "int":
            val = int(val.item())
        elif kind == "float":
            val = float(val.item())
        state.setdefault(int(idx), {})[key] = val
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()}
              for g in info["param_groups"]]  # JSON turned tuples (Adam betas) into lists
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(path: str | os.PathLike, step: int, models: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    meta: dict | None = None) -> Path:
    """Write ``models`` (state dicts) + ``optimizers`` + ``meta`` atomically to ``path``."""
    tensors: dict[str, torch.Tensor] = {}
    metadata = {"format": FORMAT, "step": str(int(step)), "meta": json.dumps(meta or {})}
    for name, module in models.items():
        for k, v in module.state_dict().items():
            tensors[f"model/{name}/{k}"] = v.detach().cpu().contiguous()
    for name, opt in (optimizers or {}).items():
        t, groups = optimizer_state_to_tensors(opt, f"optim/{name}")
        tensors.update(t)
        metadata[f"optim/{name}"] = groups
    from vqtalker.io.weights import save_weights

    metadata.pop("format")
    return save_weights(path, tensors, format=FORMAT, metadata=metadata)


def read_metadata(path: str | os.PathLike) -> dict:
    from vqtalker.io.weights import read_metadata as read

    md = read(path)
    if md.get("format") != FORMAT:
        raise VQTalkerError(f"{path}: not a vqtalker training checkpoint")
    return md


def load_checkpoint(path: str | os.PathLike, models: dict[str, torch.nn.Module] | None = None,
                    optimizers: dict[str, torch.optim.Optimizer] | None = None, strict: bool = True,
                    map_location: str | torch.device = "cpu") -> dict:
    """Load into the given modules/optimisers; return ``{"step": int, "meta": dict}``."""
    from vqtalker.io.weights import load_weights

    tensors, md = load_weights(path, FORMAT, "training checkpoint", device=map_location)
    for name, module in (models or {}).items():
        pre = f"model/{name}/"
        sd = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
        if not sd:
            raise VQTalkerError(f"{path}: no weights for {name!r}")
        module.load_state_dict(sd, strict=strict)
    for name, opt in (optimizers or {}).items():
        key = f"optim/{name}"
        if key in md:
            load_optimizer_state(opt, tensors, key, md[key])
    return {"step": int(md["step"]), "meta": json.loads(md.get("meta", "{}"))}


def checkpoint_name(step: int) -> str:
    return f"step-{int(step):08d}.safetensors"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    d = Path(run_dir)
    if not d.is_dir():
        return []
    out = [(int(m.group(1)), p) for p in d.iterdir() if (m := _CKPT_RE.match(p.name))]
    return sorted(out)


def find_latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint with the highest step in ``run_dir`` (``step-XXXXXXXX.safetensors``), or None."""
    ck = list_checkpoints(run_dir)
    return ck[-1][1] if ck else None


def prune_checkpoints(run_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    ck = list_checkpoints(run_dir)
    for _, p in ck[: max(0, len(ck) - keep)]:
        p.unlink(missing_ok=True)
