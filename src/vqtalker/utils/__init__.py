"""Small shared helpers (atomic file output, seeding, devices)."""

from vqtalker.utils.fileio import atomic_output, atomic_write_bytes
from vqtalker.utils.runtime import pick_device, seed_everything

__all__ = ["atomic_output", "atomic_write_bytes", "pick_device", "seed_everything"]
