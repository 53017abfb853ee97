"""Stage-1 trainer: a tiny model overfits one pair; resume after a crash continues the step count;
2-process gloo DDP keeps the replicas identical; tokenizer API and reconstruct CLI round trip."""

import csv
import json
import os

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from vqtalker.motion.config import get_config
from vqtalker.motion.losses import MissingWeightsError, VGG19Features, VGGPyramidLoss, generator_loss
from vqtalker.motion.model import build_generator
from vqtalker.motion.synthetic import SyntheticPairs
from vqtalker.solvers.stage1 import Stage1Options as TrainOptions
from vqtalker.solvers.stage1 import train_stage1

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _opts(tmp_path, **kw):
    base = dict(
        config="tiny-32",
        out=str(tmp_path / "run"),
        steps=4,
        batch_size=2,
        ckpt_every=2,
        eval_every=1000,
        log_every=1,
        threads=1,
        val_batches=1,
    )
    base.update(kw)
    return TrainOptions(**base)


def test_tiny_model_overfits_one_pair():
    torch.manual_seed(0)
    cfg = get_config("tiny-32", lambda_adv=0.0, lambda_perc=0.0, lambda_eye=10.0, lambda_mouth=10.0)
    g = build_generator(cfg)
    item = SyntheticPairs(1, 32)[0]
    src, tgt = item["source"][None], item["target"][None]
    eye, mouth = item["eye_mask"][None], item["mouth_mask"][None]
    opt = torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.5, 0.99))
    totals, l1s = [], []
    for _ in range(50):
        out = g(src, tgt)
        loss, parts = generator_loss(cfg, out["image"], tgt, eye, mouth)
        opt.zero_grad()
        loss.backward()
        opt.step()
        totals.append(float(loss.detach()))
        l1s.append(float(parts["l1"].detach()))
    assert np.mean(totals[-5:]) < 0.8 * np.mean(totals[:3]), totals
    assert np.mean(l1s[-5:]) < 0.6 * np.mean(l1s[:3]), l1s


class _Crashing(Dataset):
    """Raises after ``limit`` items: simulates a kill in the middle of a run."""

    def __init__(self, base, limit):
        self.base, self.limit, self.n = base, limit, 0

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        self.n += 1
        if self.n > self.limit:
            raise RuntimeError("simulated kill")
        return self.base[i]


def test_resume_after_crash_continues_step_count(tmp_path):
    from vqtalker.training.checkpoint import find_latest_checkpoint, load_checkpoint

    data = SyntheticPairs(8, 32)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train_stage1(_opts(tmp_path, steps=10), _Crashing(data, limit=2 * 3 + 1), log=lambda s: None)
    ckpt = find_latest_checkpoint(tmp_path / "run")
    assert ckpt is not None and ckpt.name == "step-00000002.safetensors"
    g_saved = build_generator(get_config("tiny-32"))
    load_checkpoint(ckpt, {"generator": g_saved})
    logs = []
    summary = train_stage1(_opts(tmp_path, steps=5), data, SyntheticPairs(4, 32, seed=1), log=logs.append)
    assert summary["start_step"] == 2 and summary["step"] == 5
    assert any("resumed from" in s for s in logs)
    assert find_latest_checkpoint(tmp_path / "run").name == "step-00000005.safetensors"
    with open(tmp_path / "run" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["split"] == "train" and r["name"] == "l1"]
    assert steps == [1, 2, 3, 4, 5]  # the crashed step 3 is not duplicated
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0
    assert (tmp_path / "run" / "generator-ema-fp16.safetensors").is_file()


def test_freeze_motion_keeps_tokens_and_trains_renderer(tmp_path):
    """--freeze-motion: after training from exported weights the encoder / motion MLP are bit-identical
    (so stage-1 tokens and f_g do not change) while the renderer moves."""
    from vqtalker.motion.weights import load_generator
    from vqtalker.motion.weights import save_generator as export_generator

    torch.manual_seed(0)
    g0 = build_generator(get_config("tiny-32"))
    export_generator(g0, tmp_path / "g0.safetensors", dtype=torch.float16)
    ref = load_generator(tmp_path / "g0.safetensors")
    data = SyntheticPairs(8, 32)
    logs = []
    train_stage1(
        _opts(tmp_path, steps=3, init=str(tmp_path / "g0.safetensors"), freeze_motion=True, reset_warp=(32,)),
        data,
        log=logs.append,
    )
    assert any("reset the warp head of renderer level 32" in s for s in logs)
    g1 = load_generator(tmp_path / "run" / "generator-ema-fp16.safetensors")
    for name in ("encoder", "motion_mlp", "quantizer"):
        a, b = getattr(ref, name).state_dict(), getattr(g1, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    r0, r1 = ref.renderer.state_dict(), g1.renderer.state_dict()
    assert any(not torch.equal(r0[k], r1[k]) for k in r0)
    item = data[0]
    with torch.no_grad():
        i0 = ref(item["source"][None], item["target"][None])["indices"]
        i1 = g1(item["source"][None], item["target"][None])["indices"]
    assert torch.equal(i0, i1)


def test_validation_writes_metrics_and_grid(tmp_path):
    summary = train_stage1(
        _opts(tmp_path, steps=2, eval_every=2),
        SyntheticPairs(8, 32),
        SyntheticPairs(4, 32, seed=1),
        log=lambda s: None,
    )
    assert summary["step"] == 2
    with open(tmp_path / "run" / "metrics.csv") as f:
        val = {r["name"]: float(r["value"]) for r in csv.DictReader(f) if r["split"] == "dev"}
    for k in ("ssim", "psnr", "util_l1", "util_l4"):
        assert k in val
    assert 0 < val["util_l1"] <= 1
    assert (tmp_path / "run" / "samples" / "step-00000002.png").is_file()


def _ddp_worker(rank, world, port, out):
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)

    from safetensors.torch import save_file

    from vqtalker.solvers.stage1 import Stage1Trainer
    from vqtalker.training import init_distributed

    ctx = init_distributed("cpu")
    opts = TrainOptions(
        config="tiny-32",
        out=out,
        steps=2,
        batch_size=2,
        ckpt_every=100,
        eval_every=1000,
        log_every=1,
        accum=2,
    )
    # different data per rank: only gradient averaging can keep the replicas equal
    trainer = Stage1Trainer(opts, SyntheticPairs(8, 32, seed=rank), None, ctx=ctx, log=lambda s: None)
    trainer.run()
    for name, module in (("G", trainer.G), ("D", trainer.D)):
        save_file(
            {k: v.detach().contiguous() for k, v in module.state_dict().items()},
            f"{out}/rank{rank}-{name}.safetensors",
        )
    ctx.cleanup()


def test_two_process_gloo_ddp_step(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "ddp")
    mp.spawn(_ddp_worker, args=(2, port, out), nprocs=2, join=True)
    summary = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert summary["step"] == 2
    from safetensors.torch import load_file

    torch.manual_seed(0)
    init = build_generator(get_config("tiny-32")).state_dict()  # the trainer seeds every rank with 0
    for name in ("G", "D"):
        a = load_file(f"{out}/rank0-{name}.safetensors")
        b = load_file(f"{out}/rank1-{name}.safetensors")
        # every replica holds the same parameters after the steps (gradients were averaged) ...
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # ... and they trained (not a no-op): the generator moved away from its initial weights
    g = load_file(f"{out}/rank0-G.safetensors")
    assert any(not torch.equal(g[k], init[k]) for k in init if g[k].is_floating_point())


def test_vgg_perceptual_requires_local_weights(tmp_path):
    with pytest.raises(MissingWeightsError):
        VGG19Features.from_file(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    ref = VGG19Features()
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "vgg.safetensors"))
    vgg = VGG19Features.from_file(tmp_path / "vgg.safetensors")
    loss = VGGPyramidLoss(vgg, scales=(1.0, 0.5))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert float(loss(x, x)) == 0.0
    assert float(loss(x, -x)) > 0.0


def test_warp_loss_is_zero_for_the_true_flow_and_reaches_every_flow_head():
    """--lambda warp: a photometric loss on every renderer level's flow (not in the paper)."""
    from vqtalker.motion.config import get_config
    from vqtalker.motion.losses import warp_loss
    from vqtalker.motion.model import build_generator
    from vqtalker.motion.ops import warp

    g = torch.Generator().manual_seed(0)
    src = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    offset = torch.zeros(2, 2, 16, 16)
    offset[:, 0] = 0.25  # a shift in x of 0.25 in normalised units (~1.9 px at 16 px)
    tgt = warp(src, offset)
    o = torch.zeros(2, 3, 16, 16)
    o[:, :2] = torch.atanh(offset)
    assert float(warp_loss({16: o}, src, tgt)) < 1e-6
    assert float(warp_loss({16: torch.zeros(2, 3, 16, 16)}, src, tgt)) > 0.01
    torch.manual_seed(0)
    G = build_generator(get_config("tiny-32"))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    aux = {"flows": {}}
    G(x, x.flip(-1), aux=aux)
    assert sorted(aux["flows"]) == sorted(G.cfg.resolutions) and "mask_32" in aux
    warp_loss(aux["flows"], x, x.flip(-1)).backward()
    for res in G.cfg.resolutions:
        head = G.renderer.levels[str(res)].to_flow
        assert head.bias.grad is not None and float(head.bias.grad.abs().sum()) > 0, res
    with pytest.raises(ValueError):
        warp_loss({}, x, x)
