"""`vqtalker train speech` on a tiny synthetic set: trains, checkpoints, resumes to the same result."""

from __future__ import annotations

import shutil

import torch

from vqtalker.cli import main
from vqtalker.speech import load_speech_tokenizer
from vqtalker.training.checkpoint import find_latest_checkpoint, load_checkpoint


def _run(out, *extra) -> int:
    return main(
        ["--debug", "train", "speech", "--out", str(out), "--languages", "en,sw", "--synthetic-seconds", "4",
         "--codes", "16", "--steps", "12", "--batch-size", "256", "--ckpt-every", "4", "--data", "", *extra]
    )  # fmt: skip


def test_train_and_resume_match_uninterrupted(tmp_path):
    part, full = tmp_path / "part", tmp_path / "full"
    assert _run(part, "--stop-after", "8") == 0  # "killed" after step 8
    assert not (part / "default.safetensors").exists()
    assert load_checkpoint(find_latest_checkpoint(part))["step"] == 8
    # espeak-ng audio varies slightly between calls, so the reference run reuses the same feature cache
    shutil.copytree(part / "cache", full / "cache")
    assert _run(full) == 0
    ref = load_speech_tokenizer("default", path=str(full / "default.safetensors"))
    assert ref.vocab_size == 16

    assert _run(part) == 0  # resumes from the checkpoint and finishes
    assert "resumed from" in (part / "train.log").read_text()
    res = load_speech_tokenizer("default", path=str(part / "default.safetensors"))
    assert torch.equal(ref.centroids, res.centroids)
    assert (part / "train_stats.json").is_file()
