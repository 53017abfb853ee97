"""Stage-2 training on a tiny synthetic prepared dataset with a tiny random stage-1 model (CPU, seconds)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from vqtalker.cli import main as cli_main
from vqtalker.evaluation.tokens import token_metrics
from vqtalker.generate.config import make_config
from vqtalker.generate.data import ClipCache, WindowSampler, eval_windows
from vqtalker.generate.model import build_model
from vqtalker.motion.tokenizer import MotionTokenizer
from vqtalker.solvers.stage2 import lr_at, training_loss


def tiny_stage1():
    from vqtalker.motion.config import get_config
    from vqtalker.motion.model import build_generator

    torch.manual_seed(0)
    return build_generator(get_config("tiny-32"))


def install_stage1(tmp_path, monkeypatch=None):
    """Export a tiny random stage-1 generator (fp32) as a weights file."""
    from vqtalker.motion.weights import save_generator as export_generator

    return export_generator(tiny_stage1(), tmp_path / "stage1.safetensors", dtype=torch.float32)


def write_dataset(root, n_train=2, n_frames=60, size=32, seed=0):
    """A prepared-dataset folder (layout of vqtalker.data.layout) with moving synthetic blobs and tones."""
    from vqtalker.data.layout import write_index

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i, split in enumerate(["train"] * n_train + ["dev"]):
        cid = f"clip{i}"
        d = root / split / cid
        d.mkdir(parents=True)
        t = np.arange(n_frames) / 25.0
        phase = rng.uniform(0, 6)
        cx = 0.5 + 0.15 * np.sin(2 * np.pi * 0.7 * t + phase)
        frames = np.exp(-((xx[None] - cx[:, None, None]) ** 2 + (yy[None] - 0.5) ** 2) / 0.02)
        frames = (np.stack([frames, frames[:, ::-1], 1 - frames], -1) * 255).astype(np.uint8)
        np.save(d / "frames.npy", frames)
        np.save(d / "landmarks.npy", rng.uniform(0, size, (n_frames, 478, 3)).astype(np.float32))
        np.save(d / "pose.npy", rng.normal(0, 5, (n_frames, 3)).astype(np.float32))
        np.save(d / "gaze.npy", rng.normal(0, 0.1, (n_frames, 2)).astype(np.float32))
        np.save(d / "blink.npy", rng.uniform(0.2, 0.3, (n_frames, 2)).astype(np.float32))
        np.save(d / "regions.npy", np.zeros((n_frames, 3, 4), np.float32))
        ts = np.arange(n_frames * 640) / 16000
        wave = 0.3 * np.sin(2 * np.pi * (200 + 100 * np.sin(2 * np.pi * 0.7 * ts + phase)) * ts)
        sf.write(d / "audio.wav", wave.astype(np.float32), 16000, subtype="PCM_16")
        (d / "meta.json").write_text(
            json.dumps({"id": cid, "split": split, "num_frames": n_frames, "size": size, "has_audio": True})
        )
    write_index(root)
    return root


def stage2_argv(stage1, data, out, *extra) -> list[str]:
    """``vqtalker train stage2`` arguments for a tiny run on :func:`write_dataset` data."""
    return [
        "--stage1", str(stage1), "--speech-tokenizer", "hash", "--data", str(data), "--out", str(out),
        "--preset", "tiny", "--window", "24", "--batch-size", "2", "--log-every", "1", "--no-plot", *extra,
    ]  # fmt: skip


def parse(argv):
    return list(argv)


def run(argv) -> int:
    """``vqtalker train stage2 ARGV`` (``--debug``: errors propagate as exceptions)."""
    return cli_main(["--debug", "train", "stage2", *argv])


def test_train_resume_and_outputs(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    s1 = install_stage1(tmp_path, monkeypatch)
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "run"
    base = stage2_argv(s1, data, out, "--ckpt-every", "3", "--eval-every", "3", "--warmup", "2")
    assert run(parse(base + ["--steps", "6"])) == 0
    ckpts = sorted(p.name for p in out.glob("step-*.safetensors"))
    assert ckpts == ["step-00000003.safetensors", "step-00000006.safetensors"]
    assert (out / "stage2.safetensors").is_file() and (out / "metrics.csv").is_file()
    assert len(list((out / "cache" / "train").glob("*.safetensors"))) == 2
    # resume: continues at step 6, does not repeat steps in the CSV
    assert run(parse(base + ["--steps", "9"])) == 0
    assert "resumed from step-00000006.safetensors at step 6" in (out / "train.log").read_text()
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    train_steps = [int(r["step"]) for r in rows if r["split"] == "train" and r["name"] == "loss"]
    assert train_steps == list(range(1, 10))
    dev_names = {r["name"] for r in rows if r["split"] == "dev"}
    assert {"acc_tf_r0", "acc_tf_r3", "acc_gen_r0", "motion_l1", "motion_l1_static", "ce"} <= dev_names
    from vqtalker.generate.checkpoint import load_stage2

    model, meta = load_stage2(out / "stage2.safetensors")
    assert meta["step"] == "9" and meta["speech_tokenizer"] == "hash"
    assert model.cfg.face_dim == 128 and model.cfg.speech_vocab == 1024
    # a wall-time budget stops early with a checkpoint (here: after one more step)
    assert run(parse(base + ["--steps", "50", "--max-minutes", "1e-6"])) == 0
    assert (out / "step-00000010.safetensors").is_file()
    assert json.loads((out / "run.json").read_text())["step"] == 10


def test_train_rejects_variant_tokenizer_mismatch(tmp_path, monkeypatch):
    from vqtalker.errors import VQTalkerError

    s1 = install_stage1(tmp_path, monkeypatch)
    data = write_dataset(tmp_path / "data", n_train=1, n_frames=20)
    with pytest.raises(VQTalkerError, match="continuous"):
        run(
            parse(
                [
                    "--stage1",
                    str(s1),
                    "--speech-tokenizer",
                    "hash",
                    "--variant",
                    "C-D",
                    "--data",
                    str(data),
                    "--out",
                    str(tmp_path / "r"),
                    "--preset",
                    "tiny",
                    "--steps",
                    "1",
                ]
            )
        )


def _synthetic_clip(n=32, seed=0) -> ClipCache:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n).float()[:, None]
    f = torch.sin(t / 3 + torch.randn(1, 120, generator=g) * 3) * 1.5
    return ClipCache(
        id="c",
        split="train",
        f_g=torch.randn(n, 128, generator=g),
        f=f,
        units=torch.randint(0, 64, (2 * n,), generator=g),
        pose=torch.zeros(n, 3),
        gaze=torch.zeros(n, 2),
        blink=torch.full((n, 2), 0.3),
        mouth=torch.zeros(n, 40, 2),
    )


def test_tiny_model_overfits_one_clip():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    stage1 = MotionTokenizer(tiny_stage1(), frozen=True)
    clip = _synthetic_clip()
    cfg = make_config(
        "tiny",
        speech_vocab=64,
        face_dim=128,
        d_model=64,
        ffn=128,
        n_heads=4,
        n_layers=2,
        dropout=0.0,
        max_len=64,
    )
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr_at(0, 3e-3, 0, 1), weight_decay=0.0)
    sampler = WindowSampler([clip], window=32, seed=0)
    batch = sampler.sample(4)  # the one window of the clip, 4 times (reference = first frame)
    gen = torch.Generator().manual_seed(0)
    before = token_metrics(model, stage1, eval_windows([clip], 32))
    for _ in range(150):
        model.train()
        loss, _ = training_loss(model, stage1, batch, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = token_metrics(model, stage1, eval_windows([clip], 32))
    assert before["acc_tf"] < 0.2
    for r in range(4):
        assert after[f"acc_tf_r{r}"] > 0.95, after
    assert after["acc_gen_r3"] > 0.9
    # generated motion matches the detokenised ground truth, far below holding the reference frame
    assert after["motion_l1"] < 0.05 * after["motion_l1_static"]
    assert before["motion_l1"] > 0.2 * before["motion_l1_static"]


def test_window_sampler_reference_and_padding():
    clip = _synthetic_clip(n=30)
    first = WindowSampler([clip], window=12, seed=1).sample(16)
    # reference = first frame of the window: the target difference is zero there
    torch.testing.assert_close(first.f[:, 0], first.f_ref)
    rnd = WindowSampler([clip], window=12, random_reference=True, seed=1).sample(32)
    in_window = (rnd.f == rnd.f_ref[:, None]).all(-1)
    assert bool(in_window.any(1).all()) and not bool(in_window[:, 0].all())
    long = WindowSampler([clip], window=40, seed=0).sample(2)  # clip shorter than the window: padded + masked
    assert long.units.shape == (2, 80) and long.mask.sum(1).tolist() == [30, 30]
    assert float(long.f[:, 30:].abs().sum()) == 0.0


def test_mouth_aux_loss_trains_the_mouth_head():
    """--mouth-aux: the loss gains a mouth-opening term whose gradient reaches the mouth head (off by
    default)."""
    from vqtalker.face.lips import MOUTH_OPEN_SCALE, mouth_open

    stage1 = MotionTokenizer(tiny_stage1(), frozen=True)
    clip = _synthetic_clip()
    pts = clip.mouth[:5].numpy()
    pts = pts + np.random.default_rng(0).uniform(0, 0.05, pts.shape).astype(np.float32)
    np.testing.assert_allclose(mouth_open(torch.from_numpy(pts)).numpy(), mouth_open(pts), rtol=1e-5)
    batch = WindowSampler([clip], window=16, seed=0).sample(2)
    kw = dict(speech_vocab=1024, face_dim=stage1.face_dim, dropout=0.0)
    plain = build_model(make_config("tiny", **kw))
    _, stats = training_loss(plain, stage1, batch, torch.Generator().manual_seed(0))
    assert "mouth_l1" not in stats and not hasattr(plain, "mouth_head")
    model = build_model(make_config("tiny", mouth_aux=1.0, **kw))
    loss, stats = training_loss(model, stage1, batch, torch.Generator().manual_seed(0))
    assert stats["mouth_l1"] > 0 and MOUTH_OPEN_SCALE > 1
    loss.backward()
    assert model.mouth_head.weight.grad is not None and model.mouth_head.weight.grad.abs().sum() > 0
