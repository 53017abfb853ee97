"""The stage-1 mouth channel (beyond the paper): w = f_g + D(f_s + Δ̂) + m · v with m = o_t − o_s.

Zero-initialised v keeps an old model's output; the trainer learns v from the dataset's lip gaps while the
token path stays frozen; the codec sends the measured gap as 5-bit side information; the pipeline feeds the
predicted gap (tiny random models, synthetic data, mediapipe replaced by fixed lip points)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vqtalker.codec.sideinfo import MOUTH_SIDE_STEP, mouth_side_info
from vqtalker.errors import VQTalkerError
from vqtalker.motion.config import get_config
from vqtalker.motion.model import build_generator
from vqtalker.motion.synthetic import SyntheticPairs
from vqtalker.motion.tokenizer import MotionTokenizer
from vqtalker.motion.weights import load_generator
from vqtalker.motion.weights import save_generator as export_generator
from vqtalker.mouth.guidance import CHANNEL_LIMIT, channel_input

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _responsive(g):
    """A fresh renderer ignores w (its flow heads start at the identity warp): give every layer some
    random weight so that the latent matters."""
    with torch.no_grad():
        for p in g.renderer.parameters():
            p.add_(0.2 * torch.randn_like(p))
        if g.mouth is not None:
            g.mouth.weight.normal_()
    return g


def _pair(n=4):
    data = SyntheticPairs(n, 32)
    items = [data[i] for i in range(n)]
    return (
        torch.stack([i["source"] for i in items]),
        torch.stack([i["target"] for i in items]),
        torch.stack([i["target_mouth"] - i["source_mouth"] for i in items]),
    )


def test_zero_initialised_channel_renders_like_the_plain_model():
    torch.manual_seed(0)
    plain = _responsive(build_generator(get_config("tiny-32"))).eval()
    withm = build_generator(get_config("tiny-32+mouth")).eval()
    missing, unexpected = withm.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["mouth.weight"] and not unexpected
    src, tgt, m = _pair()
    assert m.abs().max() > 0
    with torch.no_grad():
        ref = plain(src, tgt)["image"]
        torch.testing.assert_close(withm(src, tgt, mouth=m)["image"], ref)  # v = 0
        withm.mouth.weight.normal_()
        moved = withm(src, tgt, mouth=m)["image"]
        torch.testing.assert_close(withm(src, tgt)["image"], ref)  # m = None is m = 0
        # the plain model ignores a mouth input
        torch.testing.assert_close(plain(src, tgt, mouth=m)["image"], ref)
    assert (moved - ref).abs().max() > 1e-3


def test_synthetic_items_carry_the_mouth_gap():
    a, b = SyntheticPairs(8, 32)[0], SyntheticPairs(8, 32)[1]
    for item in (a, b):
        assert item["source_mouth"].shape == () and 0.4 <= float(item["target_mouth"]) <= 2.8
    assert float(a["target_mouth"]) != float(b["target_mouth"])


def test_trainer_learns_the_channel_from_a_plain_model_and_keeps_the_tokens(tmp_path):
    from vqtalker.solvers.stage1 import Stage1Options as TrainOptions
    from vqtalker.solvers.stage1 import train_stage1

    torch.manual_seed(0)
    export_generator(build_generator(get_config("tiny-32")), tmp_path / "g0.safetensors", dtype=torch.float32)
    ref = load_generator(tmp_path / "g0.safetensors")
    opts = TrainOptions(
        config="tiny-32+mouth",
        out=str(tmp_path / "run"),
        steps=4,
        batch_size=2,
        ckpt_every=2,
        eval_every=2,
        log_every=1,
        threads=1,
        val_batches=1,
        init=str(tmp_path / "g0.safetensors"),
        freeze_motion=True,
    )
    train_stage1(opts, SyntheticPairs(8, 32), SyntheticPairs(4, 32, seed=1), log=lambda s: None)
    g1 = load_generator(tmp_path / "run" / "generator-ema-fp16.safetensors")
    assert g1.cfg.mouth_channel and float(g1.mouth.weight.detach().abs().max()) > 0
    src, tgt, _ = _pair()
    with torch.no_grad():
        assert torch.equal(ref(src, tgt)["indices"], g1(src, tgt)["indices"])
    rows = (tmp_path / "run" / "metrics.csv").read_text()
    assert ",dev,l1_mouth," in rows and ",dev,l1_mouth_m0," in rows


def _fake_lips(monkeypatch, gaps, found):
    """Replace the face mesh: lip points whose inner gap (13 ↔ 14) is ``gaps[t]`` (crop-side units)."""
    from vqtalker.face.landmarks import LIPS

    top, bottom = LIPS.index(13), LIPS.index(14)

    def lip_points(frames, min_side=256):
        pts = np.zeros((len(frames), len(LIPS), 2), np.float32)
        pts[:, top, 1] = 0.5
        pts[:, bottom, 1] = 0.5 + np.asarray(gaps, np.float32)[: len(frames)]
        ok = np.asarray(found, bool)[: len(frames)]
        pts[~ok] = 0
        return pts, ok

    monkeypatch.setattr("vqtalker.face.lips.lip_points", lip_points)


def test_mouth_side_info_quantises_and_holds_missing_frames(monkeypatch):
    gaps = [0.010, 0.031, 0.5, 0.020, 0.052]  # × 20 → 0.2, 0.62, 10 (clipped), 0.4, 1.04
    _fake_lips(monkeypatch, gaps, [True, True, True, False, True])
    levels, m, found = mouth_side_info(np.zeros((5, 8, 8, 3), np.uint8))
    assert levels.tolist() == [4, 12, 31, 31, 21]  # frame 3 repeats frame 2
    np.testing.assert_allclose(m, (levels - 4) * MOUTH_SIDE_STEP, atol=1e-6)
    assert found == pytest.approx(0.8)
    _fake_lips(monkeypatch, gaps, [False] * 5)
    with pytest.raises(VQTalkerError, match="no face"):
        mouth_side_info(np.zeros((5, 8, 8, 3), np.uint8))


def test_tokenizer_renders_with_the_channel_and_checks_lengths():
    torch.manual_seed(0)
    g = _responsive(build_generator(get_config("tiny-32+mouth")))
    tok = MotionTokenizer(g, chunk=3)
    assert (
        tok.has_mouth_channel
        and not MotionTokenizer(build_generator(get_config("tiny-32"))).has_mouth_channel
    )
    frames = _pair(5)[1]
    state = tok.encode_source(frames[0])
    motion = tok.detokenize(tok.tokenize(frames, state))
    a = tok.render(state, motion)
    b = tok.render(state, motion, mouth=np.linspace(0, 1, 5))
    assert a.shape == b.shape == (5, 3, 32, 32)
    torch.testing.assert_close(a[0], b[0])  # m = 0 on the first frame
    assert (a[1:] - b[1:]).abs().max() > 1e-3
    with pytest.raises(VQTalkerError, match="mouth input has 4 frames"):
        tok.render(state, motion, mouth=np.zeros(4))


def test_reconstruct_cli_sends_the_gap_as_side_information(tmp_path, monkeypatch):
    from vqtalker.cli import main
    from vqtalker.io.video import write_video

    torch.manual_seed(0)
    g = _responsive(build_generator(get_config("tiny-32+mouth")))
    export_generator(g, tmp_path / "m.safetensors")
    frames = ((_pair(8)[1].permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()
    write_video(tmp_path / "in.mp4", frames, fps=25)
    _fake_lips(monkeypatch, np.linspace(0.01, 0.05, 8), [True] * 8)
    base = [
        "reconstruct",
        "--checkpoint",
        str(tmp_path / "m.safetensors"),
        "--video",
        str(tmp_path / "in.mp4"),
        "--no-crop",
    ]
    assert (
        main(
            base
            + [
                "-o",
                str(tmp_path / "a.mp4"),
                "--report",
                str(tmp_path / "a.json"),
                "--tokens",
                str(tmp_path / "t.npy"),
            ]
        )
        == 0
    )
    r = json.loads((tmp_path / "a.json").read_text())
    assert r["mouth_side_bits_per_frame"] == 5 and r["bitrate_kbps"] == pytest.approx(
        11.145 + 0.125, abs=1e-3
    )
    expected = np.round(np.linspace(0.01, 0.05, 8) * 20 / MOUTH_SIDE_STEP)
    np.testing.assert_array_equal(np.load(tmp_path / "t.mouth.npy"), expected)
    assert (
        main(
            base + ["-o", str(tmp_path / "b.mp4"), "--report", str(tmp_path / "b.json"), "--no-mouth-channel"]
        )
        == 0
    )
    r0 = json.loads((tmp_path / "b.json").read_text())
    assert r0["bitrate_kbps"] == pytest.approx(11.145, abs=1e-3) and r0["mouth_side_bits_per_frame"] == 0
    assert r0["ssim"] != r["ssim"]


def test_pipeline_feeds_the_predicted_gap_to_the_channel(tmp_path):
    import cv2
    import soundfile as sf

    from vqtalker.generate.checkpoint import save_stage2
    from vqtalker.generate.config import make_config
    from vqtalker.generate.model import build_model
    from vqtalker.mouth.control import MouthControl
    from vqtalker.mouth.predictor import MouthPredictor, MouthPredictorConfig, save_mouth_predictor
    from vqtalker.pipeline import TalkingHeadPipeline

    torch.manual_seed(0)
    g = _responsive(build_generator(get_config("tiny-32+mouth")))
    export_generator(g, tmp_path / "stage1.safetensors", dtype=torch.float32)
    save_stage2(
        tmp_path / "stage2.safetensors",
        build_model(make_config("tiny", speech_vocab=1024, face_dim=128)),
        speech_tokenizer="hash",
    )
    predictor = MouthPredictor(MouthPredictorConfig(channels=8))
    save_mouth_predictor(
        tmp_path / "mouth.safetensors", predictor, MouthControl(torch.randn(120), mean_gap=0.5), gain=0.0
    )
    cv2.imwrite(
        str(tmp_path / "face.png"), np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    )
    ts = np.arange(12800) / 16000
    sf.write(tmp_path / "s.wav", (0.3 * np.sin(2 * np.pi * 200 * ts)).astype(np.float32), 16000)
    pipe = TalkingHeadPipeline.from_pretrained(tmp_path)
    assert pipe.mouth_channel_gain == 1.0 and pipe.mouth_gain == 0.0
    out = pipe(str(tmp_path / "face.png"), str(tmp_path / "s.wav"), crop=False)
    t = out.motion.shape[0]
    # no face in the noise image: the portrait's opening falls back to the training mean 0.5
    expected = channel_input(torch.from_numpy(out.mouth), 0.5, 1.0).numpy()
    np.testing.assert_allclose(out.mouth_input, expected, atol=1e-6)
    assert out.mouth_input.shape == (t,)
    off = pipe(str(tmp_path / "face.png"), str(tmp_path / "s.wav"), crop=False, mouth_channel_gain=0.0)
    assert off.mouth_input is None and np.array_equal(off.motion, out.motion)
    assert not np.array_equal(off.frames, out.frames)
    double = pipe(str(tmp_path / "face.png"), str(tmp_path / "s.wav"), crop=False, mouth_channel_gain=2.0)
    np.testing.assert_allclose(
        double.mouth_input, channel_input(torch.from_numpy(out.mouth), 0.5, 2.0).numpy(), atol=1e-6
    )
    # a mouth file may name the gains for a stage 1 with a mouth channel (`vqtalker train mouth` writes them)
    save_mouth_predictor(
        tmp_path / "mouth.safetensors",
        predictor,
        MouthControl(torch.randn(120), mean_gap=0.5),
        gain=6.0,
        channel_gain="3.0",
        gain_with_channel="2.0",
    )
    named = TalkingHeadPipeline.from_pretrained(tmp_path)
    assert named.mouth_channel_gain == 3.0 and named.mouth_gain == 2.0
    with pytest.raises(VQTalkerError, match="channel gain"):
        pipe(str(tmp_path / "face.png"), str(tmp_path / "s.wav"), crop=False, mouth_channel_gain=-1.0)


def test_per_layer_channel_gives_each_renderer_layer_its_own_offset():
    torch.manual_seed(0)
    plain = _responsive(build_generator(get_config("tiny-32"))).eval()
    plus = build_generator(get_config("tiny-32+mouthplus")).eval()
    plus.load_state_dict(plain.state_dict(), strict=False)
    k = plus.renderer.num_styles
    assert k == 1 + 3 * len(plus.cfg.resolutions) and plus.mouth.weight.shape == (k * 128, 1)
    src, tgt, m = _pair()
    with torch.no_grad():
        ref = plain(src, tgt)["image"]
        torch.testing.assert_close(plus(src, tgt, mouth=m)["image"], ref)  # V = 0
        state = plus.encode_source(src)
        delta = plus(src, tgt)["delta"]
        w = plus.latent(state, delta)
        # a per-layer w with K equal copies is the shared w
        torch.testing.assert_close(
            plus.renderer(w[:, None].expand(-1, k, -1), state.feats), plus.renderer(w, state.feats)
        )
        # an offset on one layer only (the last level's flow) moves the picture
        plus.mouth.weight.zero_()
        plus.mouth.weight.view(k, 128)[-1].normal_()
        assert plus.latent(state, delta, m).shape == (4, k, 128)
        assert (plus(src, tgt, mouth=m)["image"] - ref).abs().max() > 1e-4
    with pytest.raises(ValueError, match="styles"):
        plus.renderer(w[:, None].expand(-1, 3, -1), state.feats)


def test_channel_input_amplifies_the_articulation_not_the_offset():
    o = torch.tensor([0.2, 0.4, 0.6, 0.4])  # mean 0.4
    m = channel_input(o, ref=0.1, gain=3.0)
    torch.testing.assert_close(m, torch.tensor([-0.3, 0.3, 0.9, 0.3]))  # 0.3 offset + 3 × (o − 0.4)
    torch.testing.assert_close(channel_input(o, 0.1, 1.0), o - 0.1)  # gain 1: the plain difference
    far = channel_input(o, ref=-5.0, gain=10.0)
    assert float(far.abs().max()) == CHANNEL_LIMIT  # clipped to the training range
    assert channel_input(torch.zeros(0), 0.3, 2.0).shape == (0,)
