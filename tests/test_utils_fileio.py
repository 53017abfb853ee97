import os
import stat

import pytest

from vqtalker.utils import atomic_output, atomic_write_bytes


def test_atomic_output_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"first")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no partial file left


def test_atomic_output_uses_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "weights.safetensors"
        with atomic_output(target) as tmp:
            assert tmp.suffix == ".safetensors"
            tmp.write_bytes(b"x")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        os.umask(old)
