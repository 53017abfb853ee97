"""Mouth guidance (beyond the paper): ONE object that turns a speech → mouth-opening prediction into motion.

Used by :class:`vqtalker.pipeline.TalkingHeadPipeline` and by the speech-driven dev evaluation
(:mod:`vqtalker.evaluation.lipsync`), so the dev metric measures what ``vqtalker animate`` renders.

Given the generated stage-2 motion ``Δ̂ [T, M]`` (25 fps), a mouth-opening track ``o [T]`` (20 × inner-lip gap
/ crop side, from :class:`~vqtalker.mouth.predictor.MouthPredictor`) and the portrait's own opening ``ref``:

* **motion-space guidance** (``gain > 0``, with a :class:`~vqtalker.mouth.control.MouthControl`):
  ``Δ̂ + gain · (o − ref) · d``;
* **the stage-1 mouth channel** (a stage-1 model with ``mouth_channel``, ``channel_gain > 0``):
  :func:`channel_input` ``m = (mean(o) − ref) + C · (o − mean(o))``, clipped to ``±1``.

``gain = 0`` and ``channel_gain = 0`` give the paper's pure token output.

The opening track itself (:meth:`MouthGuidance.predict`) is the predictor's output, blended with the text
path's track when espeak-ng phoneme timings are known (:mod:`vqtalker.mouth.visemes`, weight
``text_weight``), and pulled to the relaxed rest position where nobody speaks (``silence``: Silero voice
activity, :mod:`vqtalker.speech.vad`, smoothed so the mouth closes over ~0.1 s instead of snapping shut).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from vqtalker.mouth.control import MouthControl
from vqtalker.mouth.visemes import TextCalibration

#: mouth-guidance gain used when a stage-2 file does not name one (``mouth_gain`` metadata)
DEFAULT_MOUTH_GAIN = 6.0


#: defaults for a stage-1 model with a mouth channel (chosen on the dev clips with the shipped models: the
#: channel at gain 5.5, plus motion-space guidance at gain 5.5; see the stage-2 MODEL_CARD)
DEFAULT_CHANNEL_GAIN = 5.5
DEFAULT_GAIN_WITH_CHANNEL = 5.5
#: pauses shorter than this (frames at 25 fps) do not close the mouth
GATE_MIN_PAUSE = 10
#: weight of the text path's opening track against the audio predictor's when phoneme timings are known
DEFAULT_TEXT_WEIGHT = 0.6


def mouth_guidance(meta: dict, gain: float | None = None) -> tuple[MouthControl | None, float]:
    """``(control, gain)`` from a weights file's metadata (``mouth_control``, ``gain``): ``(None, 0.0)``
    when it has no control; ``gain`` None → the file's (else :data:`DEFAULT_MOUTH_GAIN`)."""
    if "mouth_control" not in meta:
        return None, 0.0
    g = float(meta.get("gain", DEFAULT_MOUTH_GAIN)) if gain is None else float(gain)
    if g < 0:
        raise ValueError(f"mouth gain must be >= 0, got {g}")
    return MouthControl.from_json(meta["mouth_control"]), g


#: the mouth-channel input is clipped to the range of o_t − o_s seen in training (20 × gap units)
CHANNEL_LIMIT = 1.0


def channel_input(opening: torch.Tensor, ref: float, gain: float = 1.0, limit: float = CHANNEL_LIMIT):
    """Mouth-channel input ``m [T]`` for a stage-1 model with a mouth channel, from a predicted opening track
    ``opening [T]`` (20 × inner-lip gap / crop side, 25 fps) and the source portrait's opening ``ref``.

    ``m = (mean(opening) − ref) + gain · (opening − mean(opening))``, clipped to ``±limit``: the gain
    amplifies the articulation (the predictor and the renderer both under-articulate) but not the offset
    between the speaker's average opening and the portrait's, which would push the renderer far outside its
    training range (washed-out, ghosted faces at ``gain · (opening − ref)`` with gain 4).
    """
    o = opening.float()
    mean = o.mean() if o.numel() else o.new_zeros(())
    return ((mean - float(ref)) + float(gain) * (o - mean)).clamp(-limit, limit)


@dataclass
class GuidedMotion:
    """Result of :meth:`MouthGuidance.apply`: ``motion [T, M]`` (guided or unchanged), ``opening [T]`` the
    track that was used (None when guidance was off), ``channel_input`` float32 numpy ``[T]`` for the stage-1
    mouth channel (None when the channel is off), ``guided``: whether ``motion`` includes the guidance."""

    motion: torch.Tensor
    opening: torch.Tensor | None
    channel_input: np.ndarray | None
    guided: bool


@dataclass
class MouthGuidance:
    """Predictor + motion-space control + gains (see the module docstring).

    ``gain``: motion-space guidance gain; ``channel_gain``: scale of the articulation fed to a stage-1 mouth
    channel. :meth:`from_file` reads a ``vqtalker train mouth`` file.
    """

    predictor: object | None = None
    control: MouthControl | None = None
    gain: float = 0.0
    channel_gain: float = 1.0
    silence: bool = True
    text_weight: float = DEFAULT_TEXT_WEIGHT
    calibration: TextCalibration | None = None
    param_gain: float = 1.0

    @classmethod
    def from_file(cls, path: str | os.PathLike, mouth_channel: bool = False) -> MouthGuidance:
        """Load a mouth file; with ``mouth_channel`` (the stage-1 model has one) the file's tuned pair
        ``gain_with_channel`` / ``channel_gain`` is used."""
        from vqtalker.mouth.predictor import load_mouth_predictor

        predictor, meta = load_mouth_predictor(path)
        control, gain = mouth_guidance(meta)
        cgain = 1.0
        if mouth_channel:
            gain = float(meta.get("gain_with_channel", gain))
            cgain = float(meta.get("channel_gain", 1.0))
        cal = TextCalibration.from_json(meta["text_calibration"]) if "text_calibration" in meta else None
        # wave-1 files (log-mel only) keep their behaviour: no voice-activity gate
        silence = json.loads(meta.get("config", "{}")).get("features", "mel100") != "mel100"
        return cls(predictor, control, gain, cgain, silence=silence, calibration=cal,
                   param_gain=float(meta.get("param_gain", 1.0)))

    def gains(self, gain: float | None = None, channel_gain: float | None = None) -> tuple[float, float]:
        """The effective ``(gain, channel_gain)`` (None = this object's), both checked >= 0."""
        from vqtalker.errors import VQTalkerError

        g = self.gain if gain is None else float(gain)
        c = self.channel_gain if channel_gain is None else float(channel_gain)
        if not g >= 0:
            raise VQTalkerError(f"mouth gain must be >= 0, got {g}")
        if not c >= 0:
            raise VQTalkerError(f"mouth channel gain must be >= 0, got {c}")
        return g, c

    def wants_opening(
        self, mouth_channel: bool, gain: float | None = None, channel_gain: float | None = None
    ) -> bool:
        """Whether a predicted opening track is needed (guidance or the channel would use it)."""
        g, c = self.gains(gain, channel_gain)
        return self.predictor is not None and (
            (g > 0 and self.control is not None) or (mouth_channel and c > 0)
        )

    @property
    def rest(self) -> float:
        """The relaxed, closed opening (20 × gap units) the mouth returns to in silence."""
        return (self.calibration or TextCalibration()).rest

    def predict(self, wave16k: np.ndarray, n_frames: int, phonemes=None) -> torch.Tensor:
        """Opening track ``[n_frames]`` (25 fps) of 16 kHz mono speech ``[N]``; ``phonemes``: espeak-ng
        phoneme timings of that speech (the text path), blended in with ``text_weight``."""
        return self.track(wave16k, n_frames, phonemes)[0]

    def track(self, wave16k: np.ndarray, n_frames: int, phonemes=None):
        """→ ``(opening [n_frames], params [n_frames, K] or None)``: :meth:`predict`, plus the predicted
        mouth parameters the control has directions for (gated in silence like the opening)."""
        allt = self.predictor.predict_all(wave16k, n_frames).float()
        o = allt[:, 0]
        params = None
        names = self.param_names()
        if names:
            outs = list(self.predictor.cfg.outputs)
            params = allt[:, [outs.index(n) for n in names]]
        if phonemes:
            from vqtalker.mouth.visemes import text_opening

            txt = torch.from_numpy(text_opening(phonemes, n_frames, self.calibration))
            o = self.text_weight * txt + (1 - self.text_weight) * o
        if self.silence:
            gate = torch.from_numpy(self.speech_gate(wave16k, n_frames))
            o = self.rest + gate * (o - self.rest)
            if params is not None:
                mean = params.mean(0, keepdim=True)
                params = mean + gate[:, None] * (params - mean)
        return o, params

    def param_names(self) -> tuple[str, ...]:
        """Mouth parameters both predicted and controllable (empty: opening only)."""
        if self.control is None or self.predictor is None or not self.control.param_names:
            return ()
        outs = set(getattr(self.predictor.cfg, "outputs", ("opening",))[1:])
        return tuple(n for n in self.control.param_names if n in outs)

    @staticmethod
    def speech_gate(wave16k: np.ndarray, n_frames: int) -> np.ndarray:
        """``[n_frames]`` in ``[0, 1]``: 1 while someone speaks, 0 in pauses (Silero voice activity with
        gaps shorter than :data:`GATE_MIN_PAUSE` frames filled — speakers keep articulating through short
        pauses — widened by 2 frames, then a 5-frame moving average for a ~0.1 s ramp)."""
        from vqtalker.speech.vad import speech_mask, speech_probability

        m = speech_mask(speech_probability(wave16k, n_frames), min_silence=GATE_MIN_PAUSE).astype(np.float64)
        if m.size == 0:
            return m.astype(np.float32)
        k = np.ones(5) / 5
        return np.convolve(np.pad(m, 2, mode="edge"), k, mode="valid").astype(np.float32)

    def apply(
        self,
        motion: torch.Tensor,
        opening: torch.Tensor | None,
        ref: float | None,
        mouth_channel: bool,
        gain: float | None = None,
        channel_gain: float | None = None,
        params: torch.Tensor | None = None,
    ) -> GuidedMotion:
        """Guide ``motion [T, M]`` with ``opening [T]`` against the portrait's opening ``ref`` (None:
        unknown, the training mean is used); ``mouth_channel``: the stage-1 model has one; ``params
        [T, K]``: predicted mouth parameters (:meth:`track`), moved along the control's directions."""
        g, c = self.gains(gain, channel_gain)
        if opening is None:
            return GuidedMotion(motion, None, None, False)
        if opening.shape[0] != motion.shape[0]:
            raise ValueError(f"the opening track has {opening.shape[0]} frames, the motion {motion.shape[0]}")
        channel = None
        if mouth_channel and c > 0:
            r = ref
            if r is None:
                r = self.control.mean_gap if self.control is not None else float(opening.mean())
            channel = channel_input(opening, r, c).numpy().astype(np.float32)
        guided = g > 0 and self.control is not None
        if guided:
            motion = self.control.apply(motion, opening, ref, g, params, self.param_gain)
        return GuidedMotion(motion, opening if (guided or channel is not None) else None, channel, guided)


__all__ = [
    "CHANNEL_LIMIT",
    "DEFAULT_CHANNEL_GAIN",
    "DEFAULT_GAIN_WITH_CHANNEL",
    "DEFAULT_MOUTH_GAIN",
    "DEFAULT_TEXT_WEIGHT",
    "GuidedMotion",
    "MouthGuidance",
    "channel_input",
    "mouth_guidance",
]
