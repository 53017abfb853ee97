"""Tokenizer API (export -> from_pretrained -> tokenize/detokenize/render) and `vqtalker reconstruct`."""

import json

import numpy as np
import pytest
import torch

from vqtalker.errors import VQTalkerError
from vqtalker.motion.config import get_config
from vqtalker.motion.model import build_generator
from vqtalker.motion.synthetic import SyntheticPairs
from vqtalker.motion.tokenizer import MotionTokenizer
from vqtalker.motion.weights import save_generator as export_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    export_generator(build_generator(get_config("tiny-32")), path)
    return path


def _frames(n=6):
    data = SyntheticPairs(n, 32)
    return torch.stack([data[i]["target"] for i in range(n)])


def test_tokenize_detokenize_render(weights):
    tok = MotionTokenizer.from_pretrained(weights)
    assert json.loads(weights.with_suffix(".json").read_text())["size"] == 32
    frames = _frames()
    state = tok.encode_source(frames[0])
    idx = tok.tokenize(frames, reference=frames[0])
    assert idx.dtype == torch.int16 and idx.shape == (6, 4, 12)
    assert int(idx.min()) >= 0 and int(idx.max()) < 625
    full = tok.detokenize(idx)
    assert full.shape == (6, 120)
    # coarse-to-fine: each prefix of residual layers decodes to a different motion, and exactly to the sum
    # of that many layers' codes (the quantizer's own decode of the truncated indices)
    parts = [tok.detokenize(idx, n_layers=k) for k in (1, 2, 3, 4)]
    assert all(p.shape == (6, 120) for p in parts)
    assert torch.equal(parts[3], full)
    for a, b in zip(parts, parts[1:]):
        assert not torch.allclose(a, b)
    q = tok.quantizer
    torch.testing.assert_close(parts[1], q.decode(idx.long(), n_layers=2))
    video = tok.render(state, full)
    assert video.shape == (6, 3, 32, 32) and video.abs().max() <= 1
    # uint8 input path gives the same tokens
    u8 = ((frames.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    assert tok.tokenize(u8, u8[0]).shape == (6, 4, 12)
    assert tok.bitrate_kbps() == pytest.approx(11.145, abs=1e-3)
    with pytest.raises(VQTalkerError):
        tok.detokenize(idx, n_layers=5)
    with pytest.raises(VQTalkerError):
        tok.detokenize(np.full((2, 4, 12), 625))


def test_reconstruct_cli_writes_video_and_report(weights, tmp_path):
    from vqtalker.cli import main
    from vqtalker.io.video import is_tagged_synthetic, write_video

    frames = ((_frames(8).permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    src = tmp_path / "in.mp4"
    audio = (0.1 * np.sin(np.arange(16000 * 8 // 25) / 10)).astype(np.float32)
    write_video(src, frames, fps=25, audio=audio)
    out, rep = tmp_path / "out.mp4", tmp_path / "r.json"
    rc = main(["reconstruct", "--checkpoint", str(weights), "--video", str(src), "-o", str(out), "--no-crop",
               "--report", str(rep), "--layers", "2", "--tokens", str(tmp_path / "t.npy")])
    assert rc == 0 and out.is_file() and is_tagged_synthetic(out)
    r = json.loads(rep.read_text())
    assert r["frames"] == 8 and r["layers"] == 2
    assert r["bitrate_kbps"] == pytest.approx(11.145 / 2, abs=1e-3)
    assert 0 < r["ssim"] <= 1 and r["psnr"] > 0 and len(r["utilization_per_layer"]) == 4
    assert np.load(tmp_path / "t.npy").shape == (8, 4, 12)
    # --layers changes what is rendered (and the bitrate): all four layers vs the first two, with a model
    # whose renderer responds to the motion (a fresh one starts at the identity warp)
    torch.manual_seed(1)
    g = build_generator(get_config("tiny-32"))
    with torch.no_grad():
        for prm in g.renderer.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    export_generator(g, tmp_path / "live.safetensors", dtype=torch.float32)
    outs = {}
    for k in ("2", "4"):
        outs[k] = tmp_path / f"out{k}.mp4"
        argv = ["reconstruct", "--checkpoint", str(tmp_path / "live.safetensors"), "--video", str(src),
                "-o", str(outs[k]), "--no-crop", "--layers", k, "--report", str(tmp_path / f"r{k}.json")]
        assert main(argv) == 0
    assert json.loads((tmp_path / "r4.json").read_text())["bitrate_kbps"] == pytest.approx(11.145, abs=1e-3)
    from vqtalker.io.video import read_video

    assert not np.array_equal(read_video(outs["2"]).frames, read_video(outs["4"]).frames)


def test_reconstruct_cli_bad_input(weights, tmp_path, capsys):
    from vqtalker.cli import main

    rc = main(["reconstruct", "--checkpoint", str(weights), "--video", str(tmp_path / "nope.mp4"),
               "-o", str(tmp_path / "o.mp4")])
    assert rc == 2 and not (tmp_path / "o.mp4").exists()
    assert capsys.readouterr().err.startswith("error:")
    rc = main(["reconstruct", "--checkpoint", str(tmp_path / "none.safetensors"), "--video", "x.mp4",
               "-o", str(tmp_path / "o.mp4")])
    assert rc == 2
