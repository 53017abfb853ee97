"""Stage 2 of VQTalker: the coarse-to-fine motion-token generator (a bidirectional transformer, "BERT").

* :mod:`~vqtalker.generate.config` — :class:`Stage2Config`, presets ``paper``/``lite``, Table-4 ablations;
* :mod:`~vqtalker.generate.model` — :class:`MotionTokenBERT`: speech units + pose/gaze/blink + R_{r−1} +
  f_g + k → logits ``[B, T, 12, 625]``;
* :mod:`~vqtalker.generate.inference` — 4 coarse-to-fine passes, argmax or seeded top-k sampling, long
  audio in cross-faded windows;
* :mod:`~vqtalker.generate.data` — the training cache and windows (the trainer is
  :mod:`vqtalker.solvers.stage2`, its dev metrics :mod:`vqtalker.evaluation.tokens` /
  :mod:`~vqtalker.evaluation.lipsync`); :mod:`~vqtalker.generate.controls` — neutral controls;
* :mod:`~vqtalker.generate.checkpoint` — stage-2 weights files.
"""

from vqtalker.generate.config import ABLATIONS, PRESETS, Stage2Config, make_config
from vqtalker.generate.inference import coarse_to_fine, generate_motion, sample_tokens
from vqtalker.generate.model import MotionTokenBERT, build_model

__all__ = [
    "ABLATIONS",
    "PRESETS",
    "MotionTokenBERT",
    "Stage2Config",
    "build_model",
    "coarse_to_fine",
    "generate_motion",
    "make_config",
    "sample_tokens",
]
