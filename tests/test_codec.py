"""The ``.vqt`` codec: entropy coding, container, rate control, encoder ⇄ decoder, robustness, CLI."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vqtalker.codec import container as C
from vqtalker.codec.entropy import (
    MODE_KEY,
    AdaptiveModel,
    ArithmeticDecoder,
    ArithmeticEncoder,
    TokenCoder,
    mode_skip,
)
from vqtalker.codec.ratecontrol import RateControlConfig, RateController
from vqtalker.errors import VQTalkerError

LEVELS = (5, 5, 5, 5)


# -- entropy coding -----------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=0, max_size=400), st.integers(1, 7))
def test_arithmetic_roundtrip(symbols, n):
    symbols = [s % n for s in symbols]
    enc = ArithmeticEncoder()
    m = AdaptiveModel(n)
    for s in symbols:
        m.encode(enc, s)
    data = enc.finish()
    dec = ArithmeticDecoder(data)
    m2 = AdaptiveModel(n)
    assert [m2.decode(dec) for _ in symbols] == symbols


def test_arithmetic_cost_close_to_entropy():
    rng = np.random.default_rng(0)
    p = np.array([0.7, 0.2, 0.05, 0.05])
    syms = rng.choice(4, size=5000, p=p)
    enc = ArithmeticEncoder()
    m = AdaptiveModel(4)
    for s in syms:
        m.encode(enc, int(s))
    bits = 8 * len(enc.finish())
    h = -(p * np.log2(p)).sum() * len(syms)
    assert h <= bits <= 1.03 * h + 64


def _token_stream(rng, t, static=False):
    """Tokens [t, 4, 12] of a smooth random walk in FSQ digit space (or all equal)."""
    d = np.full((4, 12, 4), 2)
    out = []
    basis = np.array([1, 5, 25, 125])
    for _ in range(t):
        if not static:
            d = np.clip(d + rng.integers(-1, 2, d.shape) * (rng.random(d.shape) < 0.2), 0, 4)
        out.append((d * basis).sum(-1))
    return np.stack(out)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.integers(1, 60), st.booleans())
def test_token_coder_lossless(seed, t, mouth):
    rng = np.random.default_rng(seed)
    toks = _token_stream(rng, t)
    modes = rng.choice([MODE_KEY, 1, 2, 3, 4, mode_skip(4)], size=t, p=[0.05, 0.1, 0.1, 0.1, 0.55, 0.1])
    modes[0] = MODE_KEY
    levels = rng.integers(0, 32, t) if mouth else [None] * t
    coder = TokenCoder(4, 12, LEVELS, 32 if mouth else 0)
    enc = ArithmeticEncoder()
    for i in range(t):
        coder.encode_frame(enc, int(modes[i]), toks[i], None if levels[i] is None else int(levels[i]))
    data = enc.finish()
    coder2 = TokenCoder(4, 12, LEVELS, 32 if mouth else 0)
    dec = ArithmeticDecoder(data)
    for i in range(t):
        mode, got, level = coder2.decode_frame(dec)
        assert mode == modes[i]
        if 1 <= mode <= 4:
            want = toks[i].copy()
            want[mode:] = coder.zero_index
            np.testing.assert_array_equal(got, want)
        else:
            assert got is None
        assert level == (None if levels[i] is None else levels[i])


def test_token_coder_uses_context():
    """A still face costs a few bits per frame; independent random tokens cost ≈ their fixed length."""
    rng = np.random.default_rng(1)

    def bits(toks):
        coder = TokenCoder(4, 12, LEVELS)
        enc = ArithmeticEncoder()
        coder.encode_frame(enc, MODE_KEY)
        for f in toks:
            coder.encode_frame(enc, 4, f)
        return 8 * len(enc.finish()) / len(toks)

    still = bits(_token_stream(rng, 200, static=True))
    smooth = bits(_token_stream(rng, 200))
    noise = bits(rng.integers(0, 625, (200, 4, 12)))
    fixed = 48 * np.log2(625)
    assert still < 25
    assert still < smooth < 0.8 * fixed
    assert 0.97 * fixed < noise < 1.1 * fixed


def test_token_coder_rejects_bad_tokens():
    coder = TokenCoder(4, 12, LEVELS)
    with pytest.raises(VQTalkerError):
        coder.encode_frame(ArithmeticEncoder(), 4, np.full((4, 12), 625))
    with pytest.raises(VQTalkerError):
        coder.encode_frame(ArithmeticEncoder(), 4, np.zeros((3, 12), int))


# -- container ----------------------------------------------------------------------------------------------
def _stream(n=5):
    parts = [C.PREAMBLE, C.chunk(C.HEAD, b"{}")]
    parts += [C.chunk(C.TOKENS, C.token_payload(i, 1, 0, 1, bytes([i] * (i + 3)))) for i in range(n)]
    parts.append(C.chunk(C.END, C.end_payload(n)))
    return b"".join(parts)


def test_container_roundtrip_and_incremental():
    data = _stream()
    whole = list(C.iter_chunks(data))
    assert [c.kind for c in whole] == [C.HEAD] + [C.TOKENS] * 5 + [C.END]
    assert not any(c.damaged for c in whole)
    r = C.ChunkReader()
    pieces = []
    for i in range(len(data)):
        pieces += r.feed(data[i : i + 1])
    pieces += r.finish()
    assert [(c.kind, c.payload) for c in pieces] == [(c.kind, c.payload) for c in whole]


def test_container_skips_a_damaged_chunk():
    data = bytearray(_stream())
    good = list(C.iter_chunks(bytes(data)))
    target = good[3]  # a token chunk
    data[target.offset + 10] ^= 0xFF  # flip a payload byte
    got = list(C.iter_chunks(bytes(data)))
    assert sum(c.damaged for c in got) == 1
    assert [c.payload for c in got if not c.damaged] == [c.payload for i, c in enumerate(good) if i != 3]


def test_container_signature_and_version():
    with pytest.raises(C.VQTFormatError, match="signature"):
        list(C.iter_chunks(b"RIFF1234" + _stream()[8:]))
    bad = bytearray(_stream())
    bad[8] = 99
    with pytest.raises(C.VQTFormatError, match="version 99"):
        list(C.iter_chunks(bytes(bad)))


def test_container_truncation_reports_damage():
    data = _stream()
    got = list(C.iter_chunks(data[:-7]))
    assert got[-1].damaged and sum(not c.damaged for c in got) == 6


def test_header_validation():
    h = C.Header(fps=25.0, size=256, model_id="x", layers=4, groups=12, levels=[5, 5, 5, 5])
    assert C.Header.from_bytes(h.to_bytes()) == h
    with pytest.raises(C.VQTFormatError):
        C.Header.from_bytes(b"{not json")
    bad = C.Header(fps=-1.0, size=256, model_id="x", layers=4, groups=12, levels=[5, 5, 5, 5])
    with pytest.raises(C.VQTFormatError):
        C.Header.from_bytes(bad.to_bytes())


# -- rate control -------------------------------------------------------------------------------------------
def test_rate_control_forced_keys():
    rc = RateController(RateControlConfig(keyint_max=1.0), fps=25, num_layers=4)
    actions = []
    for t in range(100):
        a, k = rc.decide(t)
        actions.append(a)
        rc.spent(1000 if a == "key" else 200, key=a == "key", t=t)
    assert [t for t, a in enumerate(actions) if a == "key"] == [0, 25, 50, 75]


def test_rate_control_budget_is_kept():
    """Keys cost 20 kbit, token frames 250 bit (6.25 kbps at 4 layers, less with fewer layers)."""
    for kbps in (8.0, 16.0, 32.0):
        rc = RateController(RateControlConfig(kbps=kbps, keyint_max=None), fps=25, num_layers=4)
        total = 0.0
        keys = 0
        for t in range(2500):
            a, k = rc.decide(t)
            cost = 20000 if a == "key" else (1 if a == "skip" else 62.5 * k)
            keys += a == "key"
            total += cost
            rc.spent(cost, key=a == "key", t=t)
        rate = total / 100 / 1000
        assert rate <= kbps * 1.05 + 0.3, (kbps, rate)
        assert rate >= kbps * 0.8, (kbps, rate)
        if kbps >= 16:
            assert keys > 10  # the budget is spent on refreshes


def test_rate_control_min_ssim_refresh():
    cfg = RateControlConfig(min_ssim=0.8, keyint_max=None, keyint_min=0.2)
    rc = RateController(cfg, fps=25, num_layers=4)
    assert rc.decide(0)[0] == "key"
    rc.spent(1000, key=True, t=0)
    assert rc.decide(1)[0] == "tokens"
    rc.quality(0.5)  # below target, but keyint_min (5 frames) not reached
    assert rc.decide(2)[0] == "tokens"
    assert [rc.decide(t)[0] for t in (3, 4, 5)] == ["tokens", "tokens", "key"]


def test_rate_control_validation():
    with pytest.raises(VQTalkerError, match="--min-ssim"):
        RateController(RateControlConfig(min_ssim=1.5), 25, 4)
    with pytest.raises(VQTalkerError, match="--layers"):
        RateController(RateControlConfig(max_layers=9), 25, 4)


# -- encoder ⇄ decoder with a tiny model --------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_tok():
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.tokenizer import MotionTokenizer

    torch.manual_seed(0)
    return MotionTokenizer(build_generator(get_config("tiny-32+fullres64")))


def _crops(t=40, size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(0, 255, (1, 1, 3))
    out = []
    for i in range(t):
        cx = 0.5 + 0.2 * np.sin(i / 6)
        blob = np.exp(-((xx - cx) ** 2 + (yy - 0.5) ** 2) / 0.03)[..., None]
        out.append((base * (1 - blob) + 255 * blob * np.array([1, 0.6, 0.3])).astype(np.uint8))
    return np.stack(out)


def _encode(tok, crops, **rate):
    from vqtalker.codec.encoder import EncoderConfig, VQTEncoder

    buf = io.BytesIO()
    cfg = EncoderConfig(size=64, rate=RateControlConfig(**rate), packet_frames=10, key_format="webp",
                        resync=1.0)
    enc = VQTEncoder(tok, cfg, buf.write, 25.0)
    enc.add(crops)
    stats = enc.close()
    return buf.getvalue(), stats


def _decode(tok, data, chunk=None):
    from vqtalker.codec.decoder import VQTDecoder

    dec = VQTDecoder(tok)
    out = []
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        out += dec.feed(data[i : i + step])
    out += dec.finish()
    return dec, out


def test_codec_roundtrip_matches_direct_rendering(tiny_tok):
    """Decoded frames = key picture, then rendering of the *exact* tokens against the decoded key."""
    from vqtalker.codec.decoder import render_frames
    from vqtalker.codec.pictures import decode_picture, encode_picture

    crops = _crops()
    data, stats = _encode(tiny_tok, crops, keyint_max=None)
    assert stats.frames == 40 and stats.keys == 1
    dec, out = _decode(tiny_tok, data)
    assert len(out) == 40 and dec.stats.held == 0
    key = decode_picture(encode_picture(crops[0], "webp", 40))
    np.testing.assert_array_equal(out[0], key)
    state = tiny_tok.encode_source(key)
    idx = tiny_tok.tokenize(crops[1:], state).numpy()
    want = render_frames(tiny_tok, state, idx, None, 64)
    np.testing.assert_array_equal(np.stack(out[1:]), want)


def test_codec_progressive_decoding(tiny_tok):
    data, _ = _encode(tiny_tok, _crops())
    dec_all, whole = _decode(tiny_tok, data)
    from vqtalker.codec.decoder import VQTDecoder

    dec = VQTDecoder(tiny_tok)
    got, first_at = [], None
    for i in range(0, len(data), 97):
        new = dec.feed(data[i : i + 97])
        if new and first_at is None:
            first_at = i + 97
        got += new
    got += dec.finish()
    last_packet = [c.offset for c in C.iter_chunks(data) if c.kind == C.TOKENS][-1]
    assert first_at is not None and first_at <= last_packet  # frames came out before the stream ended
    np.testing.assert_array_equal(np.stack(got), np.stack(whole))


def test_codec_keyint_and_layers(tiny_tok):
    crops = _crops(60)
    data, stats = _encode(tiny_tok, crops, keyint_max=1.0, max_layers=2)
    assert stats.keys == 3 and set(stats.layer_frames) == {2}
    _, out = _decode(tiny_tok, data)
    assert len(out) == 60
    for t in (25, 50):  # key pictures are shown as sent
        from vqtalker.codec.pictures import decode_picture, encode_picture

        np.testing.assert_array_equal(out[t], decode_picture(encode_picture(crops[t], "webp", 40)))


def test_codec_model_id_mismatch(tiny_tok):
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.tokenizer import MotionTokenizer

    data, _ = _encode(tiny_tok, _crops(12))
    torch.manual_seed(1)
    other = MotionTokenizer(build_generator(get_config("tiny-32+fullres64")))
    with pytest.raises(VQTalkerError, match="other stage-1 weights"):
        _decode(other, data)


def test_codec_damaged_packet_is_held_then_recovers(tiny_tok):
    crops = _crops(40)
    data, _ = _encode(tiny_tok, crops, keyint_max=None)
    _, clean = _decode(tiny_tok, data)
    chunks = list(C.iter_chunks(data))
    toks = [c for c in chunks if c.kind == C.TOKENS]
    victim = toks[1]  # frames 10..19; the coder restarts at the first packet >= 1 s later: frame 30
    bad = bytearray(data)
    bad[victim.offset + 20] ^= 0x55
    dec, out = _decode(tiny_tok, bytes(bad))
    assert len(out) == 40 and dec.stats.damaged == 1
    assert dec.stats.held == 20  # frames 10..29 (the packet and the one depending on it)
    for t in range(10, 30):
        np.testing.assert_array_equal(out[t], clean[9])
    np.testing.assert_array_equal(np.stack(out[30:]), np.stack(clean[30:]))
    np.testing.assert_array_equal(np.stack(out[:10]), np.stack(clean[:10]))


@pytest.fixture(scope="module")
def valid_stream(tiny_tok):
    return _encode(tiny_tok, _crops(30))[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_codec_fuzz_never_crashes(tiny_tok, valid_stream, data):
    """Random truncation and byte flips: decoding either raises the project's error or returns frames."""
    buf = bytearray(valid_stream)
    cut = data.draw(st.integers(0, len(buf)))
    buf = buf[:cut]
    for _ in range(data.draw(st.integers(0, 6))):
        if buf:
            i = data.draw(st.integers(0, len(buf) - 1))
            buf[i] = data.draw(st.integers(0, 255))
    try:
        dec, out = _decode(tiny_tok, bytes(buf), chunk=data.draw(st.sampled_from([None, 64, 1000])))
    except VQTalkerError:
        return
    assert len(out) <= 30 or dec.stats.damaged
    assert all(o.shape == (64, 64, 3) and o.dtype == np.uint8 for o in out)


# -- CLI ----------------------------------------------------------------------------------------------------
def test_cli_encode_decode_info(tmp_path, tiny_tok, capsys):
    from vqtalker.cli import main
    from vqtalker.io.video import is_tagged_synthetic, read_video, write_video

    src = tmp_path / "in.mp4"
    write_video(src, _crops(30), fps=25)
    w = tmp_path / "tiny.safetensors"
    tiny_tok.save_pretrained(w, dtype=torch.float32)
    out = tmp_path / "c.vqt"
    assert main(["encode", str(src), "-o", str(out), "--stage1", str(w), "--no-crop", "--size", "64",
                 "--key-format", "webp", "--keyint-max", "0.5", "--keyint-min", "0.1"]) == 0
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "30 frames" in text and "3 key pictures" in text and "kbps" in text  # frames 0, 13, 25
    back = tmp_path / "back.mp4"
    assert main(["decode", str(out), "-o", str(back), "--stage1", str(w)]) == 0
    v = read_video(back)
    assert v.num_frames == 30 and is_tagged_synthetic(back)


@pytest.mark.parametrize("content,msg", [(b"", "empty"), (b"GIF89a" + b"\0" * 40, "signature"),
                                         (C.PREAMBLE, "header")])
def test_cli_bad_vqt_one_line(tmp_path, tiny_tok, capsys, content, msg):
    from vqtalker.cli import main

    w = tmp_path / "tiny.safetensors"
    tiny_tok.save_pretrained(w, dtype=torch.float32)
    bad = tmp_path / "bad.vqt"
    bad.write_bytes(content)
    assert main(["decode", str(bad), "-o", str(tmp_path / "o.mp4"), "--stage1", str(w)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and msg in err[0]
    assert not (tmp_path / "o.mp4").exists()
    assert main(["info", str(bad)]) == 2


def test_eval_codec_suite_writes_a_resumable_report(tmp_path, tiny_tok):
    """`vqtalker eval codec` on a tiny prepared set: report files, copy-frame-0 and resume."""
    import json

    from test_generate_train import write_dataset

    from vqtalker.evaluation.codec import parse_setting, run_codec_eval

    data = tmp_path / "data"
    write_dataset(data, n_train=0, n_frames=30, size=64)
    logs = []
    rep = run_codec_eval(tiny_tok, data, tmp_path / "out", settings=["tokens", "kbps=8,q=20"], size=64,
                         baselines=[], log=logs.append)
    names = {(r["codec"], r["setting"]) for r in rep["averaged"]}
    assert names == {("vqtalker", "tokens"), ("vqtalker", "kbps=8,q=20"), ("copy-frame-0", "avif q40")}
    assert all(r["ssim_y"] is not None and r["kbps"] > 0 for r in rep["averaged"])
    for f in ("report.md", "report.json", "results.json", "rd_ssim_y.png"):
        assert (tmp_path / "out" / f).is_file()
    n = len(json.loads((tmp_path / "out" / "results.json").read_text())["per_clip"])
    logs.clear()
    run_codec_eval(tiny_tok, data, tmp_path / "out", settings=["tokens", "kbps=8,q=20"], size=64,
                   baselines=[], log=logs.append)
    assert len(json.loads((tmp_path / "out" / "results.json").read_text())["per_clip"]) == n
    assert all("kbps" not in m for m in logs)  # nothing recomputed
    with pytest.raises(VQTalkerError, match="--settings"):
        parse_setting("kbps=fast")


def test_eval_reconstruct_suite(tmp_path, tiny_tok):
    """`vqtalker eval reconstruct` on a tiny prepared set: per-clip entry, report tables, resume."""
    from test_generate_train import write_dataset

    from vqtalker.evaluation.reconstruction import run_reconstruction_eval

    data = tmp_path / "data"
    write_dataset(data, n_train=0, n_frames=20, size=64)
    logs = []
    rep = run_reconstruction_eval(tiny_tok, data, tmp_path / "out", baselines=[], log=logs.append)
    (clip,) = rep["clips"]
    assert clip["frames"] == 20 and 0 < clip["ssim"] <= 1 and clip["bitrate_kbps"] == pytest.approx(11.145,
                                                                                                    abs=1e-3)
    assert clip["luma"]["ssim_y"] is not None and len(clip["utilization_per_layer"]) == 4
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| **mean** | all |" in md and "perplexity per layer" in md
    logs.clear()
    run_reconstruction_eval(tiny_tok, data, tmp_path / "out", baselines=[], log=logs.append)
    assert logs == []  # resumed: nothing recomputed


def test_eval_animate_suite(tmp_path):
    """`vqtalker eval animate`, tiny seeded pipeline, tiny prepared set: entries, report, resume."""
    from test_generate_train import write_dataset
    from test_pipeline_regression import _pipeline

    from vqtalker.evaluation.animation import run_animate_eval

    data = tmp_path / "data"
    write_dataset(data, n_train=0, n_frames=25, size=32)
    pipe = _pipeline(tmp_path)
    logs = []
    rep = run_animate_eval(pipe, data, tmp_path / "out", size=32, log=logs.append)
    (clip,) = rep["clips"]
    assert clip["frames"] == 25 and clip["sharpness_ratio"] > 0 and "face_found" in clip
    assert "| **mean** | all |" in (tmp_path / "out" / "report.md").read_text()
    logs.clear()
    run_animate_eval(pipe, data, tmp_path / "out", size=32, log=logs.append)
    assert logs == []


def test_container_does_not_stall_on_a_damaged_length():
    """A bit flip in a length field (still under the 64-MiB cap) must not make a live reader wait for bytes
    that never come: the next valid chunk is returned as soon as it is complete."""
    data = bytearray(_stream())
    chunks = list(C.iter_chunks(bytes(data)))
    victim = chunks[2]
    data[victim.offset + 5] ^= 0x40  # length field: + 4 MiB
    r = C.ChunkReader()
    got = r.feed(bytes(data))  # everything arrived, but no finish(): a live stream
    assert sum(c.damaged for c in got) == 1
    assert [c.kind for c in got if not c.damaged] == [C.HEAD] + [C.TOKENS] * 4 + [C.END]


def test_key_picture_carries_its_mouth_level():
    payload = C.key_payload(75, "avif", b"PIC", mouth_level=17)
    assert C.parse_key(payload) == (75, "avif", 17, b"PIC")
