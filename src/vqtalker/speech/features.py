"""Frame features at 50 Hz shared by the offline default, the hash and the continuous backends.

``16 kHz wave [N] → log-mel [N // 160, 128] (100 fps) → optional per-utterance CMVN → stack 2 frames
→ [N // 320, 256] (50 Hz)``.

CMVN (mean/variance normalisation of every mel bin over the utterance) removes most of the loudness,
microphone and speaker-timbre offsets, so the k-means codebook spends its codes on phonetic content rather
than on channels. It needs a few hundred milliseconds of context to be stable; very short inputs (< 0.2 s)
are normalised with their mean only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from vqtalker.speech.mel import LogMel, LogMelConfig, cmvn, stack_frames


@dataclass(frozen=True)
class FeatureConfig:
    """How 50 Hz feature vectors are built from the 100 fps log-mel."""

    n_mels: int = 128
    stack: int = 2  # mel frames per unit: 100 fps / 2 = 50 Hz
    cmvn: bool = True

    @property
    def dim(self) -> int:
        return self.n_mels * self.stack

    @property
    def rate_hz(self) -> float:
        return 100.0 / self.stack

    def to_metadata(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> FeatureConfig:
        return cls(
            n_mels=int(meta.get("n_mels", 128)),
            stack=int(meta.get("stack", 2)),
            cmvn=meta.get("cmvn", "True") == "True",
        )


class FrameFeaturizer:
    """16 kHz mono ``[N]`` float32 → ``FloatTensor [N // (160 * stack), n_mels * stack]``."""

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        self.config = config
        self.logmel = LogMel(LogMelConfig(n_mels=config.n_mels))

    def __call__(self, wave_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        wave = torch.as_tensor(np.asarray(wave_16k, dtype=np.float32))
        mel = self.logmel(wave)  # [F, n_mels] at 100 fps
        if self.config.cmvn:
            if mel.shape[0] >= 20:
                mel = cmvn(mel)
            elif mel.shape[0] > 0:
                mel = mel - mel.mean(dim=0, keepdim=True)
        return stack_frames(mel, self.config.stack)
