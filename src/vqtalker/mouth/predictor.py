"""Speech → mouth opening: a small convolutional predictor for mouth guidance (beyond the paper).

Why: with ~10 minutes of talking-head video the stage-2 BERT learns the head motion but not the mouth (its
token loss is dominated by pose, its auxiliary mouth head overfits the training identities; figures in the
stage-2 model card). The mouth opening is mostly a local function of the sound (energy, formants), so a small
network that sees only ±0.3 s of log-mel, no identity and no pose generalises better to unseen speakers.
Its prediction drives the stage-1 motion along :class:`vqtalker.mouth.control.MouthControl` and the
stage-1 mouth channel, through :class:`vqtalker.mouth.guidance.MouthGuidance`.

Shapes and rates: waveform 16 kHz → log-mel ``[F, 128]`` at 100 fps (:class:`vqtalker.speech.mel.LogMel`,
normalised per utterance) → ``[T]`` openings at 25 fps (``T = F // 4``), in units of 20 × inner-lip gap as a
fraction of the face-crop side (≈ 0 closed … 1 wide open).

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
    n_mels: int = 128
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4)  # residual blocks at 25 fps (kernel 3): context ±(1+2+4+1) frames
    dropout: float = 0.2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MouthPredictorConfig:
        d = dict(d)
        d["dilations"] = tuple(d.get("dilations", (1, 2, 4)))
        return cls(**d)


class MouthPredictor(nn.Module):
    """log-mel ``[B, 4T, n_mels]`` (100 fps) → mouth opening ``[B, T]`` (25 fps; see module docstring)."""

    def __init__(self, cfg: MouthPredictorConfig = MouthPredictorConfig()):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.front = nn.Sequential(
            nn.Conv1d(cfg.n_mels, c, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(c, c, 5, stride=2, padding=2),  # 50 fps
            nn.GELU(),
            nn.Conv1d(c, c, 5, stride=2, padding=2),  # 25 fps
            nn.GELU(),
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Dropout(cfg.dropout), nn.Conv1d(c, c, 3, padding=d, dilation=d), nn.GELU())
            for d in cfg.dilations
        )
        self.out = nn.Conv1d(c, 1, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        t = mel.shape[1] // MEL_PER_FRAME
        x = self.front(mel[:, : t * MEL_PER_FRAME].transpose(1, 2).float())  # [B, C, T]
        for blk in self.blocks:
            x = x + blk(x)
        return self.out(x)[:, 0, :t]

    @torch.no_grad()
    def predict(self, wave16k: np.ndarray | torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """Mono 16 kHz waveform ``[N]`` → openings ``[T]`` (``T = N // 640``, or ``num_frames``: cut or
        padded with the last value)."""
        self.eval()
        mel = log_mel(wave16k)
        y = self(mel[None])[0].cpu() if mel.shape[0] >= MEL_PER_FRAME else torch.zeros(0)
        if num_frames is not None:
            if y.shape[0] >= num_frames:
                y = y[:num_frames]
            else:
                pad = y[-1:] if y.numel() else torch.zeros(1)
                y = torch.cat([y, pad.expand(num_frames - y.shape[0])])
        return y


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
