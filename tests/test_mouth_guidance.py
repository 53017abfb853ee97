"""Mouth guidance (beyond the paper): the speech → mouth-opening predictor, the motion-space mouth control,
and their use in generate_motion, the pipeline and the CLI (tiny random models, synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqtalker.mouth.control import MouthControl, fit_mouth_control
from vqtalker.mouth.guidance import channel_input, mouth_guidance
from vqtalker.mouth.predictor import (
    MEL_PER_FRAME,
    MouthPredictor,
    MouthPredictorConfig,
    load_mouth_predictor,
    log_mel,
    save_mouth_predictor,
)
from vqtalker.mouth.training import evaluate_predictor, train_predictor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_predictor_shapes_and_padding():
    torch.manual_seed(0)
    m = MouthPredictor(MouthPredictorConfig(channels=8)).eval()
    assert m(torch.randn(2, 4 * 30 + 3, 128)).shape == (2, 30, 1)
    wave = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)  # 1 s → 25 frames
    assert log_mel(wave).shape == (100, 128)
    assert m.predict(wave).shape == (25,)
    y = m.predict(wave, num_frames=30)
    assert y.shape == (30,) and bool(torch.isfinite(y).all())
    torch.testing.assert_close(y[:15], m.predict(wave)[:15])  # padding only touches the last ~9 frames
    assert m.predict(wave, num_frames=10).shape == (10,)


def test_save_load_round_trip_and_errors(tmp_path):
    from vqtalker.errors import MissingWeightsError, VQTalkerError

    torch.manual_seed(0)
    m = MouthPredictor(MouthPredictorConfig(channels=8)).eval()
    control = MouthControl(torch.randn(120), mean_gap=0.4, corr=0.3)
    path = save_mouth_predictor(tmp_path / "m.safetensors", m, control, gain=2.0)
    m2, meta = load_mouth_predictor(path)
    mel = torch.randn(1, 40, 128)
    torch.testing.assert_close(m2(mel), m(mel), atol=2e-2, rtol=2e-2)  # fp16 weights
    c2, gain = mouth_guidance(meta)
    assert gain == 2.0 and mouth_guidance(meta, 0.5)[1] == 0.5
    torch.testing.assert_close(c2.direction, control.direction, atol=1e-5, rtol=0)
    assert c2.mean_gap == 0.4 and mouth_guidance({}) == (None, 0.0)
    with pytest.raises(ValueError):
        mouth_guidance(meta, -1.0)
    with pytest.raises(MissingWeightsError, match="vqtalker train mouth"):
        load_mouth_predictor(tmp_path / "missing.safetensors")
    (tmp_path / "x.safetensors").write_bytes(b"not a file")
    with pytest.raises(VQTalkerError, match="not a safetensors"):
        load_mouth_predictor(tmp_path / "x.safetensors")


def _tone_examples(n_clips, seed):
    """Clips whose 'mouth opening' is the loudness envelope of a tone: learnable from the log-mel."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_clips):
        t = 80
        env = np.clip(np.sin(np.arange(t) / rng.uniform(2, 5) + rng.uniform(0, 6)), 0, None)  # [T] 25 fps
        ts = np.arange(t * 640) / 16000
        wave = np.repeat(env, 640) * 0.5 * np.sin(2 * np.pi * rng.uniform(150, 300) * ts) + rng.normal(
            0, 1e-3, ts.size
        )
        mel = log_mel(wave.astype(np.float32))[: t * MEL_PER_FRAME]
        out.append((f"c{i}", mel, torch.from_numpy(env).float()))
    return out


def test_predictor_learns_a_loudness_envelope():
    train, dev = _tone_examples(6, 0), _tone_examples(2, 1)
    cfg = MouthPredictorConfig(channels=16, dropout=0.0)
    before = evaluate_predictor(MouthPredictor(cfg), dev)
    model, history = train_predictor(
        train, dev, cfg, steps=150, batch=8, window=40, lr=3e-3, eval_every=150, log=lambda m: None
    )
    assert history[-1]["step"] == 150 and history[-1]["dev_l1"] < before["l1"]
    assert evaluate_predictor(model, dev)["corr"] > 0.8


def _motion_clip(direction, n=60, seed=0):
    """A clip view whose motion code moves along ``direction`` with the mouth (plus unrelated motion)."""
    from types import SimpleNamespace

    from vqtalker.face.landmarks import LIPS
    from vqtalker.face.lips import MOUTH_OPEN_SCALE

    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, generator=g)
    f = y[:, None] * direction[None] + 0.05 * torch.randn(n, direction.shape[0], generator=g)
    mouth = torch.full((n, 40, 2), 0.5)
    mouth[:, LIPS.index(14), 1] = 0.5 + y / MOUTH_OPEN_SCALE
    return SimpleNamespace(f=f, mouth=mouth)


class _IdentityQuantizer:
    def __call__(self, x):
        return x, None


def test_fit_mouth_control_recovers_the_direction_and_applies():
    d = torch.randn(120, generator=torch.Generator().manual_seed(4))
    clips = [_motion_clip(d, seed=s) for s in range(3)]
    control = fit_mouth_control(_IdentityQuantizer(), clips)
    cos = float(torch.nn.functional.cosine_similarity(control.direction, d, dim=0))
    assert cos > 0.99 and abs(float(control.direction.norm() / d.norm()) - 1) < 0.05
    assert 0.4 < control.mean_gap < 0.6 and control.corr > 0.5
    motion = torch.zeros(5, 120)
    opening = torch.linspace(0, 1, 5)
    out = control.apply(motion, opening, ref_gap=0.2, gain=2.0)
    torch.testing.assert_close(out, 2.0 * (opening - 0.2)[:, None] * control.direction[None])
    torch.testing.assert_close(
        control.apply(motion, opening), (opening - control.mean_gap)[:, None] * control.direction[None]
    )
    again = MouthControl.from_json(control.to_json())
    torch.testing.assert_close(again.direction, control.direction, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="never moves"):
        still = _motion_clip(d)
        still.mouth[:] = 0.5
        fit_mouth_control(_IdentityQuantizer(), [still])


def test_generate_motion_adds_the_guidance():
    from vqtalker.generate.config import make_config
    from vqtalker.generate.inference import generate_motion
    from vqtalker.generate.model import build_model

    torch.manual_seed(0)
    model = build_model(make_config("tiny", speech_vocab=64, face_dim=16)).eval()
    t = 30
    g = torch.Generator().manual_seed(0)
    args = (
        torch.randint(0, 64, (2 * t,), generator=g),
        torch.zeros(t, 3),
        torch.zeros(t, 2),
        torch.full((t, 2), 0.3),
        torch.randn(16, generator=g),
        lambda tok: tok.float().sum(-1)[..., :1].expand(-1, 120) / 1000,
    )
    from vqtalker.mouth.guidance import MouthGuidance

    plain = generate_motion(model, *args, window=20, overlap=5)
    assert plain.mouth is None
    control = MouthControl(torch.randn(120, generator=g), mean_gap=0.5)
    opening = torch.rand(t, generator=g)
    guidance = MouthGuidance(control=control, gain=1.5)
    guided = guidance.apply(plain.motion, opening, 0.1, mouth_channel=False)
    assert guided.guided and guided.channel_input is None and torch.equal(guided.opening, opening)
    torch.testing.assert_close(
        guided.motion - plain.motion, 1.5 * (opening - 0.1)[:, None] * control.direction
    )
    # the portrait's opening unknown: the training mean is the reference
    torch.testing.assert_close(guidance.apply(plain.motion, opening, None, False).motion - plain.motion,
                               1.5 * (opening - 0.5)[:, None] * control.direction)
    off = guidance.apply(plain.motion, opening, 0.1, False, gain=0.0)
    assert not off.guided and torch.equal(off.motion, plain.motion) and off.opening is None
    # a stage-1 mouth channel receives the articulation; gains are checked
    ch = guidance.apply(plain.motion, opening, 0.1, True, channel_gain=2.0)
    np.testing.assert_allclose(ch.channel_input, channel_input(opening, 0.1, 2.0).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="frames"):
        guidance.apply(plain.motion, opening[:-1], 0.1, False)
    from vqtalker.errors import VQTalkerError

    with pytest.raises(VQTalkerError, match="mouth gain"):
        guidance.apply(plain.motion, opening, 0.1, False, gain=float("nan"))


def install_tiny_weights(tmp_path, predictor, control, **meta):
    """Write a tiny stage 1 / stage 2 / mouth file into ``tmp_path`` (a weights directory for the CLI)."""
    from vqtalker.generate.checkpoint import save_stage2
    from vqtalker.generate.config import make_config
    from vqtalker.generate.model import build_model
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.weights import save_generator

    torch.manual_seed(0)
    save_generator(
        build_generator(get_config("tiny-32")), tmp_path / "stage1.safetensors", dtype=torch.float32
    )
    save_stage2(
        tmp_path / "stage2.safetensors",
        build_model(make_config("tiny", speech_vocab=1024, face_dim=128)),
        speech_tokenizer="hash",
    )
    save_mouth_predictor(tmp_path / "mouth.safetensors", predictor, control, gain=1.0, **meta)


def test_pipeline_and_cli_use_a_mouth_file(tmp_path, capsys):
    import soundfile as sf

    from vqtalker.cli import main
    from vqtalker.pipeline import TalkingHeadPipeline

    torch.manual_seed(0)
    install_tiny_weights(tmp_path, MouthPredictor(MouthPredictorConfig(channels=8)),
                         MouthControl(torch.randn(120), mean_gap=0.5))
    import cv2

    cv2.imwrite(
        str(tmp_path / "face.png"), np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    )
    ts = np.arange(12800) / 16000
    sf.write(tmp_path / "s.wav", (0.3 * np.sin(2 * np.pi * 200 * ts)).astype(np.float32), 16000)
    pipe = TalkingHeadPipeline.from_pretrained(tmp_path)  # mouth.safetensors in the directory is picked up
    out = pipe(str(tmp_path / "face.png"), str(tmp_path / "s.wav"), crop=False)
    assert out.mouth is not None and out.mouth.shape == (out.motion.shape[0],)
    off = pipe(str(tmp_path / "face.png"), str(tmp_path / "s.wav"), crop=False, mouth_gain=0.0)
    assert off.mouth is None and np.array_equal(off.tokens, out.tokens)
    assert not np.allclose(off.motion, out.motion)
    bare = TalkingHeadPipeline.from_pretrained(tmp_path, mouth=False)
    assert bare.mouth.predictor is None
    # another stage 1: the mouth direction does not belong to it, so it is not picked up implicitly
    other = TalkingHeadPipeline.from_pretrained(tmp_path, stage1=tmp_path / "stage1.safetensors")
    assert other.mouth.predictor is None
    argv = [
        "animate",
        "--image",
        str(tmp_path / "face.png"),
        "--audio",
        str(tmp_path / "s.wav"),
        "--weights",
        str(tmp_path),
        "--no-crop",
    ]
    assert main(argv + ["-o", str(tmp_path / "a.mp4")]) == 0
    assert "mouth-guided" in capsys.readouterr().err
    assert main(argv + ["-o", str(tmp_path / "b.mp4"), "--mouth-gain", "-1"]) != 0
    assert "--mouth-gain" in capsys.readouterr().err and not (tmp_path / "b.mp4").exists()


def test_train_mouth_cli_writes_a_loadable_file(tmp_path, capsys):
    from test_generate_train import install_stage1, write_dataset

    from vqtalker.cli import main

    s1 = install_stage1(tmp_path)
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "mouth.safetensors"
    base = ["train", "mouth", "--stage1", str(s1), "--data", str(data), "--out", str(out)]
    tiny = ["--steps", "4", "--batch-size", "2", "--window", "16", "--channels", "8"]
    rc = main(base + tiny + ["--gain", "1.5", "--channel-gain", "3", "--gain-with-channel", "2.5"])
    assert rc == 0, capsys.readouterr().err
    model, meta = load_mouth_predictor(out)
    control, gain = mouth_guidance(meta)
    assert gain == 1.5 and control.direction.shape == (120,) and np.isfinite(control.mean_gap)
    # the gains a stage-1 model with a mouth channel is driven with
    assert float(meta["channel_gain"]) == 3.0 and float(meta["gain_with_channel"]) == 2.5
    assert (tmp_path / "mouth.safetensors.json").is_file()
    assert main(base + ["--train-split", "nope"]) != 0


def test_masked_correlation_matches_numpy():
    from vqtalker.mouth.training import _masked_corr

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 20, generator=g), torch.randn(3, 20, generator=g)
    b[1] = 2 * a[1] + 1
    ok = torch.ones(3, 20, dtype=torch.bool)
    ok[2, 15:] = False
    b[2, 15:] = float("nan")  # padded frames: ignored
    got = _masked_corr(a, b, ok)
    for i in range(3):
        n = int(ok[i].sum())
        want = np.corrcoef(a[i, :n].numpy(), b[i, :n].numpy())[0, 1]
        assert abs(float(got[i]) - want) < 1e-4
    assert abs(float(got[1]) - 1) < 1e-4
