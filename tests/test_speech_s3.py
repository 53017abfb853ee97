"""S3 backend: random-weight model of the real architecture (tiny config), ONNX loading path, missing file."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from vqtalker.errors import MissingWeightsError, VQTalkerError
from vqtalker.speech import load_speech_tokenizer

onnx = pytest.importorskip("onnx")
if importlib.util.find_spec("s3tokenizer") is None:
    pytest.skip("s3tokenizer not installed", allow_module_level=True)

from vqtalker.speech.s3 import ENV_VAR, S3SpeechTokenizer  # noqa: E402

TINY = dict(n_audio_state=64, n_audio_head=1, n_audio_layer=1)


def _wave(seconds=1.3, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.5 * t)) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32
    )


def _write_fake_onnx(model: torch.nn.Module, path) -> None:
    """Write the model's weights with the initializer/node names of CosyVoice's speech_tokenizer_v1.onnx
    (as read by s3tokenizer.utils.onnx2torch): a weights-only graph of Identity nodes."""
    from onnx import helper, numpy_helper

    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    inits, nodes = [], []

    def add(init_name, array, node_name, op="Identity", extra_inputs=()):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name=init_name))
        nodes.append(helper.make_node(op, [*extra_inputs, init_name], [init_name + "_out"], name=node_name))

    conv_names = {
        "encoder.conv1.weight": "onnx::Conv_1519",
        "encoder.conv1.bias": "onnx::Conv_1520",
        "encoder.conv2.weight": "onnx::Conv_1521",
        "encoder.conv2.bias": "onnx::Conv_1522",
    }
    for key, init_name in conv_names.items():
        add(init_name, state[key], "/" + key.split(".")[1] + "/Conv")
    add("codebook", state["quantizer._codebook.embed"].T, "/quantizer/rq/model/layers.0/_codebook/Pow_1")
    for key, arr in state.items():
        if not key.startswith("encoder.blocks."):
            continue
        parts = key.split(".")  # encoder blocks N module [sub] param
        i, param = parts[2], parts[-1]
        mod = parts[3:-1]
        if mod[-1].endswith("_ln"):
            if param == "weight":
                ln = f"/blocks.{i}/{mod[-1]}"
                inits.append(numpy_helper.from_array(arr, name=f"{ln}.scale"))
                inits.append(numpy_helper.from_array(state[key[: -len("weight")] + "bias"], name=f"{ln}.b"))
                nodes.append(
                    helper.make_node(
                        "LayerNormalization", ["x", f"{ln}.scale", f"{ln}.b"], [f"{ln}_out"],
                        name=f"{ln}/LayerNormalization",
                    )
                )  # fmt: skip
            continue
        path_mod = "/".join(["mlp", "mlp." + mod[1]] if mod[0] == "mlp" else mod)
        op = "MatMul" if param == "weight" else "Add"
        add(f"w_{key}", arr.T if param == "weight" else arr, f"/blocks.{i}/{path_mod}/{op}")
    graph = helper.make_graph(nodes, "s3_weights", [], [], initializer=inits)
    onnx.save(helper.make_model(graph), str(path))


def test_random_tiny_s3_encodes_at_50hz():
    tok = S3SpeechTokenizer.from_random(seed=0, **TINY)
    assert tok.vocab_size == 4096 and tok.rate_hz == 50.0
    wave = _wave(1.3)
    codes = tok.encode(wave, 16000)
    assert codes.dtype == torch.long
    assert codes.shape[0] == tok.expected_length(wave.size) == 65
    assert int(codes.min()) >= 0 and int(codes.max()) < 4096
    assert torch.equal(codes, tok.encode(wave, 16000))  # deterministic
    # any input rate / channels: 44.1 kHz stereo copy of the same signal gives (almost) the same length
    from vqtalker.io.audio import resample

    stereo = np.stack([resample(wave, 16000, 44100)] * 2, axis=1)
    assert abs(tok.encode(stereo, 44100).shape[0] - 65) <= 1


def test_s3_loads_weights_from_local_onnx(tmp_path, monkeypatch):
    src = S3SpeechTokenizer.from_random(seed=3, **TINY)
    path = tmp_path / "speech_tokenizer_v1.onnx"
    _write_fake_onnx(src.model, path)
    loaded = load_speech_tokenizer("s3", path=str(path))
    sd_a, sd_b = src.model.state_dict(), loaded.model.state_dict()
    for k in sd_a:
        assert torch.allclose(sd_a[k], sd_b[k]), k
    wave = _wave(2.0, seed=1)
    assert torch.equal(src.encode(wave), loaded.encode(wave))
    monkeypatch.setenv(ENV_VAR, str(path))
    assert torch.equal(load_speech_tokenizer("s3").encode(wave), loaded.encode(wave))


def test_s3_without_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(MissingWeightsError, match="speech_tokenizer_v1.onnx.*VQTALKER_S3_ONNX"):
        load_speech_tokenizer("s3")
    with pytest.raises(MissingWeightsError, match="not found"):
        load_speech_tokenizer("s3", path=str(tmp_path / "nope.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(VQTalkerError):
        load_speech_tokenizer("s3", path=str(bad))
