"""Mouth solver: the speech → mouth-opening predictor and the stage-1 mouth control, in one weights file.

``vqtalker train mouth --stage1 S1 --data PREPARED --out mouth.safetensors``: trains
:class:`~vqtalker.mouth.predictor.MouthPredictor` on the prepared clips with speech
(:func:`~vqtalker.mouth.training.predictor_step`, AdamW, cosine decay), fits the
:class:`~vqtalker.mouth.control.MouthControl` of the stage-1 model on the training clips and writes both
with the default gains to ``--out``. Checkpoints, resume and curves live in ``<out>.run/`` (the
:class:`~vqtalker.training.trainer.Trainer` run directory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from vqtalker.errors import VQTalkerError
from vqtalker.mouth.guidance import DEFAULT_CHANNEL_GAIN, DEFAULT_GAIN_WITH_CHANNEL, DEFAULT_MOUTH_GAIN
from vqtalker.training.trainer import Trainer, TrainerOptions


@dataclass
class MouthOptions(TrainerOptions):
    """Options of ``vqtalker train mouth`` (``weights``: the output file; ``out``: its run directory)."""

    stage1: str = ""
    data: str = ""
    weights: str = "mouth.safetensors"
    steps: int = 2000
    batch_size: int = 16
    window: int = 64
    lr: float = 2e-3
    schedule: str = "cosine"
    eval_every: int = 250
    log_every: int = 50
    ckpt_every: int = 500
    channels: int = 64
    dropout: float = 0.2
    corr_weight: float = 0.5
    #: speech input of the predictor (:mod:`vqtalker.mouth.features`) and its extra outputs: blendshape mouth
    #: parameters (names of :data:`vqtalker.face.blendshapes.MOUTH_PARAMS`, comma-separated; "" = the
    #: opening only)
    features: str = "mel+logphonemes"
    params: str = "all"
    param_weight: float = 1.0
    noise: float = 0.1
    dilations: str = "1,2,4,8"
    #: predicted mouth parameters that also get a motion-space control direction (a subset of ``params``)
    control_params: str = "pucker,funnel,stretch"
    param_gain: float = 1.0
    gain: float = DEFAULT_MOUTH_GAIN
    channel_gain: float = DEFAULT_CHANNEL_GAIN
    gain_with_channel: float = DEFAULT_GAIN_WITH_CHANNEL
    train_split: str = "train"
    dev_split: str = "dev"


class MouthTrainer(Trainer):
    def setup(self) -> None:
        from vqtalker.mouth.predictor import MouthPredictor
        from vqtalker.mouth.training import clip_examples

        opts = self.opts
        cfg = self.model_config()
        cache = Path(opts.out) / "features"
        self.train = clip_examples(opts.data, opts.train_split, cfg, cache, self.log)
        self.dev = clip_examples(opts.data, opts.dev_split, cfg, cache, self.log)
        if not self.train:
            raise VQTalkerError(f"no '{opts.train_split}' clips with speech in {opts.data}")
        self.log(
            f"mouth predictor: {len(self.train)} train clips ({sum(len(y) for *_, y in self.train)} frames), "
            f"{len(self.dev)} dev clips"
        )
        self.model = MouthPredictor(cfg)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=opts.lr, weight_decay=1e-2)
        self.models, self.optimizers = {"mouth": self.model}, {"adamw": self.opt}
        self.g = torch.Generator().manual_seed(opts.seed)
        self.control = self._fit_control()

    def model_config(self):
        from vqtalker.face.blendshapes import MOUTH_PARAMS
        from vqtalker.mouth.features import parse
        from vqtalker.mouth.predictor import MouthPredictorConfig

        o = self.opts
        try:
            parse(o.features)
            dil = tuple(int(d) for d in o.dilations.split(",") if d.strip())
        except ValueError as exc:
            raise VQTalkerError(f"--features/--dilations: {exc}") from None
        params = tuple(p.strip() for p in o.params.split(",") if p.strip())
        if params == ("all",):
            params = tuple(MOUTH_PARAMS)
        bad = [p for p in params if p not in MOUTH_PARAMS]
        if bad:
            raise VQTalkerError(f"--params: unknown {bad}; choose from {', '.join(MOUTH_PARAMS)} or 'all'")
        return MouthPredictorConfig(
            channels=o.channels,
            dropout=o.dropout,
            dilations=dil,
            features=o.features,
            outputs=("opening",) + params,
        )

    def _fit_control(self):
        """The stage-1 mouth control, fitted first so that a wrong ``--stage1`` fails before training."""
        from vqtalker.motion.tokenizer import MotionTokenizer
        from vqtalker.mouth.control import fit_mouth_control
        from vqtalker.mouth.training import motion_clips

        o = self.opts
        stage1 = MotionTokenizer.from_pretrained(o.stage1, frozen=True)
        names = [
            p for p in (q.strip() for q in o.control_params.split(",")) if p in self.model.cfg.outputs[1:]
        ]
        clips = motion_clips(stage1, o.data, o.train_split, Path(o.out) / "features", names)
        control = fit_mouth_control(stage1.quantizer, clips, names)
        self.log(
            f"mouth control: |d| {float(control.direction.norm()):.3f}, fit corr {control.corr:.3f}, "
            f"mean opening {control.mean_gap:.3f}"
            + (f", parameter directions {', '.join(names)}" if names else "")
        )
        return control

    def state(self) -> dict:
        return {"generator_state": self.g.get_state().tolist()}

    def load_state(self, meta: dict) -> None:
        if "generator_state" in meta:
            self.g.set_state(torch.tensor(meta["generator_state"], dtype=torch.uint8))

    def train_step(self, step: int) -> dict[str, float]:
        from vqtalker.mouth.training import predictor_step

        o = self.opts
        return {
            "l1": predictor_step(
                self.model,
                self.opt,
                self.train,
                self.g,
                o.batch_size,
                o.window,
                o.corr_weight,
                o.noise,
                o.param_weight,
            )
        }

    def evaluate(self, step: int) -> dict[str, float]:
        from vqtalker.mouth.training import evaluate_predictor

        return evaluate_predictor(self.model, self.dev, by_language=True) if self.dev else {}

    def export(self, step: int, final: bool) -> None:
        if not final or step < self.opts.steps:  # an interrupted run resumes; it writes no weights file
            return
        from vqtalker.mouth.predictor import save_mouth_predictor
        from vqtalker.mouth.training import evaluate_predictor, text_calibration
        from vqtalker.utils import atomic_write_bytes

        o, control = self.opts, self.control
        final_m = evaluate_predictor(self.model, self.dev, by_language=True) if self.dev else {}
        out = save_mouth_predictor(
            o.weights,
            self.model,
            control,
            o.gain,
            stage1=Path(o.stage1).name,
            steps=str(step),
            channel_gain=str(float(o.channel_gain)),
            gain_with_channel=str(float(o.gain_with_channel)),
            param_gain=str(float(o.param_gain)),
            text_calibration=text_calibration(self.train).to_json(),
            dev=json.dumps(final_m),
        )
        atomic_write_bytes(str(out) + ".json", json.dumps({"dev": final_m, "step": step}, indent=1).encode())
        self.log(f"wrote {out} (dev corr {final_m.get('corr', float('nan')):.3f})")


def train_mouth(opts: MouthOptions, log=None) -> dict:
    if not opts.out or opts.out == TrainerOptions.out:
        opts.out = str(Path(opts.weights)) + ".run"
    return MouthTrainer(opts, log=log).run()


__all__ = ["MouthOptions", "MouthTrainer", "train_mouth"]
