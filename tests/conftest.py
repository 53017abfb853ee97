"""Suite-wide guards: tests must not leak global torch state into each other."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _no_global_grad_leak():
    """Fail a test that leaves autograd globally disabled (a CLI or library call must use a context)."""
    threads = torch.get_num_threads()
    yield
    leaked = not torch.is_grad_enabled()
    torch.set_grad_enabled(True)
    torch.set_num_threads(threads)
    assert not leaked, "test left torch autograd globally disabled"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: one thread is faster, and avoids spin-waiting on a shared 2-core machine.
    Use per module: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
