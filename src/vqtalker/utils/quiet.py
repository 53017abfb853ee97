"""Silence native (C++) log lines on stderr while a third-party graph starts.

mediapipe / TFLite print 4–6 INFO/WARNING lines (XNNPACK delegate, absl pre-init notice, "feedback
manager", NORM_RECT) from C++ on the first call of every graph, and no environment variable stops them
in mediapipe 0.10.21. :func:`native_stderr_silenced` points file descriptor 2 at ``/dev/null`` for the
duration (Python's own ``sys.stderr`` writes made in that window are flushed before and after).
Set ``VQTALKER_NATIVE_LOGS=1`` to see them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

_lock = threading.Lock()
_depth = 0
_saved: int | None = None


@contextlib.contextmanager
def native_stderr_silenced():
    """Context manager: fd 2 → /dev/null inside (re-entrant, thread-safe)."""
    global _depth, _saved
    if os.environ.get("VQTALKER_NATIVE_LOGS"):
        yield
        return
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
                _saved = saved
            except (OSError, ValueError, AttributeError):
                _saved = None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    sys.stderr.flush()
                os.dup2(_saved, 2)
                os.close(_saved)
                _saved = None


__all__ = ["native_stderr_silenced"]
