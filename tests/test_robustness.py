"""Bad input never ends in a traceback: one table of input classes (docs/robustness.md lists them).

Each case runs the real CLI (``vqtalker.cli.main``) with tiny weights and expects either a clean run (the
input is supported) or exit status 2 with exactly one ``error:`` line naming the problem — and no output
file left behind.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from vqtalker.codec.encoder import EncoderConfig, VQTEncoder
    from vqtalker.generate.checkpoint import save_stage2
    from vqtalker.generate.config import make_config
    from vqtalker.generate.model import build_model
    from vqtalker.io.video import write_video
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.tokenizer import MotionTokenizer
    from vqtalker.motion.weights import save_generator

    d = tmp_path_factory.mktemp("robust")
    w = d / "weights"
    w.mkdir()
    torch.manual_seed(0)
    g = build_generator(get_config("tiny-32"))
    save_generator(g, w / "stage1.safetensors", dtype=torch.float32)
    save_stage2(w / "stage2.safetensors", build_model(make_config("tiny", speech_vocab=1024, face_dim=128)),
                speech_tokenizer="hash")
    rng = np.random.default_rng(0)
    face = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(face).save(d / "face.png")
    Image.fromarray(face).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(face[..., 0].astype(np.uint16) * 257).save(d / "gray16.png")
    Image.fromarray(face).convert("L").save(d / "gray.png")
    Image.fromarray(face).convert("RGBA").save(d / "rgba.png")
    Image.fromarray(face).save(d / "anim.gif")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°
    Image.fromarray(face).save(d / "exif.jpg", exif=exif)
    (d / "text.png").write_text("not a picture")
    t = np.arange(16000) / 16000
    sf.write(d / "speech.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    sf.write(d / "short.wav", np.zeros(160, np.float32), 16000)
    sf.write(d / "silent.wav", np.zeros(16000, np.float32), 16000)
    (d / "text.wav").write_text("not audio")
    write_video(d / "clip.mp4", rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8), fps=25)
    (d / "empty.vqt").write_bytes(b"")
    (d / "junk.vqt").write_bytes(b"RIFF" + bytes(60))
    import io

    buf = io.BytesIO()
    enc = VQTEncoder(MotionTokenizer(g), EncoderConfig(size=32, key_format="webp"), buf.write, 25.0)
    enc.add(rng.integers(0, 255, (30, 32, 32, 3), dtype=np.uint8))
    enc.close()
    (d / "good.vqt").write_bytes(buf.getvalue())
    (d / "truncated.vqt").write_bytes(buf.getvalue()[:-30])  # the end chunk and a bit of the last packet
    torch.manual_seed(5)
    other = build_generator(get_config("tiny-32"))
    save_generator(other, d / "other.safetensors", dtype=torch.float32)
    (d / "corrupt.safetensors").write_bytes(rng.integers(0, 255, 500, dtype=np.uint8).tobytes())
    torch.save({"x": torch.zeros(2)}, d / "pickle.pt")
    (d / "afile").write_text("x")
    (d / "adir.mp4").mkdir()
    return d


A = ["animate", "--weights", "{w}", "--no-crop", "--threads", "1"]
F = ["--image", "{d}/face.png"]  # a usable portrait
S1 = "{w}/stage1.safetensors"
ANIM_OK = A + F + ["--audio", "{d}/speech.wav", "-o", "{out}.mp4"]

#: (id, argv, expected: "ok" or a substring of the one error line)
CASES = [
    ("image-missing", A + ["--image", "{d}/nope.png", "--audio", "{d}/speech.wav", "-o", "{out}.mp4"],
     "image not found"),
    ("image-not-a-picture", A + ["--image", "{d}/text.png", "--audio", "{d}/speech.wav", "-o", "{out}.mp4"],
     "cannot read"),
    ("image-is-a-directory", A + ["--image", "{d}", "--audio", "{d}/speech.wav", "-o", "{out}.mp4"],
     "image not found"),
    ("image-cmyk-jpeg", [x.replace("face.png", "cmyk.jpg") for x in ANIM_OK], "ok"),
    ("image-16-bit-png", [x.replace("face.png", "gray16.png") for x in ANIM_OK], "ok"),
    ("image-grayscale", [x.replace("face.png", "gray.png") for x in ANIM_OK], "ok"),
    ("image-rgba", [x.replace("face.png", "rgba.png") for x in ANIM_OK], "ok"),
    ("image-gif", [x.replace("face.png", "anim.gif") for x in ANIM_OK], "ok"),
    ("image-exif-rotated", [x.replace("face.png", "exif.jpg") for x in ANIM_OK], "ok"),
    ("audio-missing", A + F + ["--audio", "{d}/nope.wav", "-o", "{out}.mp4"],
     "audio not found"),
    ("audio-not-audio", A + F + ["--audio", "{d}/text.wav", "-o", "{out}.mp4"], "text.wav"),
    ("audio-too-short", A + F + ["--audio", "{d}/short.wav", "-o", "{out}.mp4"],
     "too short"),
    ("audio-silent", [x.replace("speech.wav", "silent.wav") for x in ANIM_OK], "ok"),
    ("audio-from-a-video-file", A + F + ["--audio", "{d}/clip.mp4", "-o", "{out}.mp4"],
     "clip.mp4"),
    ("output-not-mp4", A + F + ["--audio", "{d}/speech.wav", "-o", "{out}.avi"], ".mp4"),
    ("output-is-a-directory", A + F + ["--audio", "{d}/speech.wav", "-o", "{d}/adir.mp4"],
     "adir.mp4"),
    ("text-without-lang", A + F + ["--text", "hello", "-o", "{out}.mp4"], "--lang"),
    ("text-unknown-lang", A + F + ["--text", "hello", "--lang", "xx-nope", "-o",
                               "{out}.mp4"], "xx-nope"),
    ("text-empty", A + F + ["--text", " ", "--lang", "en", "-o", "{out}.mp4"], "text"),
    ("temperature-nan", ANIM_OK + ["--temperature", "nan"], "--temperature must be a finite number"),
    ("mouth-gain-inf", ANIM_OK + ["--mouth-gain", "inf"], "--mouth-gain must be a finite number"),
    ("top-k-negative", ANIM_OK + ["--top-k", "-1"], "top-k"),
    ("size-too-small", ANIM_OK + ["--size", "8"], "size"),
    ("device-unknown", ANIM_OK + ["--device", "banana"], "available: cpu"),
    ("threads-negative", ANIM_OK + ["--threads", "-2"], "--threads"),
    ("pose-malformed", ANIM_OK + ["--pose", "10,x"], "--pose"),
    ("face-index-negative", ANIM_OK + ["--face", "-1"], "face"),
    ("weights-dir-missing", ["animate", "--weights", "{d}/noweights", "--no-crop", "--image", "{d}/face.png",
                             "--audio", "{d}/speech.wav", "-o", "{out}.mp4"], "not found"),
    ("stage1-corrupt", ANIM_OK + ["--stage1", "{d}/corrupt.safetensors"], "corrupt.safetensors"),
    ("stage1-pickle", ANIM_OK + ["--stage1", "{d}/pickle.pt"], "pickle.pt"),
    ("reconstruct-video-missing", ["reconstruct", "--checkpoint", S1, "--video",
                                   "{d}/nope.mp4", "-o", "{out}.mp4"], "nope.mp4"),
    ("reconstruct-video-not-video", ["reconstruct", "--checkpoint", S1, "--video",
                                     "{d}/text.png", "-o", "{out}.mp4", "--no-crop"], "text.png"),
    ("encode-output-not-vqt", ["encode", "{d}/clip.mp4", "-o", "{out}.mp4", "--stage1", S1,
                               "--no-crop", "--size", "32"], ".vqt"),
    ("encode-kbps-out-of-range", ["encode", "{d}/clip.mp4", "-o", "{out}.vqt", "--stage1", S1, "--no-crop",
                                  "--size", "32", "--kbps", "0"], "--kbps"),
    ("decode-empty-file", ["decode", "{d}/empty.vqt", "-o", "{out}.mp4", "--stage1", S1],
     "empty"),
    ("decode-wrong-signature", ["decode", "{d}/junk.vqt", "-o", "{out}.mp4", "--stage1", S1], "signature"),
    ("decode-truncated-file", ["decode", "{d}/truncated.vqt", "-o", "{out}.mp4", "--stage1", S1], "ok"),
    ("decode-other-model", ["decode", "{d}/good.vqt", "-o", "{out}.mp4", "--stage1", "{d}/other.safetensors"],
     "other stage-1 weights"),
    ("info-not-vqt", ["info", "{d}/face.png"], "signature"),
    ("prepare-into-a-file", ["prepare", "{d}", "{d}/afile"], "afile"),
    ("prepare-input-missing", ["prepare", "{d}/nope", "{out}"], "not found"),
    ("speech-weights-corrupt", ["speech", "{d}/speech.wav", "--weights", "{d}/corrupt.safetensors"],
     "corrupt.safetensors"),
    ("tts-unknown-language", ["tts", "hello", "--lang", "xx-nope", "-o", "{out}.wav"], "xx-nope"),
    ("verify-missing-file", ["verify", "{d}/nope.mp4"], "nope.mp4"),
    ("eval-codec-data-missing", ["eval", "codec", "--data", "{d}/nope", "--out", "{out}"], "--data"),
    ("eval-codec-bad-setting", ["eval", "codec", "--data", "{d}", "--out", "{out}", "--stage1", S1,
                                "--settings", "kbps=fast"], "--settings"),
    ("ui-port-out-of-range", ["ui", "--port", "99999"], "--port"),
]


@pytest.mark.parametrize("argv,expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_class(env, tmp_path, capsys, argv, expect):
    from vqtalker.cli import main

    out = tmp_path / "out"
    args = [a.format(d=env, w=env / "weights", out=out) for a in argv]
    rc = main(args)
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.startswith("error:")]
    if expect == "ok":
        assert rc == 0, err
        return
    assert rc == 2 and len(err) == 1, err
    assert expect in err[0], err[0]
    assert not any(p.name.startswith("out") for p in tmp_path.iterdir())  # nothing half-written
