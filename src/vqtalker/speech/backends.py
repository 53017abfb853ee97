"""Built-in speech tokenizers that need no external weights file.

* :class:`KMeansSpeechTokenizer` (``default``): CMVN log-mel, 2 frames stacked (50 Hz, 256-d), nearest
  centre of a k-means codebook trained here (``vqtalker train speech``); weights shipped as
  ``vqtalker/weights/speech/default.safetensors``.
* :class:`LogMelFeatures` (``logmel``): the continuous ablation (paper Table 4). ``encode_features``
  returns the log-mel frames at 50 Hz as ``[N, 128]`` (pairs of 100 fps frames averaged, no CMVN, the
  Whisper scaling ``(log10 + 4) / 4``); ``is_discrete = False``.
* :class:`HashSpeechTokenizer` (``hash``): a deterministic, weight-free locality-sensitive hash (signs of
  fixed random projections of the 50 Hz CMVN features) — a stand-in for tests of later stages and a
  "random codebook" baseline for the probe.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from vqtalker.errors import VQTalkerError
from vqtalker.speech.base import SpeechTokenizer
from vqtalker.speech.features import FeatureConfig, FrameFeaturizer
from vqtalker.speech.kmeans import assign
from vqtalker.speech.mel import LogMel

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "speech" / "default.safetensors"
FORMAT = "vqtalker-speech-kmeans"


class KMeansSpeechTokenizer(SpeechTokenizer):
    """CMVN log-mel (50 Hz, 256-d) → nearest of ``K`` centroids → ``LongTensor [N]`` in ``[0, K)``."""

    name = "default"

    def __init__(
        self, centroids: torch.Tensor, config: FeatureConfig = FeatureConfig(), name: str = "default"
    ):
        if centroids.dim() != 2 or centroids.shape[1] != config.dim:
            raise VQTalkerError(
                f"codebook shape {tuple(centroids.shape)} does not match the feature size {config.dim}"
            )
        self.name = name
        self.config = config
        self.centroids = centroids.float().contiguous()
        self.vocab_size = int(centroids.shape[0])
        self.rate_hz = config.rate_hz
        self.featurizer = FrameFeaturizer(config)

    def _encode_16k(self, wave: np.ndarray) -> torch.Tensor:
        feats = self.featurizer(wave)
        return assign(feats, self.centroids)[0].long()

    # -- persistence -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, extra_metadata: dict[str, str] | None = None) -> Path:
        """Write the codebook as fp16 safetensors (atomically) with the feature config in the metadata
        (:mod:`vqtalker.io.weights`, format ``vqtalker-speech-kmeans``)."""
        from vqtalker.io.weights import save_weights

        meta = {"rate_hz": str(self.rate_hz), **self.config.to_metadata(), **(extra_metadata or {})}
        return save_weights(path, {"centroids": self.centroids}, format=FORMAT, metadata=meta,
                            dtype=torch.float16)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> KMeansSpeechTokenizer:
        """Load a codebook written by :meth:`save` (default: the shipped ``default.safetensors``)."""
        from vqtalker.io.weights import load_weights

        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        hint = "train one with `vqtalker train speech --out DIR` and pass DIR/default.safetensors"
        tensors, meta = load_weights(path, FORMAT, "speech codebook", hint)
        if "centroids" not in tensors:
            raise VQTalkerError(f"{path} is not a vqtalker speech codebook (no centroids)")
        return cls(tensors["centroids"].float(), FeatureConfig.from_metadata(meta))


class LogMelFeatures(SpeechTokenizer):
    """Continuous backend: Whisper log-mel at 50 Hz, ``encode_features(wave, sr) -> FloatTensor [N, 128]``."""

    name = "logmel"
    is_discrete = False
    vocab_size = 0

    def __init__(self, n_mels: int = 128):
        from vqtalker.speech.mel import LogMelConfig

        self.feature_dim = n_mels
        self.rate_hz = 50.0
        self.logmel = LogMel(LogMelConfig(n_mels=n_mels))

    def _encode_16k(self, wave: np.ndarray) -> torch.Tensor:
        mel = self.logmel(torch.from_numpy(wave))  # [F, 128] at 100 fps
        n = mel.shape[0] // 2
        return mel[: 2 * n].reshape(n, 2, self.feature_dim).mean(dim=1)  # [N, 128] at 50 Hz


class HashSpeechTokenizer(SpeechTokenizer):
    """Deterministic weight-free tokens: ``bits`` sign bits of random projections → ``2**bits`` codes."""

    name = "hash"

    def __init__(self, bits: int = 10, seed: int = 1234):
        if not 1 <= bits <= 16:
            raise VQTalkerError("hash tokenizer: bits must be in 1..16")
        self.config = FeatureConfig()
        self.featurizer = FrameFeaturizer(self.config)
        g = torch.Generator().manual_seed(seed)
        self.projection = torch.randn(self.config.dim, bits, generator=g)
        self.powers = 2 ** torch.arange(bits)
        self.vocab_size = 2**bits
        self.rate_hz = self.config.rate_hz

    def _encode_16k(self, wave: np.ndarray) -> torch.Tensor:
        feats = self.featurizer(wave)
        bits = (feats @ self.projection > 0).long()
        return (bits * self.powers).sum(dim=1)


def describe(tokenizer: SpeechTokenizer) -> str:
    """One-line JSON description (name, rate, vocabulary/feature size) for CLIs and logs."""
    return json.dumps(
        {
            "name": tokenizer.name,
            "rate_hz": tokenizer.rate_hz,
            "discrete": tokenizer.is_discrete,
            "vocab_size": tokenizer.vocab_size,
            "feature_dim": tokenizer.feature_dim,
        }
    )
