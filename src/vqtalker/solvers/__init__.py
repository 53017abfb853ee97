"""Solvers: one :class:`vqtalker.training.trainer.Trainer` subclass per trainable component.

* :mod:`~vqtalker.solvers.stage1` — the motion tokenizer (GAN: generator + discriminator, EMA);
* :mod:`~vqtalker.solvers.stage2` — the coarse-to-fine motion-token BERT;
* :mod:`~vqtalker.solvers.mouth` — the speech → mouth-opening predictor + the stage-1 mouth control;
* :mod:`~vqtalker.solvers.speech` — the offline default speech codebook (mini-batch k-means).

Each has an options dataclass extending :class:`~vqtalker.training.trainer.TrainerOptions`; the CLI
(``vqtalker train COMPONENT``) maps its flags 1:1 onto those fields.
"""
