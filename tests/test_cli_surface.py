"""What a user meets at the command line: verify, device and number checks, signals, OS errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch


def test_verify_exit_codes(tmp_path, capsys):
    from vqtalker.cli import main
    from vqtalker.io.video import write_video

    frames = np.zeros((5, 32, 32, 3), np.uint8)
    tagged = tmp_path / "ours.mp4"
    write_video(tagged, frames, fps=25)
    assert main(["verify", str(tagged)]) == 0
    import av

    plain = tmp_path / "plain.mp4"
    with av.open(str(plain), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    assert main(["verify", str(plain)]) == 1
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    assert main(["verify", str(junk)]) == 2
    assert main(["verify", str(tmp_path / "missing.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("error:") for e in err)


def test_unavailable_device_names_the_available_ones():
    from vqtalker.errors import VQTalkerError
    from vqtalker.utils.runtime import available_devices, pick_device

    assert "cpu" in available_devices()
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(VQTalkerError, match="available: cpu"):
        pick_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(VQTalkerError, match="--device cuda: not available"):
            pick_device("cuda")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_float_options_are_refused(value, capsys):
    from vqtalker.cli import main

    assert main(["encode", "x.mp4", "-o", "x.vqt", f"--kbps={value}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --kbps must be a finite number, got {float(value)}"]


def test_os_error_is_one_line(tmp_path, capsys):
    from vqtalker.cli import main

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["prepare", str(tmp_path), str(afile)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "afile" in err[0]


def test_sigterm_leaves_no_partial_output(tmp_path):
    """SIGTERM in the middle of `vqtalker encode`: exit 143, no output, no hidden .partial file."""
    from vqtalker.io.video import write_video
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.weights import save_generator

    torch.manual_seed(0)
    w = tmp_path / "t.safetensors"
    save_generator(build_generator(get_config("tiny-32")), w, dtype=torch.float32)
    rng = np.random.default_rng(0)
    write_video(tmp_path / "in.mp4", rng.integers(0, 255, (600, 32, 32, 3), dtype=np.uint8), fps=25)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vqtalker", "encode", str(tmp_path / "in.mp4"), "-o", str(out_dir / "o.vqt"),
         "--stage1", str(w), "--no-crop", "--size", "32", "--key-format", "webp", "--threads", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not any(out_dir.iterdir()):
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("the encode finished before it could be interrupted")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()
    assert list(out_dir.iterdir()) == []
    assert b"Traceback" not in err and b"stopped by SIGTERM" in err


def test_reenact_verb(tmp_path):
    """`vqtalker reenact`: the packaged portrait driven by a (pre-cropped) synthetic video; frame count, fps,
    audio kept, tag, paste-back size; a missing input is one line."""
    from vqtalker.cli import main
    from vqtalker.cli.demo import DEMO_PORTRAIT
    from vqtalker.io.video import is_tagged_synthetic, probe_video, read_video, write_video
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.weights import save_generator

    torch.manual_seed(0)
    w = tmp_path / "t.safetensors"
    save_generator(build_generator(get_config("tiny-32+fullres64")), w, dtype=torch.float32)
    rng = np.random.default_rng(0)
    drv = tmp_path / "drv.mp4"
    t = np.arange(16000) / 16000
    wave = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    write_video(drv, rng.integers(0, 255, (25, 64, 64, 3), dtype=np.uint8), fps=25, audio=wave)
    out = tmp_path / "out.mp4"
    assert main(["reenact", "--image", str(DEMO_PORTRAIT), "--video", str(drv), "-o", str(out), "--stage1",
                 str(w), "--no-crop", "--threads", "1"]) == 0
    v = read_video(out)
    assert v.num_frames == 25 and v.frames.shape[1:] == (384, 384, 3) and is_tagged_synthetic(out)
    assert probe_video(out).has_audio and v.audio is not None
    assert main(["reenact", "--image", str(tmp_path / "nope.jpg"), "--video", str(drv), "-o", str(out)]) == 2
