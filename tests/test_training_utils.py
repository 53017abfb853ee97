"""Generic training utilities: pickle-free checkpoint round trip incl. optimiser state, EMA, metrics CSV,
SSIM/PSNR."""

import pytest
import torch
from torch import nn

from vqtalker.evaluation.metrics import psnr, ssim
from vqtalker.training import EMA, MetricsLogger, load_checkpoint, plot_metrics, save_checkpoint
from vqtalker.training.checkpoint import find_latest_checkpoint, prune_checkpoints

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_checkpoint_round_trip_with_adam_state(tmp_path):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(5, 4)).pow(2).mean().backward()
        opt.step()
    for s in (10, 20, 30):
        save_checkpoint(tmp_path / f"step-{s:08d}.safetensors", s, {"net": m}, {"net": opt}, meta={"a": 1})
    prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000020.safetensors",
                                                               "step-00000030.safetensors"]
    m2 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt2 = torch.optim.Adam(m2.parameters(), lr=1e-3)
    info = load_checkpoint(find_latest_checkpoint(tmp_path), {"net": m2}, {"net": opt2})
    assert info == {"step": 30, "meta": {"a": 1}}
    for a, b in zip(m.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k in s1["state"]:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(s1["state"][k][key]), torch.as_tensor(s2["state"][k][key]))
    # identical next step
    x = torch.randn(3, 4)
    for mm, oo in ((m, opt), (m2, opt2)):
        oo.zero_grad()
        mm(x).sum().backward()
        oo.step()
    for a, b in zip(m.parameters(), m2.parameters()):
        assert torch.equal(a, b)


def test_ema_moves_towards_model():
    m = nn.Linear(2, 2)
    ema = EMA(m, decay=0.5)
    with torch.no_grad():
        m.weight.add_(1.0)
    ema.update(m)
    assert torch.allclose(ema.module.weight, m.weight - 0.5)


def test_metrics_logger_truncates_on_resume(tmp_path):
    p = tmp_path / "metrics.csv"
    log = MetricsLogger(p)
    for s in range(1, 6):
        log.log(s, "train", {"loss": 1.0 / s})
    log = MetricsLogger(p, resume_step=3)
    log.log(4, "train", {"loss": 0.1})
    rows = MetricsLogger.read(p)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    plot_metrics(p, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


def test_ssim_psnr():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert torch.isinf(psnr(x, x)).logical_not().all()  # clamped, finite
    y = (x + 0.2).clamp(-1, 1)
    p = psnr(x, y)
    mse = (((x + 1) / 2 - (y + 1) / 2) ** 2).flatten(1).mean(1)
    assert torch.allclose(p, 10 * torch.log10(1 / mse), atol=1e-4)
    assert (ssim(x, torch.rand(2, 3, 32, 32) * 2 - 1) < 0.5).all()
