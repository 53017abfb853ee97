"""Stage 1: the facial motion tokenizer (encoder → GRFSQ on f_t − f_s → flow-warping renderer).

The public API and the only loader is :class:`vqtalker.motion.tokenizer.MotionTokenizer`; the networks are
one per file (:mod:`~.encoder`, :mod:`~.renderer`, :mod:`~.fullres`, :mod:`~.discriminator`, built by
:mod:`~.model` from a :class:`~.config.MotionConfig`); :mod:`~.losses` holds the training objective and
:mod:`~.weights` the file format. The trainer is :mod:`vqtalker.solvers.stage1`.
"""
