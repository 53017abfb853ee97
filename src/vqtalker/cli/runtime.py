"""``--threads`` / ``--device``: the two run-time options every computing verb shares."""

from __future__ import annotations


def add_runtime_arguments(p, device: bool = True) -> None:
    """Add ``--threads N`` (torch CPU threads; default torch's choice) and ``--device`` (default cpu)."""
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    if device:
        p.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, mps")


def apply_runtime(args):
    """Set the thread count; return the checked ``torch.device`` (one-line error if unavailable)."""
    import torch

    from vqtalker.errors import VQTalkerError
    from vqtalker.utils import pick_device

    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 0:
            raise VQTalkerError(f"--threads must be >= 0, got {threads}")
        if threads:
            torch.set_num_threads(threads)
    return pick_device(getattr(args, "device", None) or "cpu")
