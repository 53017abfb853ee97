"""End-to-end: TalkingHeadPipeline and `vqtalker animate` with tiny random stage-1 / stage-2 models."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from vqtalker.generate.checkpoint import save_stage2
from vqtalker.generate.config import make_config
from vqtalker.generate.controls import ControlStats, blink_track, neutral_controls
from vqtalker.generate.model import build_model

SECONDS = 0.8


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.weights import save_generator as export_generator

    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    export_generator(build_generator(get_config("tiny-32")), d / "stage1.safetensors", dtype=torch.float32)
    model = build_model(make_config("tiny", speech_vocab=1024, face_dim=128))
    save_stage2(
        d / "stage2.safetensors",
        model,
        speech_tokenizer="hash",
        control_stats=ControlStats(blink_open=(0.3, 0.3), blink_closed=(0.05, 0.05)).to_json(),
    )
    return d


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    import cv2

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    img = (rng.uniform(0, 255, (40, 40, 3))).astype(np.uint8)  # no real face: use --no-crop
    cv2.imwrite(str(d / "face.png"), img[..., ::-1])
    ts = np.arange(int(SECONDS * 44100)) / 44100
    wave = 0.3 * np.sin(2 * np.pi * 220 * ts * (1 + 0.5 * np.sin(2 * np.pi * 2 * ts)))
    sf.write(d / "speech.wav", np.stack([wave, wave], 1).astype(np.float32), 44100)  # stereo 44.1 kHz
    return d


def test_pipeline_output_shapes_and_determinism(weights, inputs, tmp_path):
    from vqtalker.pipeline import TalkingHeadPipeline

    pipe = TalkingHeadPipeline.from_pretrained(weights)
    out = pipe(str(inputs / "face.png"), str(inputs / "speech.wav"), crop=False)
    n_units = int(SECONDS * 16000) // 320
    t = n_units // 2
    assert out.frames.shape == (t, 32, 32, 3) and out.frames.dtype == np.uint8
    assert out.fps == 25.0 and out.audio.shape == (t * 640,) and out.sample_rate == 16000
    assert out.tokens.shape == (t, 4, 12) and out.tokens.dtype == np.int16
    assert out.motion.shape == (t, 120)
    assert set(out.controls) == {"pose", "gaze", "blink"}
    # streaming to a file gives the same motion without holding the frames
    streamed = pipe.animate_to_file(
        tmp_path / "s.mp4", str(inputs / "face.png"), str(inputs / "speech.wav"), crop=False
    )
    assert streamed.frames is None and np.array_equal(streamed.tokens, out.tokens)
    assert (tmp_path / "s.mp4").stat().st_size > 0
    # seeded sampling: same seed same video, another seed other tokens
    kw = dict(crop=False, temperature=1.0, top_k=50, pose=np.full((5, 3), 10.0))
    a = pipe(str(inputs / "face.png"), str(inputs / "speech.wav"), seed=1, **kw)
    b = pipe(str(inputs / "face.png"), str(inputs / "speech.wav"), seed=1, **kw)
    c = pipe(str(inputs / "face.png"), str(inputs / "speech.wav"), seed=2, **kw)
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.tokens, c.tokens)
    # explicit control tracks are used (fitted to T)
    assert np.allclose(a.controls["pose"], 10.0) and a.controls["pose"].shape == (t, 3)


def _animate_argv(image, audio, out, *extra) -> list[str]:
    """``vqtalker animate`` argv for the in-process CLI tests."""
    return ["animate", "--image", str(image), "--audio", str(audio), "-o", str(out), *map(str, extra)]


def test_animate_cli_writes_tagged_mp4_with_audio(weights, inputs, tmp_path, capsys):
    from vqtalker.cli import main
    from vqtalker.io.video import is_tagged_synthetic, read_video

    out = tmp_path / "out.mp4"
    rc = main(
        _animate_argv(
            str(inputs / "face.png"),
            str(inputs / "speech.wav"),
            str(out),
            "--weights",
            str(weights),
            "--no-crop",
            "--seed",
            "3",
        )
    )
    assert rc == 0, capsys.readouterr().err
    assert is_tagged_synthetic(out)
    v = read_video(out)
    t = (int(SECONDS * 16000) // 320) // 2
    assert v.num_frames == t and abs(v.fps - 25.0) < 1e-6
    assert v.frames.shape[1:] == (32, 32, 3)
    assert v.audio is not None and abs(len(v.audio) / 16000 - t / 25) < 0.05
    assert float(np.abs(v.audio).max()) > 0.1  # the speech is there


def test_missing_weights_is_one_line_and_leaves_no_file(weights, inputs, tmp_path, capsys):
    from vqtalker.cli import main

    out = tmp_path / "never.mp4"
    rc = main(
        _animate_argv(
            str(inputs / "face.png"),
            str(inputs / "speech.wav"),
            str(out),
            "--stage1",
            str(weights / "stage1.safetensors"),
            "--stage2",
            str(tmp_path / "nope.safetensors"),
        )
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("error: stage-2 weights not found") and "vqtalker train stage2" in err[0]
    rc = main(
        _animate_argv(
            str(inputs / "face.png"), str(inputs / "speech.wav"), str(out), "--weights", str(tmp_path)
        )
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        rc == 2
        and len(err) == 1
        and "stage-1 weights not found" in err[0]
        and "vqtalker train stage1" in err[0]
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_fail_cleanly(weights, inputs, tmp_path, capsys):
    from vqtalker.cli import main

    out = tmp_path / "x.mp4"
    bad = tmp_path / "notimage.png"
    bad.write_bytes(b"not an image")
    rc = main(
        _animate_argv(str(bad), str(inputs / "speech.wav"), str(out), "--weights", str(weights), "--no-crop")
    )
    assert rc == 2 and "cannot read" in capsys.readouterr().err
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(300, np.float32), 16000)
    rc = main(
        _animate_argv(str(inputs / "face.png"), str(short), str(out), "--weights", str(weights), "--no-crop")
    )
    assert rc == 2 and "too short" in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["notimage.png", "short.wav"]


def test_neutral_controls_and_natural_blinks():
    stats = ControlStats(pose=(1.0, 2.0, 3.0), blink_open=(0.3, 0.3), blink_closed=(0.05, 0.05))
    c = neutral_controls(250, stats, blink_every=3.5, seed=0)
    assert c["pose"].shape == (250, 3) and np.allclose(c["pose"], [1, 2, 3])
    closed = c["blink"][:, 0] < 0.1
    starts = np.flatnonzero(closed[1:] & ~closed[:-1]) + 1
    assert 2 <= len(starts) <= 5  # 10 s with a blink every 2-6 s
    assert np.all(np.diff(starts) >= 50) and np.all(np.diff(starts) <= 150)
    ends = np.flatnonzero(~closed[1:] & closed[:-1]) + 1
    assert np.all(ends - starts[: len(ends)] <= 4)  # each blink closes the eyes for at most 0.16 s
    assert np.array_equal(blink_track(250, stats, seed=4), blink_track(250, stats, seed=4))
    assert np.allclose(neutral_controls(50, stats, blink_every=0)["blink"], 0.3)


def test_animate_from_text_with_tts(weights, inputs, tmp_path, capsys):
    """--text/--lang speaks with the bundled espeak-ng (any espeak voice, here Quechua); --text without
    --lang is a one-line error."""
    from vqtalker.cli import main
    from vqtalker.io.video import read_video

    out = tmp_path / "qu.mp4"
    argv = ["animate", "--image", str(inputs / "face.png"), "--text", "Allinllachu", "-o", str(out),
            "--weights", str(weights), "--no-crop"]
    assert main(argv) == 2 and "--text needs --lang" in capsys.readouterr().err
    # --size means real pixels: a model without the full-resolution head cannot render 48 px, and says so
    # before any work (no output file)
    assert main(argv + ["--lang", "qu", "--size", "48"]) == 2
    assert "--size" in capsys.readouterr().err and not out.exists()
    assert main(argv + ["--lang", "qu"]) == 0, capsys.readouterr().err
    v = read_video(out)
    assert v.frames.shape[1:] == (32, 32, 3)
    assert v.num_frames > 10 and v.audio is not None and float(np.abs(v.audio).max()) > 0.05


def test_natural_pose_is_gentle_seeded_and_speech_driven():
    from vqtalker.generate.controls import POSE_SWAY_DEG, natural_pose

    t = np.arange(16000 * 20) / 16000
    speech = (0.3 * np.sin(2 * np.pi * 200 * t) * ((t % 1.0) < 0.6)).astype(np.float32)
    stats = ControlStats(pose=(1.0, -2.0, 0.5))
    p = natural_pose(500, speech, stats, seed=3)
    assert p.shape == (500, 3) and p.dtype == np.float32
    assert np.array_equal(p, natural_pose(500, speech, stats, seed=3))
    assert not np.allclose(p, natural_pose(500, speech, stats, seed=4))
    dev = p - np.asarray(stats.pose)
    assert np.all(dev.std(0) > 0.2) and np.all(dev.std(0) < 2.0 * np.asarray(POSE_SWAY_DEG))
    assert np.abs(np.diff(p, axis=0)).max() < 1.0  # smooth: under a degree per frame
    assert np.allclose(natural_pose(500, speech, stats, scale=0.0), stats.pose)
    silent = natural_pose(500, np.zeros_like(speech), stats, seed=3) - np.asarray(stats.pose)
    assert silent.std() < dev.std()  # more motion while speaking
