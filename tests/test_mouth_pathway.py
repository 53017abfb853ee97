"""The mouth pathway (issue 14): voice activity, phoneme posteriors, speech features, the text path's
visemes, blendshape mouth parameters, the silence gate of MouthGuidance and ``vqtalker say``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def speech():
    """1 s of silence, espeak-ng English, 1 s of silence (16 kHz) and the phoneme timings (shifted)."""
    from types import SimpleNamespace

    from vqtalker.tts import synthesize

    wave, sr, ph = synthesize("Mama made a map of the moon.", "en")
    pad = np.zeros(sr, np.float32)
    shifted = [SimpleNamespace(phoneme=p.phoneme, start=p.start + 1.0, end=p.end + 1.0) for p in ph]
    return np.concatenate([pad, wave, pad]), shifted, len(wave) / sr


def test_vad_hears_speech_not_silence_or_a_hum(speech):
    from vqtalker.speech.vad import chunk_probability, speech_mask, speech_probability

    wave, _, dur = speech
    t = len(wave) // 640
    p = speech_probability(wave)
    assert p.shape == (t,) and p.dtype == np.float32
    assert p[:20].max() < 0.3 and p[-20:].max() < 0.3  # the silent second before and after
    assert p[25 : 25 + int(dur * 25)].mean() > 0.6
    hum = 0.3 * np.sin(2 * np.pi * 100 * np.arange(32000) / 16000).astype(np.float32)
    assert chunk_probability(hum).mean() < 0.3
    assert speech_probability(wave, 7).shape == (7,) and chunk_probability(np.zeros(0)).shape == (0,)
    m = speech_mask(np.array([0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1], float), min_silence=3, pad=0)
    assert m.tolist() == [False, True, True, True, True, True, True] + [False] * 6 + [True]


def test_phoneme_posteriors_line_up_with_video_and_find_the_bilabials(speech):
    from vqtalker.speech.phonetic import BLANK, phoneme_posteriors, vocabulary

    wave, _, _ = speech
    post = phoneme_posteriors(wave)
    assert post.shape == (len(wave) // 320, len(vocabulary())) and vocabulary()[BLANK] == "<blank>"
    np.testing.assert_allclose(post.sum(1), 1.0, atol=1e-3)
    assert post[:40, BLANK].mean() > 0.9  # silence is blank
    heard = [vocabulary()[i] for i in post.argmax(1)]
    assert heard.count("m") >= 3 and {"u", "ə"} <= set(heard)  # espeak says "m/ɑ/m/ə … m/u/n"
    m_frames = [i for i, h in enumerate(heard) if h == "m"]
    assert 50 <= min(m_frames) and max(m_frames) < len(heard) - 50  # inside the speech, at 50 fps
    assert phoneme_posteriors(wave, 10).shape == (10, len(vocabulary()))
    assert phoneme_posteriors(np.zeros(100), 3)[:, BLANK].tolist() == [1.0, 1.0, 1.0]


def test_long_input_is_windowed_without_seams(monkeypatch, speech):
    import vqtalker.speech.phonetic as ph

    wave, _, _ = speech
    whole = ph.phoneme_posteriors(wave)
    monkeypatch.setattr(ph, "WINDOW", 60)
    monkeypatch.setattr(ph, "OVERLAP", 30)
    windowed = ph.phoneme_posteriors(wave)
    assert windowed.shape == whole.shape
    assert (windowed.argmax(1) == whole.argmax(1)).mean() > 0.9


def test_features_parts_and_errors():
    from vqtalker.mouth.features import feature_dim, parse, rows_per_frame, speech_features

    assert feature_dim("mel+phonemes+vad") == 128 + 191 + 1 and rows_per_frame("mel") == 2
    assert feature_dim("mel100") == 128 and rows_per_frame("mel100") == 4
    with pytest.raises(ValueError, match="unknown mouth feature"):
        parse("mel+lips")
    wave = np.random.default_rng(0).normal(0, 0.05, 16000).astype(np.float32)
    x = speech_features(wave, "mel+vad", 30)
    assert x.shape == (60, 129) and torch.isfinite(x).all()


def test_visemes_close_on_bilabials_open_on_vowels_rest_in_pauses():
    from types import SimpleNamespace as P

    from vqtalker.mouth.visemes import TextCalibration, articulation, openness_track, text_opening

    assert articulation("ˈɑː").openness == 1.0 and articulation("m").closure
    assert articulation("ˈoʊ").rounded and articulation("e̞").openness == 0.5
    # "a m a" at 0.2 s per phoneme, then a 0.6 s pause, then "a"
    ph = [
        P(phoneme="a", start=0.2, end=0.4),
        P(phoneme="m", start=0.4, end=0.48),
        P(phoneme="a", start=0.48, end=0.7),
        P(phoneme="a", start=1.3, end=1.5),
    ]
    o = openness_track(ph, 45)
    t = lambda s: int(s * 25)  # noqa: E731
    assert o[t(0.3)] > 0.8 and o[t(0.58)] > 0.8 and o[t(1.4)] > 0.8
    assert o[t(0.44)] < 0.15  # the lips reach closure on the /m/ between two open vowels
    assert o[t(1.0)] < 0.1 and o[-1] < 0.1 and o[0] < 0.2  # pauses rest
    cal = TextCalibration(rest=0.1, open=0.9)
    np.testing.assert_allclose(text_opening(ph, 45, cal), 0.1 + 0.8 * o, atol=1e-6)
    fit = TextCalibration.fit(np.linspace(0, 1, 101), np.ones(101, bool))
    assert fit.rest == pytest.approx(0.05) and fit.open == pytest.approx(0.90)
    assert TextCalibration.from_json(cal.to_json()) == cal


def _constant_predictor(value: float):
    from vqtalker.mouth.predictor import MouthPredictor, MouthPredictorConfig

    m = MouthPredictor(MouthPredictorConfig(channels=4, features="mel", dropout=0.0))
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.out.bias.fill_(value)
    return m.eval()


def test_guidance_rests_the_mouth_in_silence_and_blends_the_text_track(speech):
    from vqtalker.mouth.guidance import MouthGuidance
    from vqtalker.mouth.visemes import TextCalibration, text_opening

    wave, ph, dur = speech
    t = len(wave) // 640
    cal = TextCalibration(rest=0.05, open=0.8)
    g = MouthGuidance(_constant_predictor(0.6), calibration=cal, text_weight=0.0)
    o = g.predict(wave, t).numpy()
    speaking = slice(30, 25 + int(dur * 25) - 5)
    assert np.abs(o[:18] - 0.05).max() < 1e-5 and np.abs(o[-18:] - 0.05).max() < 1e-5
    assert np.abs(o[speaking] - 0.6).max() < 1e-4
    g.silence = False
    assert np.abs(g.predict(wave, t).numpy() - 0.6).max() < 1e-5  # no gate: the predictor's track
    g.text_weight = 1.0
    np.testing.assert_allclose(g.predict(wave, t, ph).numpy(), text_opening(ph, t, cal), atol=1e-5)


def test_predictor_with_phonetic_features_and_params_round_trips(tmp_path):
    from vqtalker.mouth.guidance import MouthGuidance
    from vqtalker.mouth.predictor import (
        MouthPredictor,
        MouthPredictorConfig,
        load_mouth_predictor,
        save_mouth_predictor,
    )

    cfg = MouthPredictorConfig(channels=8, features="mel+phonemes+vad", outputs=("opening", "jaw_open"))
    m = MouthPredictor(cfg).eval()
    x = torch.randn(2, 2 * 20, cfg.in_dim)
    assert m(x).shape == (2, 20, 2)
    path = save_mouth_predictor(
        tmp_path / "m.safetensors", m, None, text_calibration='{"rest": 0.1, "open": 0.7}'
    )
    m2, meta = load_mouth_predictor(path)
    assert m2.cfg == cfg
    torch.testing.assert_close(m2(x), m(x), atol=2e-2, rtol=2e-2)
    g = MouthGuidance.from_file(path)
    assert g.silence and g.calibration.rest == 0.1
    wave = np.random.default_rng(0).normal(0, 0.05, 8000).astype(np.float32)
    assert m2.predict_all(wave, 12).shape == (12, 2) and m2.predict(wave).shape == (12,)


def test_predictor_learns_mouth_parameters_next_to_the_opening():
    from vqtalker.mouth.predictor import MouthPredictorConfig
    from vqtalker.mouth.training import MouthExample, evaluate_predictor, train_predictor

    g = torch.Generator().manual_seed(0)
    cfg = MouthPredictorConfig(channels=16, dropout=0.0, features="vad", outputs=("opening", "jaw_open"))

    def clip(i):  # features: a slow on/off signal; opening follows it, jaw_open its opposite (NaN holes)
        t = 80
        s = (torch.sin(torch.arange(t) / 3.0 + i) > 0).float()
        x = s.repeat_interleave(2)[:, None] + 0.05 * torch.randn(2 * t, 1, generator=g)
        y = torch.stack([0.5 * s, 1 - s], 1)
        y[::7, 1] = float("nan")
        return MouthExample(f"c{i}", x, y, "xx")

    model, _ = train_predictor(
        [clip(i) for i in range(6)], [], cfg, steps=200, batch=8, window=32, lr=3e-3, log=lambda m: None
    )
    res = evaluate_predictor(model, [clip(10), clip(11)], by_language=True)
    assert res["corr"] > 0.9 and res["corr_jaw_open"] > 0.9 and res["corr@xx"] == res["corr"]


def test_blendshape_mouth_params_of_a_face():
    from vqtalker.face.blendshapes import MOUTH_PARAMS, BlendshapeTracker, K, mouth_params, video_mouth_params

    names = [
        "jawOpen",
        "mouthClose",
        "mouthFunnel",
        "mouthPucker",
        "mouthSmileLeft",
        "mouthSmileRight",
        "mouthStretchLeft",
        "mouthStretchRight",
        "mouthUpperUpLeft",
        "mouthUpperUpRight",
        "mouthLowerDownLeft",
        "mouthLowerDownRight",
        "mouthPressLeft",
        "mouthPressRight",
        "mouthRollLower",
        "mouthRollUpper",
    ]
    s = np.arange(len(names), dtype=np.float32)[None] / 20
    p = mouth_params(s, names)
    assert p.shape == (1, K) and p[0, list(MOUTH_PARAMS).index("smile")] == pytest.approx(4.5 / 20)
    pytest.importorskip("mediapipe")
    try:
        tracker = BlendshapeTracker()
    except Exception as exc:  # the model file is an optional install
        pytest.skip(str(exc))
    from PIL import Image

    face = np.asarray(Image.open("tests/fixtures/synthetic_face.jpg").convert("RGB").resize((256, 256)))
    out = video_mouth_params([face, np.zeros_like(face)], tracker)
    assert out.shape == (2, K) and np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    assert ((out[0] >= 0) & (out[0] <= 1)).all()


def test_say_cli_drives_the_mouth_from_espeak_timings(tmp_path, capsys, monkeypatch):
    import cv2
    from test_mouth_guidance import install_tiny_weights

    from vqtalker.cli import main
    from vqtalker.mouth.control import MouthControl
    from vqtalker.pipeline import TalkingHeadPipeline

    install_tiny_weights(
        tmp_path,
        _constant_predictor(0.4),
        MouthControl(torch.randn(120), mean_gap=0.3),
        text_calibration='{"rest": 0.0, "open": 1.0}',
    )
    cv2.imwrite(
        str(tmp_path / "face.png"), np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    )
    seen = {}
    real = TalkingHeadPipeline.animate_to_file

    def spy(self, *a, **kw):
        out = real(self, *a, **kw)
        seen["mouth"], seen["phonemes"] = out.mouth, kw.get("phonemes")
        return out

    monkeypatch.setattr(TalkingHeadPipeline, "animate_to_file", spy)
    argv = [
        "say",
        "--image",
        str(tmp_path / "face.png"),
        "--text",
        "Mama, ama.",
        "--lang",
        "sw",
        "--weights",
        str(tmp_path),
        "--no-crop",
        "--text-weight",
        "1",
    ]
    assert main(argv + ["-o", str(tmp_path / "a.mp4")]) == 0, capsys.readouterr().err
    assert (tmp_path / "a.mp4").is_file() and seen["phonemes"]
    o = seen["mouth"]
    assert o.min() < 0.1 and o.max() > 0.8  # visemes only: closed on /m/, open on /a/
    assert main(argv[:-1] + ["2", "-o", str(tmp_path / "b.mp4")]) != 0
    assert "--text-weight" in capsys.readouterr().err and not (tmp_path / "b.mp4").exists()
    with pytest.raises(SystemExit):  # argparse: "the following arguments are required: --lang"
        main(["say", "--image", str(tmp_path / "face.png"), "--text", "x", "-o", str(tmp_path / "c.mp4")])


def test_control_recovers_parameter_directions_with_the_opening_held_fixed():
    from types import SimpleNamespace

    from vqtalker.face.landmarks import LIPS
    from vqtalker.face.lips import MOUTH_OPEN_SCALE
    from vqtalker.mouth.control import MouthControl, fit_mouth_control

    class Identity:
        def __call__(self, x):
            return x, None

    g = torch.Generator().manual_seed(0)
    d0, d1 = torch.randn(120, generator=g), torch.randn(120, generator=g)
    clips = []
    for _ in range(3):
        y = torch.rand(80, generator=g)
        pk = 0.5 * y + torch.rand(80, generator=g)  # a parameter correlated with the opening
        f = y[:, None] * d0 + pk[:, None] * d1 + 0.01 * torch.randn(80, 120, generator=g)
        mouth = torch.full((80, 40, 2), 0.5)
        mouth[:, LIPS.index(14), 1] = 0.5 + y / MOUTH_OPEN_SCALE
        params = pk[:, None].numpy().copy()
        params[5] = np.nan  # a frame without a face
        clips.append(SimpleNamespace(f=f, mouth=mouth, params=params))
    c = fit_mouth_control(Identity(), clips, ["pucker"])
    assert c.param_names == ("pucker",) and c.param_directions.shape == (1, 120)
    assert torch.nn.functional.cosine_similarity(c.param_directions[0], d1, dim=0) > 0.99
    c2 = MouthControl.from_json(c.to_json())
    torch.testing.assert_close(c2.param_directions, c.param_directions, atol=1e-5, rtol=0)
    motion = torch.zeros(4, 120)
    p = torch.tensor([[0.0], [1.0], [0.0], [1.0]])
    moved = c.apply(motion, torch.full((4,), c.mean_gap), None, 1.0, p, 2.0)
    torch.testing.assert_close(moved[1] - moved[0], 2.0 * c.param_directions[0])
    assert torch.equal(c.apply(motion, torch.full((4,), c.mean_gap), None, 1.0), motion)


def test_loading_the_vad_keeps_the_thread_count():
    import torch

    from vqtalker.speech.vad import load_vad

    n = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        load_vad.cache_clear()
        load_vad()
        assert torch.get_num_threads() == 2  # importing the silero_vad package would set it to 1
        import sys

        assert "silero_vad" not in sys.modules
    finally:
        torch.set_num_threads(n)


def test_lipsync_silence_ratio_and_jitter_helpers():
    from vqtalker.evaluation.lipsync import _jitter, _silence_ratio

    speaking = np.array([True] * 10 + [False] * 10)
    o = np.r_[np.full(10, 0.5), np.full(10, 0.05)]
    assert _silence_ratio(o, speaking) == pytest.approx(0.1)
    assert np.isnan(_silence_ratio(o, np.ones(20, bool)))  # no pause: unavailable, not 0
    assert _jitter(np.linspace(0, 1, 20)) == pytest.approx(0.0, abs=1e-12)  # a ramp is smooth
    assert _jitter(np.tile([0.0, 1.0], 10)) == pytest.approx(2.0) and _jitter(np.zeros(2)) == 0.0
