"""The demo table (library function and the ``vqtalker demo --quick`` verb)."""

import torch

from vqtalker.cli import main
from vqtalker.quantize.report import format_table, motion_like_signal, quantizer_table


def test_motion_like_signal_is_seeded_smooth_and_normalised():
    a = motion_like_signal(500, seed=3)
    assert a.shape == (500, 120) and a.dtype == torch.float32
    assert torch.equal(a, motion_like_signal(500, seed=3))
    assert not torch.equal(a, motion_like_signal(500, seed=4))
    assert 0.8 < float(a.std(0).mean()) < 1.2
    # motion-like: frame-to-frame change much smaller than the signal itself, but not zero
    d = (a[1:] - a[:-1]).std() / a.std()
    assert 0.05 < float(d) < 0.8


def test_quantizer_table_small():
    rows = [("GRFSQ", "grfsq", {}), ("GRVQ", "grvq", dict(codebook_size=64))]
    out = quantizer_table(rows, train_seconds=4, eval_seconds=2, fit_steps=3)
    assert [r.label for r in out] == ["GRFSQ", "GRVQ"]
    g = out[0]
    assert abs(g.kbps - 11.14525) < 1e-4 and g.params == 1128
    assert len(g.utilization_per_layer) == 4 and 0 < g.utilization <= 1
    assert g.mse > 0 and 1 <= g.perplexity <= 625
    text = format_table(out)
    assert "GRFSQ" in text and "11.15" in text and "5x5x5x5" in text


def test_demo_quick_cli(capsys):
    assert main(["demo", "--quick"]) == 0
    out = capsys.readouterr().out
    for name in ("VQ", "GVQ", "RVQ", "GRVQ", "GRFSQ (paper)", "11,145.25"):
        assert name in out


def test_demo_rejects_negative_steps(capsys):
    assert main(["demo", "--quick", "--steps", "-1"]) == 2
    assert "error:" in capsys.readouterr().err


def test_talking_demo_writes_a_tagged_video(tmp_path, capsys):
    """The default demo: packaged portrait + TTS sentence + packaged weights -> tagged mp4."""
    from vqtalker.io.video import is_tagged_synthetic, read_video

    rc = main(["demo", "--out", str(tmp_path), "--text", "Hello there.", "--lang", "en"])
    assert rc == 0, capsys.readouterr().err
    path = tmp_path / "demo_en.mp4"
    assert is_tagged_synthetic(path)
    v = read_video(path)
    import cv2

    from vqtalker.cli.demo import DEMO_PORTRAIT

    h, w = cv2.imread(str(DEMO_PORTRAIT)).shape[:2]  # the whole portrait comes back (face pasted in)
    assert v.num_frames > 10 and v.frames.shape[1:] == (h - h % 2, w - w % 2, 3) and v.audio is not None
    assert "demo_en.mp4" in capsys.readouterr().out
    assert main(["demo", "--out", str(tmp_path), "--text", "Hello"]) == 2  # --text needs --lang
