"""The mouth direction of the motion space and the stage-2 mouth-direction token loss."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from test_generate_train import (
    _synthetic_clip,
    install_stage1,
    parse,
    run,
    stage2_argv,
    tiny_stage1,
    write_dataset,
)

from vqtalker.face.landmarks import LIPS
from vqtalker.face.lips import MOUTH_OPEN_SCALE
from vqtalker.generate.config import make_config
from vqtalker.generate.data import ClipCache, WindowSampler
from vqtalker.generate.model import build_model
from vqtalker.motion.tokenizer import MotionTokenizer
from vqtalker.mouth.direction import (
    fit_mouth_direction,
    mouth_code_values,
    mouth_features,
    mouth_token_loss,
)
from vqtalker.solvers.stage2 import training_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def stage1():
    return MotionTokenizer(tiny_stage1(), frozen=True)


def _clip(quantizer, direction=None, n=48, seed=0) -> ClipCache:
    """A clip whose inner-lip gap is (when ``direction`` is given) an exact linear read-out of Δ̂."""
    clip = _synthetic_clip(n, seed)
    mouth = torch.full((n, 40, 2), 0.5)
    if direction is not None:
        with torch.no_grad():
            delta, _ = quantizer((clip.f - clip.f[:1]).unsqueeze(0))
        y = delta[0] @ direction
        mouth[:, LIPS.index(14), 1] = 0.5 + (y - y.min() + 0.1) / MOUTH_OPEN_SCALE
    return dataclasses.replace(clip, id=f"c{seed}", mouth=mouth)


def test_code_values_decompose_the_read_out(stage1):
    """direction · decode(idx) = Σ_{r,g} v[r, g, idx] + direction · decode(zero codes), for any indices."""
    q = stage1.quantizer
    direction = torch.randn(q.dim, generator=torch.Generator().manual_seed(1))
    v = mouth_code_values(q, direction)
    assert v.shape == (q.num_quantizers, q.groups, q.codebook_size)
    idx = torch.randint(0, q.codebook_size, (1, 7, q.num_quantizers, q.groups))
    zero = int((q.rfsq.fsq.implicit_codebook.abs().sum(-1) == 0).nonzero()[0, 0])
    bias = q.decode(torch.full_like(idx, zero)) @ direction
    parts = sum(v[r, torch.arange(q.groups), idx[..., r, :]].sum(-1) for r in range(q.num_quantizers))
    torch.testing.assert_close(q.decode(idx) @ direction, parts + bias, atol=1e-4, rtol=1e-4)


def test_fit_recovers_a_planted_mouth_direction(stage1):
    q = stage1.quantizer
    true = torch.randn(q.dim, generator=torch.Generator().manual_seed(2))
    clips = [_clip(q, true, seed=s) for s in range(3)]
    p, stats = fit_mouth_direction(q, clips[:2], clips[2:])
    assert stats["train_corr"] > 0.99 and stats["dev_corr"] > 0.95
    x, y = mouth_features(q, clips[2])
    assert float(np.corrcoef((x @ p).numpy(), y.numpy())[0, 1]) > 0.95
    # no mouth movement at all -> nothing to read out (constant target)
    flat_p, flat = fit_mouth_direction(q, [_clip(q)])
    assert np.isnan(flat["train_corr"]) and float(flat_p.abs().max()) < 1e-6
    with pytest.raises(ValueError):
        fit_mouth_direction(q, [])


def test_mouth_token_loss_is_zero_at_the_truth_and_has_gradient():
    g = torch.Generator().manual_seed(0)
    values = torch.randn(2, 3, 5, generator=g)  # [B, G, C]
    target = torch.randint(0, 5, (2, 4, 3), generator=g)
    mask = torch.ones(2, 4)
    exact = torch.nn.functional.one_hot(target, 5).float() * 60.0  # softmax ≈ one-hot at the targets
    assert float(mouth_token_loss(exact, target, values, mask)) < 1e-6
    logits = torch.zeros(2, 4, 3, 5, requires_grad=True)
    loss = mouth_token_loss(logits, target, values, mask)
    loss.backward()
    assert loss.item() > 0 and float(logits.grad.abs().sum()) > 0
    # masked frames do not count
    wrong = exact.clone()
    wrong[:, 3] = torch.roll(exact[:, 3], 1, dims=-1)
    mask[:, 3] = 0
    assert float(mouth_token_loss(wrong, target, values, mask)) < 1e-6


def test_training_loss_adds_the_mouth_term(stage1):
    q = stage1.quantizer
    clip = _clip(q, torch.randn(q.dim, generator=torch.Generator().manual_seed(3)))
    batch = WindowSampler([clip], window=16, seed=0).sample(2)
    kw = dict(speech_vocab=1024, face_dim=stage1.face_dim, dropout=0.0)
    values = mouth_code_values(q, torch.randn(q.dim))
    plain = build_model(make_config("tiny", **kw))
    _, stats = training_loss(plain, stage1, batch, torch.Generator().manual_seed(0), values)
    assert "mouth_tok" not in stats  # weight 0: off
    torch.manual_seed(0)
    model = build_model(make_config("tiny", mouth_token=2.0, **kw))
    loss, stats = training_loss(model, stage1, batch, torch.Generator().manual_seed(0), values)
    torch.manual_seed(0)
    ref = build_model(make_config("tiny", **kw))
    ce, _ = training_loss(ref, stage1, batch, torch.Generator().manual_seed(0))
    assert stats["mouth_tok"] > 0
    torch.testing.assert_close(loss, ce + 2.0 * stats["mouth_tok"], atol=1e-5, rtol=1e-5)


def test_train_with_mouth_token_records_the_direction(tmp_path):
    s1 = install_stage1(tmp_path)
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "run"
    extra = ["--steps", "2", "--eval-every", "100", "--warmup", "1", "--mouth-token", "1.0"]
    args = stage2_argv(s1, data, out, *extra)
    assert run(parse(args)) == 0
    rec = json.loads((out / "mouth_direction.json").read_text())
    assert len(rec["direction"]) == 120 and -1 <= rec["train_corr"] <= 1
    names = {r["name"] for r in csv.DictReader(open(out / "metrics.csv"))}
    assert "mouth_tok" in names
    with pytest.raises(Exception, match="token output"):
        run(parse(args[:-2] + ["--out", str(tmp_path / "c"), "--variant", "D-C", "--mouth-token", "1.0"]))
