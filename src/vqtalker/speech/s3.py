"""CosyVoice S3Tokenizer v1 backend (``s3``): 4096 codes at 50 Hz, weights from a **local** ONNX file only.

The paper's speech tokens. The architecture comes from the ``s3tokenizer`` package (Whisper-style
encoder: 2 convolutions, the second with stride 2 → 50 Hz, 6 transformer blocks of width 1280, then a
nearest-neighbour codebook of 4096 L2-normalised codes). Its input is the same 128-bin log-mel as
:mod:`vqtalker.speech.mel`.

Weights: ``speech_tokenizer_v1.onnx`` from the CosyVoice-300M release on ModelScope
(https://www.modelscope.cn/models/iic/CosyVoice-300M, file ``speech_tokenizer_v1.onnx``). Download it
yourself and pass ``path=`` / ``--s3-onnx`` or set ``VQTALKER_S3_ONNX``. Nothing here ever downloads.

``s3tokenizer`` imports ``torchaudio`` at module level but only uses it to read files; torchaudio cannot be
installed next to CPU torch 2.13 here, so a stub module is registered when (and only when) torchaudio is
missing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

from vqtalker.errors import MissingWeightsError, VQTalkerError
from vqtalker.speech.base import SpeechTokenizer
from vqtalker.speech.mel import LogMel

ENV_VAR = "VQTALKER_S3_ONNX"
MODEL_NAME = "speech_tokenizer_v1"
HOW_TO_GET = (
    "download speech_tokenizer_v1.onnx from the CosyVoice-300M model on ModelScope "
    "(https://www.modelscope.cn/models/iic/CosyVoice-300M) and pass its path (--s3-onnx PATH) "
    f"or set {ENV_VAR}=PATH"
)


def import_s3tokenizer():
    """Import ``s3tokenizer`` (registering a ``torchaudio`` stub only if torchaudio is not installed)."""
    if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None:
        stub = types.ModuleType("torchaudio")
        stub.__doc__ = "vqtalker stub: torchaudio is not installed; s3tokenizer only needs it to read files"
        sys.modules["torchaudio"] = stub
    try:
        import s3tokenizer
        from s3tokenizer.model import ModelConfig, S3Tokenizer
    except ImportError as exc:
        raise VQTalkerError(
            "the s3 speech tokenizer needs `pip install --no-deps s3tokenizer==0.3.0 onnx einops tqdm`"
        ) from exc
    return s3tokenizer, ModelConfig, S3Tokenizer


def resolve_onnx_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` or ``$VQTALKER_S3_ONNX``; raise :class:`MissingWeightsError` if neither names a file."""
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if not chosen:
        raise MissingWeightsError(f"the s3 speech tokenizer needs local weights: {HOW_TO_GET}")
    p = Path(chosen).expanduser()
    if not p.is_file():
        raise MissingWeightsError(f"S3 tokenizer weights not found at {p}: {HOW_TO_GET}")
    return p


class S3SpeechTokenizer(SpeechTokenizer):
    """CosyVoice S3Tokenizer v1: 16 kHz wave → ``LongTensor [N]`` in ``[0, 4096)``, ``N = ceil(F / 2)``
    for ``F = n_samples // 160`` mel frames (≈ 50 per second)."""

    name = "s3"
    rate_hz = 50.0

    def __init__(self, model: torch.nn.Module):
        self.model = model.eval()
        self.vocab_size = int(model.config.n_codebook_size)
        self.logmel = LogMel()

    @classmethod
    def from_onnx(cls, path: str | os.PathLike | None = None, device: str = "cpu") -> S3SpeechTokenizer:
        """Load the model from a local ``speech_tokenizer_v1.onnx`` (``path`` or ``$VQTALKER_S3_ONNX``)."""
        onnx_path = resolve_onnx_path(path)
        s3tok, ModelConfig, S3Tokenizer = import_s3tokenizer()
        from s3tokenizer.utils import onnx2torch

        try:
            state = onnx2torch(str(onnx_path), None, False)
        except Exception as exc:  # onnx raises assorted errors on non-ONNX files
            raise VQTalkerError(f"cannot read {onnx_path} as the S3 tokenizer ONNX model: {exc}") from exc
        config = _config_from_state(ModelConfig, state)
        model = S3Tokenizer(MODEL_NAME, config)
        missing, unexpected = model.load_state_dict(state, strict=False)
        # the positional embedding is a fixed sinusoid buffer: it may be absent from the ONNX initialisers
        missing = [k for k in missing if k != "encoder.positional_embedding"]
        if missing or unexpected:
            raise VQTalkerError(
                f"{onnx_path} does not look like speech_tokenizer_v1.onnx "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        return cls(model.to(device))

    @classmethod
    def from_random(cls, seed: int = 0, **config_overrides) -> S3SpeechTokenizer:
        """Same architecture with random weights (tests, speed benchmarks). ``config_overrides`` go to
        ``s3tokenizer.model.ModelConfig``
        (tiny: ``n_audio_state=64, n_audio_head=1, n_audio_layer=1``)."""
        _, ModelConfig, S3Tokenizer = import_s3tokenizer()
        torch.manual_seed(seed)
        model = S3Tokenizer(MODEL_NAME, ModelConfig(**config_overrides))
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    torch.nn.init.normal_(p, std=p.shape[-1] ** -0.5)
            model.quantizer._codebook.embed.copy_(
                torch.nn.functional.normalize(torch.randn_like(model.quantizer._codebook.embed), dim=-1)
            )
        return cls(model)

    @torch.inference_mode()
    def _encode_16k(self, wave: np.ndarray) -> torch.Tensor:
        mel = self.logmel(torch.from_numpy(wave)).T[None]  # [1, 128, F] at 100 fps
        if mel.shape[-1] == 0:
            return torch.zeros(0, dtype=torch.long)
        device = next(self.model.parameters()).device
        codes, lengths = self.model.quantize(mel.to(device), torch.tensor([mel.shape[-1]], device=device))
        return codes[0, : int(lengths[0])].long().cpu()

    def expected_length(self, n_samples_16k: int) -> int:
        frames = n_samples_16k // 160
        return (frames + 1) // 2


def _config_from_state(ModelConfig, state: dict[str, torch.Tensor]):
    """Infer the ModelConfig sizes from a converted state dict (so tiny test models load too)."""
    embed = state.get("quantizer._codebook.embed")
    conv1 = state.get("encoder.conv1.weight")
    if embed is None or conv1 is None:
        raise VQTalkerError("the ONNX file has no S3 tokenizer codebook / first convolution")
    n_layer = len({k.split(".")[2] for k in state if k.startswith("encoder.blocks.")})
    n_state = int(conv1.shape[0])
    return ModelConfig(
        n_mels=int(conv1.shape[1]),
        n_audio_state=n_state,
        n_audio_head=max(1, n_state // 64),
        n_audio_layer=n_layer,
        n_codebook_size=int(embed.shape[0]),
    )
