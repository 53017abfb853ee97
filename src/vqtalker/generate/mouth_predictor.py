"""Speech → mouth opening: a small convolutional predictor for mouth guidance (beyond the paper).

Why: with ~10 minutes of talking-head video the stage-2 BERT learns the head motion but not the mouth (its
token loss is dominated by pose, its auxiliary mouth head overfits the 32 training identities: dev
correlation 0.26). The mouth opening is mostly a local function of the sound (energy, formants), so a small
network that sees only ±0.3 s of log-mel, no identity and no pose generalises better to unseen speakers.
Its prediction drives the stage-1 motion along :class:`vqtalker.generate.mouth.MouthControl`.

Shapes and rates: waveform 16 kHz → log-mel ``[F, 128]`` at 100 fps (:class:`vqtalker.speech.mel.LogMel`,
normalised per utterance) → ``[T]`` openings at 25 fps (``T = F // 4``), in units of 20 × inner-lip gap as a
fraction of the face-crop side (≈ 0 closed … 1 wide open).

The weights file (safetensors, ``format = "vqtalker-mouth"``) also carries the :class:`MouthControl` of the
stage-1 model it was fitted for (metadata ``mouth_control``) and the default ``gain``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vqtalker.generate.mouth import DEFAULT_MOUTH_GAIN

FORMAT = "vqtalker-mouth"
MEL_PER_FRAME = 4  # 100 fps log-mel / 25 fps video


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


#: defaults for a stage-1 model with a mouth channel (chosen on the dev clips with the shipped models: the
#: channel at gain 4, plus motion-space guidance at gain 4; see the stage-2 MODEL_CARD)
DEFAULT_CHANNEL_GAIN = 4.0
DEFAULT_GAIN_WITH_CHANNEL = 4.0


def save_mouth_predictor(path, model: MouthPredictor, control=None, gain: float = 1.0, **meta: str) -> Path:
    """Write the predictor (fp16 weights), its config, the stage-1 ``control`` and ``gain`` atomically."""
    from safetensors.torch import save_file

    from vqtalker.utils import atomic_output

    md = {"format": FORMAT, "config": json.dumps(model.cfg.to_dict()), "gain": str(float(gain))}
    if control is not None:
        md["mouth_control"] = control.to_json()
    md.update({k: str(v) for k, v in meta.items()})
    sd = {k: v.detach().half().contiguous().cpu() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_output(path) as tmp:
        save_file(sd, str(tmp), metadata=md)
    return path


def load_mouth_predictor(path) -> tuple[MouthPredictor, dict]:
    """→ ``(predictor in eval mode, fp32, metadata)``. One-line errors for a missing or foreign file."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from vqtalker.errors import MissingWeightsError, VQTalkerError

    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(
            f"mouth predictor not found: {path}; train one with "
            "`vqtalker train mouth --stage1 S1 --data DATASET --out FILE`"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as exc:  # noqa: BLE001
        raise VQTalkerError(f"{path} is not a safetensors file ({exc.__class__.__name__})") from exc
    if meta.get("format") != FORMAT:
        raise VQTalkerError(f"{path} is not a vqtalker mouth-predictor file (format={meta.get('format')!r})")
    model = MouthPredictor(MouthPredictorConfig.from_dict(json.loads(meta["config"])))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return model.eval(), meta


# ------------------------------------------------------------------------------------------------------
# training


def clip_examples(data_root, split: str) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``[(id, log-mel [4T, n_mels], opening [T])]`` of the prepared clips with speech in ``split``."""
    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.generate.data import mouth_points
    from vqtalker.io.audio import load_audio
    from vqtalker.lips import MOUTH_OPEN_SCALE, mouth_open

    out = []
    for c in load_index(data_root)["clips"]:
        if c["split"] != split or not c.get("has_audio"):
            continue
        clip = PreparedClip.open(f"{data_root}/{c['dir']}")
        lm = np.array(clip.array("landmarks"))
        y = torch.from_numpy(mouth_open(mouth_points(lm, int(c["size"]))) * MOUTH_OPEN_SCALE).float()
        mel = log_mel(load_audio(clip.path / "audio.wav", 16000))
        t = min(len(y), mel.shape[0] // MEL_PER_FRAME)
        if t >= 8:
            out.append((c["id"], mel[: t * MEL_PER_FRAME], y[:t]))
    return out


def evaluate_predictor(model: MouthPredictor, examples) -> dict[str, float]:
    """Mean per-clip Pearson correlation and L1 of the predicted opening."""
    from vqtalker.lips import corr

    model.eval()
    cs, l1 = [], []
    with torch.no_grad():
        for _, mel, y in examples:
            p = model(mel[None])[0]
            cs.append(corr(p.numpy(), y.numpy()))
            l1.append(float((p - y).abs().mean()))
    return {
        "corr": float(np.nanmean(cs)) if cs else float("nan"),
        "l1": float(np.mean(l1)) if l1 else float("nan"),
    }


def train_predictor(
    train,
    dev=(),
    cfg: MouthPredictorConfig = MouthPredictorConfig(),
    steps: int = 1500,
    batch: int = 16,
    window: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    log=print,
    eval_every: int = 250,
    corr_weight: float = 0.0,
) -> tuple[MouthPredictor, list[dict]]:
    """Train on random ``window``-frame crops of ``train`` examples (:func:`clip_examples`), L1 loss, AdamW
    with cosine decay, mel noise augmentation; ``corr_weight`` adds ``1 − Pearson correlation`` per crop (the
    guidance gain absorbs the scale, the shape of the track is what matters). Returns the final model (no
    selection on ``dev``) and the evaluation history."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MouthPredictor(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    lengths = torch.tensor([len(y) for _, _, y in train], dtype=torch.float)
    history = []
    t0 = time.time()
    for step in range(1, steps + 1):
        model.train()
        for grp in opt.param_groups:
            grp["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        mels, ys = [], []
        for i in torch.multinomial(lengths, batch, replacement=True, generator=g).tolist():
            _, mel, y = train[i]
            w = min(window, len(y))
            s = int(torch.randint(0, len(y) - w + 1, (1,), generator=g))
            m = mel[s * MEL_PER_FRAME : (s + w) * MEL_PER_FRAME]
            if w < window:  # short clip: pad (the padded frames are not scored)
                m = F.pad(m, (0, 0, 0, (window - w) * MEL_PER_FRAME))
            mels.append(m)
            ys.append(F.pad(y[s : s + w], (0, window - w), value=float("nan")))
        mel_b = torch.stack(mels)
        mel_b = mel_b + 0.1 * torch.randn(mel_b.shape, generator=g)
        y_b = torch.stack(ys)
        pred = model(mel_b)
        ok = ~torch.isnan(y_b)
        loss = (pred[ok] - y_b[ok]).abs().mean()
        if corr_weight > 0:
            loss = loss + corr_weight * (1 - _masked_corr(pred, y_b, ok)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            dev_m = evaluate_predictor(model, dev) if dev else {}
            ev = {"step": step, "loss": loss.item(), **{f"dev_{k}": v for k, v in dev_m.items()}}
            history.append(ev)
            log(
                f"mouth predictor step {step}: train L1 {ev['loss']:.4f}"
                + (f", dev corr {ev['dev_corr']:.3f}, dev L1 {ev['dev_l1']:.4f}" if dev_m else "")
                + f" ({time.time() - t0:.0f} s)"
            )
    return model.eval(), history


def _masked_corr(a: torch.Tensor, b: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per row of ``a``, ``b`` ``[B, T]`` over the frames where ``ok``; ``[B]``."""
    w = ok.float()
    n = w.sum(1).clamp(min=1)
    b = torch.nan_to_num(b)
    am = a - (a * w).sum(1, keepdim=True) / n[:, None]
    bm = b - (b * w).sum(1, keepdim=True) / n[:, None]
    cov = (am * bm * w).sum(1)
    return cov / ((am**2 * w).sum(1) * (bm**2 * w).sum(1) + 1e-8).sqrt()


def add_arguments(p) -> None:
    p.add_argument(
        "--stage1", required=True, help="stage-1 weights whose motion space the control is fitted in"
    )
    p.add_argument("--data", required=True, help="prepared talking-head dataset (vqtalker prepare output)")
    p.add_argument("--out", required=True, help="output weights file (.safetensors)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--window", type=int, default=64, help="training crop in frames (25 fps)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--corr-weight", type=float, default=0.0, help="weight of the 1 - correlation loss term")
    p.add_argument(
        "--gain", type=float, default=DEFAULT_MOUTH_GAIN, help="default guidance gain stored in the file"
    )
    p.add_argument(
        "--channel-gain",
        type=float,
        default=DEFAULT_CHANNEL_GAIN,
        help="for a stage-1 model with a mouth channel: scale of the predicted opening it receives",
    )
    p.add_argument(
        "--gain-with-channel",
        type=float,
        default=DEFAULT_GAIN_WITH_CHANNEL,
        help="guidance gain used next to a stage-1 mouth channel (stored as gain_with_channel)",
    )
    p.add_argument("--train-split", default="train")
    p.add_argument("--dev-split", default="dev")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)


def run(args) -> int:
    """``vqtalker train mouth``: train the predictor and fit the stage-1 mouth control; write one file."""
    from vqtalker.errors import VQTalkerError
    from vqtalker.generate.mouth import fit_mouth_control
    from vqtalker.generate.stage1 import FrozenStage1
    from vqtalker.pipeline import load_stage1_generator
    from vqtalker.utils import atomic_write_bytes

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    train = clip_examples(args.data, args.train_split)
    dev = clip_examples(args.data, args.dev_split)
    if not train:
        raise VQTalkerError(f"no '{args.train_split}' clips with speech in {args.data}")
    print(
        f"mouth predictor: {len(train)} train clips ({sum(len(y) for *_, y in train)} frames), "
        f"{len(dev)} dev clips",
        flush=True,
    )
    stage1 = FrozenStage1(load_stage1_generator(args.stage1))
    control = fit_mouth_control(stage1.model.quantizer, _motion_clips(stage1, args.data, args.train_split))
    print(
        f"mouth control: |d| {float(control.direction.norm()):.3f}, fit corr {control.corr:.3f}, "
        f"mean opening {control.mean_gap:.3f}",
        flush=True,
    )
    cfg = MouthPredictorConfig(channels=args.channels, dropout=args.dropout)
    model, history = train_predictor(
        train,
        dev,
        cfg,
        args.steps,
        args.batch_size,
        args.window,
        args.lr,
        args.seed,
        log=lambda m: print(m, flush=True),
        corr_weight=args.corr_weight,
    )
    final = evaluate_predictor(model, dev) if dev else {}
    out = save_mouth_predictor(
        args.out,
        model,
        control,
        args.gain,
        stage1=Path(args.stage1).name,
        steps=str(args.steps),
        channel_gain=str(float(args.channel_gain)),
        gain_with_channel=str(float(args.gain_with_channel)),
        dev=json.dumps(final),
    )
    atomic_write_bytes(str(out) + ".json", json.dumps({"history": history, "dev": final}, indent=1).encode())
    print(f"wrote {out} (dev corr {final.get('corr', float('nan')):.3f})", flush=True)
    return 0


def _motion_clips(stage1, data_root, split):
    """Minimal clip views (``f`` motion codes, ``mouth`` lip points) of ``split`` for the control fit."""
    from types import SimpleNamespace

    from vqtalker.data.layout import PreparedClip, load_index
    from vqtalker.generate.data import mouth_points

    out = []
    for c in load_index(data_root)["clips"]:
        if c["split"] != split or not c.get("has_audio"):
            continue
        clip = PreparedClip.open(f"{data_root}/{c['dir']}")
        _, f = stage1.encode_codes(clip.array("frames"))
        mouth = torch.from_numpy(mouth_points(np.array(clip.array("landmarks")), int(c["size"])))
        out.append(SimpleNamespace(f=f, mouth=mouth))
    return out


__all__ = [
    "FORMAT",
    "MouthPredictor",
    "MouthPredictorConfig",
    "clip_examples",
    "evaluate_predictor",
    "load_mouth_predictor",
    "log_mel",
    "save_mouth_predictor",
    "train_predictor",
]
