"""CLI verbs: `vqtalker speech` (also as `python -m vqtalker speech`), `vqtalker tts`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from vqtalker.cli import main


def _wav(path, seconds=1.2, sr=22050, channels=2):
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 300 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    sf.write(str(path), np.stack([x] * channels, axis=1).astype(np.float32), sr)
    return path


def test_speech_verb_writes_tokens(tmp_path, capsys):
    audio = _wav(tmp_path / "in.wav")
    out = tmp_path / "tok.npy"
    assert main(["speech", str(audio), "-o", str(out), "--frames"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["rate_hz"] == 50.0 and info["count"] == 60 and info["video_frames_25fps"] == 30
    tokens = np.load(out)
    assert tokens.dtype == np.int64 and tokens.shape == (60,)
    assert main(["speech", str(audio), "--tokenizer", "logmel", "-o", str(tmp_path / "f.npy")]) == 0
    assert np.load(tmp_path / "f.npy").shape == (60, 128)


def test_speech_verb_errors_leave_no_output(tmp_path, capsys):
    out = tmp_path / "tok.npy"
    assert main(["speech", str(tmp_path / "missing.wav"), "-o", str(out)]) == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()
    assert main(["speech", str(_wav(tmp_path / "a.wav")), "--tokenizer", "nope", "-o", str(out)]) == 2
    assert not out.exists()
    assert list(tmp_path.glob("*.partial*")) == []


def test_python_m_vqtalker_speech(tmp_path):
    audio = _wav(tmp_path / "in.wav", seconds=0.5, sr=16000, channels=1)
    res = subprocess.run(
        [sys.executable, "-m", "vqtalker", "speech", str(audio), "--tokenizer", "hash"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["count"] == 25


def test_speech_verb_missing_audio_is_one_line(tmp_path, capsys):
    assert main(["speech", str(tmp_path / "x.wav")]) == 2
    assert capsys.readouterr().err.startswith("error: audio file not found")


def test_tts_verb(tmp_path, capsys):
    out = tmp_path / "hello.wav"
    timings = tmp_path / "t.json"
    assert main(["tts", "Guten Morgen", "--lang", "de", "-o", str(out), "--timings", str(timings)]) == 0
    wave, sr = sf.read(str(out))
    assert sr == 16000 and wave.size > 8000
    assert len(json.loads(timings.read_text())) > 4
    bad = tmp_path / "bad.wav"
    assert main(["tts", "hello", "--lang", "klingon", "-o", str(bad)]) == 2
    assert "supported" in capsys.readouterr().err
    assert not bad.exists()
