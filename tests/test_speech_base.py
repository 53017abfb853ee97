"""Speech front-end and interface: mel filters, resampling/stereo, alignment, determinism, registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqtalker.errors import VQTalkerError
from vqtalker.io.audio import resample
from vqtalker.speech import align_tokens, frames_to_tokens, load_speech_tokenizer, tokens_to_frames
from vqtalker.speech.mel import LogMel, mel_filters, stack_frames


def _chirp(seconds=2.0, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    x = env * np.sin(2 * np.pi * (200 + 400 * t) * t) + 0.02 * rng.standard_normal(t.size)
    return (0.4 * x).astype(np.float32)


def test_mel_filters_match_whisper_table():
    import importlib.util
    import os

    spec = importlib.util.find_spec("s3tokenizer")
    if spec is None:
        pytest.skip("s3tokenizer not installed")
    ref = np.load(os.path.join(spec.submodule_search_locations[0], "assets", "mel_filters.npz"))["mel_128"]
    assert np.abs(mel_filters() - ref).max() < 1e-6


def test_logmel_shapes_and_range():
    wave = torch.from_numpy(_chirp(1.0))
    mel = LogMel()(wave)
    assert mel.shape == (100, 128)  # 100 fps
    assert float(mel.max() - mel.min()) <= 2.0 + 1e-5  # 8 log10 units / 4
    assert stack_frames(mel).shape == (50, 256)
    batch = LogMel()(torch.stack([wave, wave * 0.5]))
    assert torch.allclose(batch[0], mel, atol=1e-5)


@pytest.mark.parametrize("name", ["default", "hash"])
def test_any_rate_and_stereo_give_same_length_and_mostly_same_codes(name):
    tok = load_speech_tokenizer(name)
    wave = _chirp(2.0)
    ref = tok.encode(wave, 16000)
    assert ref.dtype == torch.long and ref.shape == (100,)  # 2 s at 50 Hz
    assert int(ref.min()) >= 0 and int(ref.max()) < tok.vocab_size
    for sr in (8000, 22050, 44100, 48000):
        x = resample(wave, 16000, sr)
        stereo = np.stack([x, x], axis=1)  # [N, C]
        out = tok.encode(stereo, sr)
        assert abs(out.shape[0] - 100) <= 1
        n = min(out.shape[0], 100)
        if sr >= 16000:  # band-limited round trips: nearly identical features
            assert (out[:n] == ref[:n]).float().mean() > 0.6
    ch_first = torch.from_numpy(np.stack([wave, wave]))  # torch layout [C, N]
    assert torch.equal(tok.encode(ch_first, 16000), ref)


def test_encoding_is_deterministic_and_batch_matches_single():
    tok = load_speech_tokenizer("default")
    a, b = _chirp(1.5, seed=1), _chirp(0.7, seed=2)
    assert torch.equal(tok.encode(a), tok.encode(a))
    batch, lengths = tok.encode_batch([a, resample(b, 16000, 22050)], [16000, 22050])
    assert lengths.tolist() == [75, 35]
    assert torch.equal(batch[0, :75], tok.encode(a))
    assert torch.equal(batch[1, :35], tok.encode(resample(b, 16000, 22050), 22050))


def test_logmel_backend_is_continuous():
    tok = load_speech_tokenizer("logmel")
    assert not tok.is_discrete and tok.feature_dim == 128
    feats = tok.encode_features(_chirp(1.0), 16000)
    assert feats.shape == (50, 128) and feats.dtype == torch.float32
    with pytest.raises(VQTalkerError, match="continuous"):
        tok.encode(_chirp(1.0), 16000)
    assert tok(_chirp(1.0)).shape == (50, 128)


def test_token_frame_alignment_rule():
    assert tokens_to_frames(0) == 0
    assert tokens_to_frames(1) == 0
    assert tokens_to_frames(101) == 50  # floor(N / 2)
    assert tokens_to_frames(100, rate_hz=25.0) == 100
    assert frames_to_tokens(50) == 100
    toks = torch.arange(7)
    assert align_tokens(toks, 3).tolist() == [0, 1, 2, 3, 4, 5]
    assert align_tokens(toks, 5).tolist() == [0, 1, 2, 3, 4, 5, 6, 6, 6, 6]
    feats = torch.randn(3, 4)
    out = align_tokens(feats, 4)
    assert out.shape == (8, 4) and torch.equal(out[3:], feats[-1:].expand(5, 4))
    assert align_tokens(torch.zeros(0, dtype=torch.long), 2).tolist() == [0, 0, 0, 0]
    # 1 s of audio -> 50 tokens -> 25 video frames
    tok = load_speech_tokenizer("hash")
    n = tok.encode(_chirp(1.0)).shape[0]
    assert tokens_to_frames(n, tok.rate_hz) == 25


def test_registry_errors():
    with pytest.raises(VQTalkerError, match="default, s3, logmel, hash"):
        load_speech_tokenizer("nope")
    with pytest.raises(VQTalkerError):
        load_speech_tokenizer("default", path="/nonexistent/codebook.safetensors")
    with pytest.raises(VQTalkerError, match="NaN"):
        load_speech_tokenizer("hash").encode(np.full(1600, np.nan, np.float32))


def test_shipped_default_codebook():
    tok = load_speech_tokenizer("default")
    assert tok.name == "default" and tok.rate_hz == 50.0 and 1024 <= tok.vocab_size <= 2048
    assert tok.centroids.shape == (tok.vocab_size, 256)
    assert torch.isfinite(tok.centroids).all()


@pytest.mark.parametrize("name", ["default", "hash", "logmel"])
def test_short_and_empty_input(name):
    tok = load_speech_tokenizer(name)
    rng = np.random.default_rng(0)
    for n, expected in [(0, 0), (319, 0), (320, 1), (641, 2)]:
        out = tok(0.01 * rng.standard_normal(n).astype(np.float32), 16000)
        assert out.shape[0] == expected == tok.expected_length(n)
