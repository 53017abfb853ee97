"""Speech → mouth opening: a small convolutional predictor for mouth guidance (beyond the paper).

Why: with ~10 minutes of talking-head video the stage-2 BERT learns the head motion but not the mouth (its
token loss is dominated by pose, its auxiliary mouth head overfits the training identities; figures in the
stage-2 model card). The mouth opening is mostly a local function of the sound (energy, formants), so a small
network that sees only ±0.3 s of log-mel, no identity and no pose generalises better to unseen speakers.
Its prediction drives the stage-1 motion along :class:`vqtalker.mouth.control.MouthControl` and the
stage-1 mouth channel, through :class:`vqtalker.mouth.guidance.MouthGuidance`.

Shapes and rates: waveform 16 kHz → speech features (:mod:`vqtalker.mouth.features`: the wave-1 log-mel
``[4T, 128]`` at 100 fps, or phoneme posteriors / log-mel / voice activity at 50 fps) → ``[T, n_outputs]`` at
25 fps: the mouth opening in units of 20 × inner-lip gap as a fraction of the face-crop side (≈ 0 closed … 1
wide open), then optional blendshape mouth parameters in ``[0, 1]``.

The weights file (safetensors, ``format = "vqtalker-mouth"``) also carries the :class:`MouthControl` of the
stage-1 model it was fitted for (metadata ``mouth_control``) and the default ``gain``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vqtalker.constants import FPS, MEL_HZ

FORMAT = "vqtalker-mouth"
MEL_PER_FRAME = MEL_HZ // FPS  # 100 fps log-mel / 25 fps video
#: how to make a mouth file (named by every "not found" error)
TRAIN_HINT = "train one with `vqtalker train mouth --stage1 S1 --data DATASET --out FILE`"


@dataclass
class MouthPredictorConfig:
    """``features``: input spec of :mod:`vqtalker.mouth.features` (``"mel100"``: the wave-1 log-mel at 100
    fps; e.g. ``"mel+phonemes+vad"`` at 50 fps); ``outputs``: the predicted tracks, ``"opening"`` first (20 ×
    inner-lip gap / crop side), then mouth parameters of :data:`vqtalker.face.blendshapes.MOUTH_PARAMS`."""

    n_mels: int = 128  # input width of the legacy "mel100" features (ignored otherwise)
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4)  # residual blocks at 25 fps (kernel 3): context ±(1+2+4+1) frames
    dropout: float = 0.2
    features: str = "mel100"
    outputs: tuple[str, ...] = ("opening",)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        d["outputs"] = list(self.outputs)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MouthPredictorConfig:
        d = dict(d)
        d["dilations"] = tuple(d.get("dilations", (1, 2, 4)))
        d["outputs"] = tuple(d.get("outputs", ("opening",)))
        return cls(**d)

    @property
    def in_dim(self) -> int:
        from vqtalker.mouth.features import LEGACY, feature_dim

        return self.n_mels if self.features == LEGACY else feature_dim(self.features)

    @property
    def rows_per_frame(self) -> int:
        from vqtalker.mouth.features import rows_per_frame

        return rows_per_frame(self.features)


class MouthPredictor(nn.Module):
    """speech features ``[B, R·T, D]`` (R rows per video frame, see :mod:`vqtalker.mouth.features`) →
    tracks ``[B, T, n_outputs]`` at 25 fps (``outputs[0]`` is the mouth opening; see module docstring)."""

    def __init__(self, cfg: MouthPredictorConfig = MouthPredictorConfig()):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        layers: list[nn.Module] = [nn.Conv1d(cfg.in_dim, c, 5, padding=2), nn.GELU()]
        for _ in range(cfg.rows_per_frame.bit_length() - 1):  # 100 → 25 fps: two stride-2 convs; 50 → 25: one
            layers += [nn.Conv1d(c, c, 5, stride=2, padding=2), nn.GELU()]
        self.front = nn.Sequential(*layers)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Dropout(cfg.dropout), nn.Conv1d(c, c, 3, padding=d, dilation=d), nn.GELU())
            for d in cfg.dilations
        )
        self.out = nn.Conv1d(c, len(cfg.outputs), 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        r = self.cfg.rows_per_frame
        t = feats.shape[1] // r
        x = self.front(feats[:, : t * r].transpose(1, 2).float())  # [B, C, T]
        for blk in self.blocks:
            x = x + blk(x)
        return self.out(x)[..., :t].transpose(1, 2)

    def features(self, wave16k, num_frames: int) -> torch.Tensor:
        """16 kHz mono ``[N]`` → this model's input ``[R · num_frames, D]``."""
        from vqtalker.mouth.features import speech_features

        return speech_features(np.asarray(wave16k, np.float32), self.cfg.features, num_frames)

    @torch.no_grad()
    def predict_all(self, wave16k: np.ndarray | torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Mono 16 kHz waveform ``[N]`` → all tracks ``[T, n_outputs]`` (``T = N // 640`` or
        ``num_frames``)."""
        self.eval()
        w = np.asarray(wave16k, dtype=np.float32)
        t = len(w) // (MEL_PER_FRAME * 160) if num_frames is None else int(num_frames)
        if t <= 0:
            return torch.zeros(0, len(self.cfg.outputs))
        return self(self.features(w, t)[None])[0].cpu()

    def predict(self, wave16k: np.ndarray | torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Mono 16 kHz waveform ``[N]`` → openings ``[T]`` (``T = N // 640``, or ``num_frames``)."""
        return self.predict_all(wave16k, num_frames)[:, 0]


_MEL = None


def log_mel(wave16k) -> torch.Tensor:
    """16 kHz waveform → per-utterance normalised log-mel ``[F, 128]`` at 100 fps."""
    global _MEL
    from vqtalker.speech.mel import LogMel, cmvn

    if _MEL is None:
        _MEL = LogMel()
    w = torch.as_tensor(np.asarray(wave16k, dtype=np.float32))
    return cmvn(_MEL(w))


def save_mouth_predictor(path, model: MouthPredictor, control=None, gain: float = 1.0, **meta: str) -> Path:
    """Write the predictor (fp16 weights), its config, the stage-1 ``control`` and ``gain`` atomically."""
    from vqtalker.io.weights import save_weights

    md: dict = {"gain": str(float(gain))}
    if control is not None:
        md["mouth_control"] = control.to_json()
    md.update({k: str(v) for k, v in meta.items()})
    return save_weights(path, model.state_dict(), format=FORMAT, config=json.dumps(model.cfg.to_dict()),
                        metadata=md, dtype=torch.float16)


def load_mouth_predictor(path) -> tuple[MouthPredictor, dict]:
    """→ ``(predictor in eval mode, fp32, metadata)``. One-line errors for a missing or foreign file."""
    from vqtalker.io.weights import load_weights

    tensors, meta = load_weights(path, FORMAT, "mouth predictor", TRAIN_HINT)
    model = MouthPredictor(MouthPredictorConfig.from_dict(json.loads(meta["config"])))
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.eval(), meta


__all__ = [
    "FORMAT",
    "MouthPredictor",
    "MouthPredictorConfig",
    "load_mouth_predictor",
    "log_mel",
    "save_mouth_predictor",
]
