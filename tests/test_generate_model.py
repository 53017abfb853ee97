"""Stage-2 model and coarse-to-fine inference on tiny random models (fast, CPU, fixed seeds)."""

from __future__ import annotations

import pytest
import torch

from vqtalker.generate.config import Stage2Config, make_config
from vqtalker.generate.inference import (
    coarse_to_fine,
    crossfade_weights,
    generate_motion,
    sample_tokens,
    window_starts,
)
from vqtalker.generate.model import build_model

VOCAB = 64


def tiny(variant: str = "D-D", **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = make_config("tiny", variant, speech_vocab=VOCAB, face_dim=16, audio_dim=8, **kw)
    return build_model(cfg).eval()


def inputs(b: int = 2, t: int = 12, continuous_audio: bool = False, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    audio = (
        torch.randn(b, 2 * t, 8, generator=g)
        if continuous_audio
        else torch.randint(0, VOCAB, (b, 2 * t), generator=g)
    )
    pose = torch.randn(b, t, 3, generator=g) * 20
    gaze = torch.randn(b, t, 2, generator=g) * 0.1
    blink = torch.rand(b, t, 2, generator=g)
    f_g = torch.randn(b, 16, generator=g)
    return audio, pose, gaze, blink, f_g


def test_logits_shape_and_padding_mask():
    m = tiny()
    audio, pose, gaze, blink, f_g = inputs()
    tokens = torch.randint(0, 625, (2, 12, 4, 12))
    out = m(audio, pose, gaze, blink, f_g, tokens, torch.tensor([0, 3]))
    assert out.shape == (2, 12, 12, 625)
    # padded frames must not influence valid frames
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[:, 8:] = False
    a = m(audio, pose, gaze, blink, f_g, tokens, 1, mask)[:, :8]
    pose2 = pose.clone()
    pose2[:, 8:] += 50.0
    b = m(audio, pose2, gaze, blink, f_g, tokens, 1, mask)[:, :8]
    torch.testing.assert_close(a, b)


def test_paper_config_shape_and_count():
    cfg = make_config("paper")
    assert (cfg.n_layers, cfg.d_model, cfg.max_len) == (12, 1024, 4096)
    with torch.device("meta"):
        m = build_model(cfg)
    assert m.num_parameters() == 165_570_124


def test_r0_uses_zero_condition():
    m = tiny()
    audio, pose, gaze, blink, f_g = inputs()
    t1 = torch.randint(0, 625, (2, 12, 4, 12))
    t2 = torch.randint(0, 625, (2, 12, 4, 12))
    x1 = m.build_inputs(audio, pose, gaze, blink, f_g, t1, 0)
    x2 = m.build_inputs(audio, pose, gaze, blink, f_g, t2, 0)
    sl = slice(16 + 7, 16 + 7 + 12 * 4)  # R_{r-1} block of the concatenation
    assert torch.count_nonzero(x1[..., sl]) == 0
    torch.testing.assert_close(x1, x2)
    assert torch.equal(m(audio, pose, gaze, blink, f_g, None, 0), m(audio, pose, gaze, blink, f_g, t1, 0))
    # for r > 0 the previous layer (and only that one, prev_cond="last") matters
    y1 = m(audio, pose, gaze, blink, f_g, t1, 2)
    t3 = t1.clone()
    t3[:, :, 0] = t2[:, :, 0]
    t3[:, :, 2:] = t2[:, :, 2:]
    assert torch.equal(y1, m(audio, pose, gaze, blink, f_g, t3, 2))
    t4 = t1.clone()
    t4[:, :, 1] = t2[:, :, 1]
    assert not torch.allclose(y1, m(audio, pose, gaze, blink, f_g, t4, 2))


def test_prev_cond_all_sums_lower_layers():
    m = tiny(prev_cond="all")
    audio, pose, gaze, blink, f_g = inputs()
    t1 = torch.randint(0, 625, (2, 12, 4, 12))
    t2 = t1.clone()
    t2[:, :, 0] = (t1[:, :, 0] + 1) % 625
    assert not torch.allclose(
        m(audio, pose, gaze, blink, f_g, t1, 2), m(audio, pose, gaze, blink, f_g, t2, 2)
    )
    assert torch.equal(m(audio, pose, gaze, blink, f_g, t1, 0), m(audio, pose, gaze, blink, f_g, t2, 0))


def test_exactly_four_passes_coarse_to_fine():
    m = tiny()
    calls = []
    orig = m.forward

    def counting(*args, **kwargs):
        calls.append(args[6] if len(args) > 6 else kwargs.get("layer"))
        return orig(*args, **kwargs)

    m.forward = counting
    tok = coarse_to_fine(m, *inputs())
    assert tok.shape == (2, 12, 4, 12) and tok.dtype == torch.long
    assert calls == [0, 1, 2, 3]
    assert int(tok.min()) >= 0 and int(tok.max()) < 625


def test_seeded_sampling_deterministic_and_seed_dependent():
    m = tiny()
    x = inputs()
    a = coarse_to_fine(m, *x, temperature=1.0, top_k=50, generator=torch.Generator().manual_seed(1))
    b = coarse_to_fine(m, *x, temperature=1.0, top_k=50, generator=torch.Generator().manual_seed(1))
    c = coarse_to_fine(m, *x, temperature=1.0, top_k=50, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    greedy = coarse_to_fine(m, *x)
    assert torch.equal(greedy, coarse_to_fine(m, *x))


def test_top_k_restricts_support():
    logits = torch.randn(50, 625)
    top = logits.topk(3, dim=-1).indices
    s = sample_tokens(logits, temperature=5.0, top_k=3, generator=torch.Generator().manual_seed(0))
    assert bool((top == s[:, None]).any(dim=1).all())
    assert torch.equal(sample_tokens(logits), logits.argmax(-1))


@pytest.mark.parametrize("variant", ["C-D", "D-C", "C-C"])
def test_ablation_variants(variant):
    m = tiny(variant)
    cont = variant.startswith("C")
    x = inputs(continuous_audio=cont)
    if variant.endswith("C"):
        out = m(*x)
        assert out.shape == (2, 12, 120)
    else:
        assert m(*x).shape == (2, 12, 12, 625)
    assert m.cfg.n_passes == (1 if variant.endswith("C") else 4)


def test_audio_pair_downsampling_and_alignment():
    m = tiny(audio_downsample="pair")
    audio, pose, gaze, blink, f_g = inputs(t=10)
    short = audio[:, :15]  # shorter than 2T: padded; longer: truncated
    assert m(short, pose, gaze, blink, f_g).shape == (2, 10, 12, 625)
    long = torch.cat([audio, audio], 1)
    torch.testing.assert_close(m(long, pose, gaze, blink, f_g), m(audio, pose, gaze, blink, f_g))


def test_config_validation_and_roundtrip():
    cfg = make_config("lite", "C-C", audio_dim=128)
    assert Stage2Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        Stage2Config(prev_cond="bogus")
    with pytest.raises(ValueError):
        make_config("huge")


def test_window_starts_cover_everything():
    for n in (1, 40, 41, 100, 257):
        st = window_starts(n, 40, 10)
        covered = torch.zeros(n, dtype=torch.bool)
        for s in st:
            covered[s : s + 40] = True
            assert s + 40 <= max(n, 40)
        assert bool(covered.all())
    w = crossfade_weights(10, 3, 3)
    assert float(w.min()) > 0 and float(w.max()) == 1.0


def _smooth_detok(tokens: torch.Tensor) -> torch.Tensor:
    # a stand-in stage-1 decoder: motion = a smooth function of the coarse tokens
    return tokens[:, 0].float().repeat(1, 10) / 625.0


def test_window_seams_are_continuous():
    """Blended long generation: seam steps stay within the range of within-window steps (no jump)."""
    m = tiny()
    t_total, window, overlap = 100, 40, 16
    audio, pose, gaze, blink, f_g = (x[0] for x in inputs(b=1, t=t_total, seed=3))
    # windows see different positions, so they disagree where they overlap: a hard cut would jump
    res = generate_motion(m, audio, pose, gaze, blink, f_g, _smooth_detok, window=window, overlap=overlap)
    assert res.motion.shape == (t_total, 120) and res.tokens.shape == (t_total, 4, 12)
    starts = window_starts(t_total, window, overlap)
    wins, within = [], 0.0
    for s in starts:
        tok = coarse_to_fine(
            m,
            audio[2 * s : 2 * (s + window)][None],
            pose[None, s : s + window],
            gaze[None, s : s + window],
            blink[None, s : s + window],
            f_g[None],
        )[0]
        mot = _smooth_detok(tok)
        wins.append((s, mot))
        within = max(within, float((mot[1:] - mot[:-1]).abs().max()))
    # windows are generated independently: the blend equals the window output outside overlaps
    s1, m1 = wins[1]
    torch.testing.assert_close(
        res.motion[s1 + overlap : s1 + window - overlap], m1[overlap : window - overlap]
    )
    steps = (res.motion[1:] - res.motion[:-1]).abs().max(dim=1).values
    # bound: a convex cross-fade adds at most |a - b| / (overlap + 1) per step on top of the within steps
    gap = max(
        float(
            (
                wins[i][1][wins[i + 1][0] - wins[i][0] :]
                - wins[i + 1][1][: window - (wins[i + 1][0] - wins[i][0])]
            )
            .abs()
            .max()
        )
        for i in range(len(wins) - 1)
    )
    assert float(steps.max()) <= within + gap / (overlap + 1) + 1e-5
    # and the hard cut would have been a bigger jump than the blended seam
    s0, m0 = wins[0]
    cut = float((m1[overlap // 2] - m0[s1 - s0 + overlap // 2 - 1]).abs().max())
    assert float(steps[s1 : s1 + overlap].max()) <= max(within, cut) + 1e-5


def test_long_generation_never_exceeds_window():
    m = tiny()
    seen = []
    orig = m.forward

    def spy(*args, **kwargs):
        seen.append(args[1].shape[1])
        return orig(*args, **kwargs)

    m.forward = spy
    audio, pose, gaze, blink, f_g = (x[0] for x in inputs(b=1, t=150, seed=4))
    res = generate_motion(m, audio, pose, gaze, blink, f_g, _smooth_detok, window=48, overlap=8)
    assert max(seen) == 48 and len(seen) == 4 * len(window_starts(150, 48, 8))
    assert res.motion.shape == (150, 120)
    # the same seed gives the same sampled long generation
    kw = dict(window=48, overlap=8, temperature=1.0, top_k=20)
    r1 = generate_motion(
        m, audio, pose, gaze, blink, f_g, _smooth_detok, generator=torch.Generator().manual_seed(5), **kw
    )
    r2 = generate_motion(
        m, audio, pose, gaze, blink, f_g, _smooth_detok, generator=torch.Generator().manual_seed(5), **kw
    )
    assert torch.equal(r1.tokens, r2.tokens)


def test_continuous_output_generation():
    m = tiny("C-C")
    audio, pose, gaze, blink, f_g = (x[0] for x in inputs(b=1, t=90, continuous_audio=True))
    res = generate_motion(m, audio, pose, gaze, blink, f_g, None, window=40, overlap=10)
    assert res.tokens is None and res.motion.shape == (90, 120)


def test_per_group_mlp_heads_train():
    m = tiny(head_hidden=8).train()
    audio, pose, gaze, blink, f_g = inputs()
    out = m(audio, pose, gaze, blink, f_g)
    assert out.shape == (2, 12, 12, 625)
    out.logsumexp(-1).mean().backward()
    assert m.head_w.grad is not None and float(m.head_w.grad.abs().sum()) > 0
    # the 12 groups have their own head weights: changing group 3's weights changes only group 3's logits
    with torch.no_grad():
        m.eval()
        before = m(audio, pose, gaze, blink, f_g)
        m.head_w[3] += 1.0
        after = m(audio, pose, gaze, blink, f_g)
    changed = (before - after).abs().amax(dim=(0, 1, 3)) > 0
    assert changed.tolist() == [g == 3 for g in range(12)]


def test_face_dropout_only_in_training():
    """face_dropout = 1: in training the output ignores f_g; in eval mode f_g is used."""
    m = tiny(face_dropout=1.0, dropout=0.0)
    audio, pose, gaze, blink, f_g = inputs()
    other = torch.randn_like(f_g) * 3
    with torch.no_grad():
        assert not torch.allclose(m(audio, pose, gaze, blink, f_g), m(audio, pose, gaze, blink, other))
        m.train()
        torch.testing.assert_close(m(audio, pose, gaze, blink, f_g), m(audio, pose, gaze, blink, other))
    with pytest.raises(ValueError, match="face_dropout"):
        make_config("tiny", face_dropout=1.5)


def test_relative_pose_input():
    """pose_input="both": the output depends on the reference pose; by default the window's first frame."""
    m = tiny(pose_input="both")
    audio, pose, gaze, blink, f_g = inputs()
    assert m.input_dim == tiny().input_dim + 3
    with torch.no_grad():
        a = m(audio, pose, gaze, blink, f_g)
        b = m(audio, pose, gaze, blink, f_g, pose_ref=pose[:, 0])
        c = m(audio, pose, gaze, blink, f_g, pose_ref=pose[:, 0] + 20.0)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
