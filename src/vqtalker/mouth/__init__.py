"""The mouth, beyond the paper: everything that makes the lips follow the speech.

* :mod:`~vqtalker.mouth.features` — the predictor's speech input: log-mel, IPA phoneme posteriors
  (``hama``), voice activity (Silero), the project's speech tokens;
* :mod:`~vqtalker.mouth.predictor` — speech features → mouth opening (+ blendshape mouth parameters) per
  frame, a small CNN;
* :mod:`~vqtalker.mouth.visemes` — the text path: espeak-ng phoneme timings → an opening track;
* :mod:`~vqtalker.mouth.control` — the stage-1 motion directions that open the mouth (and round/spread it);
* :mod:`~vqtalker.mouth.direction` — the read-out direction and the stage-2 mouth token loss;
* :mod:`~vqtalker.mouth.guidance` — :class:`MouthGuidance`, the ONE object the pipeline and the evaluation
  use to turn speech (and text timings) into an opening track — resting in silence — and that track into
  motion and stage-1 mouth-channel input;
* :mod:`~vqtalker.mouth.training` — data and loop of the predictor.

The opening is always :func:`vqtalker.face.lips.mouth_opening` (20 × inner-lip gap / crop side).
"""

from vqtalker.mouth.control import MouthControl, fit_mouth_control
from vqtalker.mouth.guidance import GuidedMotion, MouthGuidance, channel_input
from vqtalker.mouth.predictor import (
    MouthPredictor,
    MouthPredictorConfig,
    load_mouth_predictor,
    save_mouth_predictor,
)

__all__ = [
    "GuidedMotion",
    "MouthControl",
    "MouthGuidance",
    "MouthPredictor",
    "MouthPredictorConfig",
    "channel_input",
    "fit_mouth_control",
    "load_mouth_predictor",
    "save_mouth_predictor",
]
