"""Voice activity: the Silero VAD network (MIT), re-implemented in torch on the weights its PyPI package
ships.

The PyPI package ``silero-vad`` carries ``silero_vad/data/silero_vad_16k.safetensors`` (1.2 MB) next to its
TorchScript and ONNX files; this module loads that safetensors file (never the TorchScript archive) into
:class:`SileroVAD`, a small torch module with the same layers, so no onnxruntime and no pickle is needed.

Shapes and rates: 16 kHz mono ``[N]`` → speech probability per 512-sample chunk (31.25 Hz); each chunk sees
the 64 samples before it. :func:`speech_probability` resamples that to 25 fps video frames ``[T]``
(``T = N // 640`` or a given count) and :func:`speech_mask` smooths it into a boolean speech/silence track.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vqtalker.constants import FPS, SAMPLE_RATE
from vqtalker.errors import VQTalkerError

CHUNK = 512  # samples per decision at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous chunk each decision sees
INSTALL_HINT = "install it with `pip install --no-deps silero-vad==6.2.3` (the README's setup does)"


class SileroVAD(nn.Module):
    """chunks ``[B, CONTEXT + CHUNK]`` (one stream, in order along B) → speech probability ``[B]``.

    Layers: a fixed STFT as a strided convolution (256-point, hop 128, magnitude of 129 bins), four 1-D
    convolutions (two of them stride 2) that pool each chunk to one 128-d vector, an LSTM cell run over the
    chunks in order, and a 1 × 1 convolution + sigmoid.
    """

    def __init__(self):
        super().__init__()
        self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
        self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
        self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
        self.lstm_cell = nn.LSTMCell(128, 128)
        self.final_conv = nn.Conv1d(128, 1, 1)

    def chunk_features(self, chunks: torch.Tensor) -> torch.Tensor:
        """``[B, CONTEXT + CHUNK]`` → per-chunk feature ``[B, 128]`` (independent of the other chunks)."""
        x = nn.functional.pad(chunks[:, None], (0, 64), mode="reflect")
        x = self.stft_conv(x)
        x = (x[:, :129] ** 2 + x[:, 129:] ** 2).sqrt()
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = torch.relu(conv(x))
        return x[..., 0]  # the stride-4 stack leaves one step per chunk

    def forward(self, chunks: torch.Tensor, state=None) -> tuple[torch.Tensor, tuple]:
        feats = self.chunk_features(chunks)
        out = []
        for f in feats:
            state = self.lstm_cell(f[None], state)
            out.append(state[0])
        h = torch.relu(torch.cat(out))  # [B, 128]
        p = torch.sigmoid(self.final_conv(h[..., None]))[:, 0, 0]
        return p, state


def weights_path() -> Path:
    """The safetensors file inside the installed ``silero-vad`` package (one clear error when absent).

    Found with ``importlib.util.find_spec`` — the package itself is never imported (its ``__init__`` sets
    ``torch.set_num_threads(1)`` for the whole process)."""
    import importlib.util

    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VQTalkerError(f"voice activity needs the `silero-vad` package: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad_16k.safetensors"
    if not path.is_file():
        raise VQTalkerError(f"silero-vad is installed but has no {path.name}: {INSTALL_HINT}")
    return path


@lru_cache(maxsize=1)
def load_vad() -> SileroVAD:
    """The Silero VAD network in eval mode (loaded once per process, safetensors only)."""
    from safetensors.torch import load_file

    model = SileroVAD()
    model.load_state_dict(load_file(str(weights_path())))
    return model.eval()


@torch.no_grad()
def chunk_probability(wave16k: np.ndarray) -> np.ndarray:
    """Speech probability per 512-sample chunk ``[ceil(N / 512)]`` (31.25 Hz) of 16 kHz mono ``[N]``."""
    w = torch.as_tensor(np.asarray(wave16k, dtype=np.float32)).flatten()
    if w.numel() == 0:
        return np.zeros(0, np.float32)
    n = -(-w.numel() // CHUNK)
    w = nn.functional.pad(w, (CONTEXT, n * CHUNK - w.numel()))
    chunks = w.unfold(0, CONTEXT + CHUNK, CHUNK)[:n]
    p, _ = load_vad()(chunks)
    return p.numpy().astype(np.float32)


def speech_probability(wave16k: np.ndarray, num_frames: int | None = None) -> np.ndarray:
    """Speech probability per 25-fps video frame ``[T]`` (``T = N // 640`` unless ``num_frames``), linearly
    interpolated from the 31.25-Hz chunk decisions at the frame centres."""
    n = len(wave16k)
    t = n // (SAMPLE_RATE // FPS) if num_frames is None else int(num_frames)
    p = chunk_probability(wave16k)
    if t <= 0:
        return np.zeros(0, np.float32)
    if p.size == 0:
        return np.zeros(t, np.float32)
    centres = (np.arange(t) + 0.5) / FPS
    chunk_centres = (np.arange(p.size) + 0.5) * CHUNK / SAMPLE_RATE
    return np.interp(centres, chunk_centres, p).astype(np.float32)


def speech_mask(prob: np.ndarray, threshold: float = 0.5, min_silence: int = 5, pad: int = 2) -> np.ndarray:
    """Boolean speech track ``[T]`` from per-frame probabilities: ``prob > threshold``, pauses shorter than
    ``min_silence`` frames filled (a word gap is still speech), then widened by ``pad`` frames each side."""
    s = np.asarray(prob) > threshold
    t = s.size
    i = 0
    while i < t:  # fill short gaps between speech runs
        if not s[i]:
            j = i
            while j < t and not s[j]:
                j += 1
            if 0 < i and j < t and j - i < min_silence:
                s[i:j] = True
            i = j
        else:
            i += 1
    if pad > 0 and s.any():
        k = np.ones(2 * pad + 1)
        s = np.convolve(s.astype(float), k, mode="same") > 0
    return s


__all__ = ["CHUNK", "SileroVAD", "chunk_probability", "load_vad", "speech_mask", "speech_probability"]
