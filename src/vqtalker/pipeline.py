"""Portrait + speech → talking-head video, in one object (diffusers-style).

    >>> from vqtalker.pipeline import TalkingHeadPipeline
    >>> pipe = TalkingHeadPipeline.from_pretrained("weights_dir")  # or (stage1=FILE, stage2=FILE)
    >>> out = pipe("portrait.jpg", "speech.wav", seed=0)
    >>> out.frames.shape, out.fps, out.tokens.shape                   # ([T, S, S, 3] uint8, 25.0, [T, 4, 12])
    >>> pipe.save_video(out, "talking.mp4")                           # H.264 + AAC, tagged as synthetic media

Steps of ``__call__`` (CPU fp32 by default):

1. crop the face from the portrait (mediapipe; ``crop=False`` for an already-cropped square face) and
   encode it with the frozen stage-1 encoder → ``f_g``, ``f_s``, skip features;
2. speech → 16 kHz mono → speech units at 50 Hz with the tokenizer the stage-2 model was trained with;
   ``T = floor(N / 2)`` video frames at 25 fps;
3. controls: pose/gaze/blink from a reference video (``pose_from``) or explicit arrays, else neutral values
   with natural blinks (:mod:`vqtalker.generate.controls`);
4. stage 2: motion tokens, 4 coarse-to-fine passes per window, windows cross-faded in motion space;
5. mouth guidance (``weights/stage2/mouth.safetensors``, beyond the paper): the predicted mouth opening
   moves the motion along the stage-1 mouth direction and drives the stage-1 mouth channel
   (:class:`vqtalker.mouth.guidance.MouthGuidance`; gains 0 = the paper's pure token output);
6. stage 1: render ``w = f_g + D(f_s + Δ̂_t)`` frame by frame (chunks), frames uint8.

The generation knobs live in one dataclass, :class:`GenerationConfig`, used by ``__call__``, the CLI and the
evaluation.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vqtalker.constants import (
    DEFAULT_MOUTH,
    DEFAULT_STAGE1,
    DEFAULT_STAGE2,
    DEFAULT_WEIGHTS_DIR,
    FPS,
    SAMPLE_RATE,
)
from vqtalker.errors import MissingWeightsError, VQTalkerError

#: A directory given to :meth:`TalkingHeadPipeline.from_pretrained` holds these files.
STAGE1_FILE = "stage1.safetensors"
#: default cap on the longer side of a pasted-back output picture (pixels)
MAX_SIDE = 1280
STAGE2_FILE = "stage2.safetensors"
MOUTH_FILE = "mouth.safetensors"


@dataclass
class GenerationConfig:
    """The pipeline's generation knobs (one place for ``__call__``, ``vqtalker animate`` and the evaluation).

    ``seed``: sampling and blink timing; ``temperature`` (0 = argmax, the paper) / ``top_k`` (0 = all):
    token sampling; ``window`` / ``overlap``: stage-2 window and cross-fade, frames at 25 fps;
    ``crop``: find and crop the face (False: the image is already a square face crop); ``blink_every``:
    seconds between natural blinks (0 = none); ``mouth_gain`` / ``mouth_channel_gain``: mouth guidance and
    stage-1 mouth-channel gains (None = the mouth file's; 0 = off); ``size``: side of the rendered face crop
    in real pixels (None = the stage-1 model's output size; sizes other than its network size need the
    full-resolution head, nothing is upsampled); ``paste_back``: return the whole picture with the animated
    crop pasted back (feathered, :mod:`vqtalker.face.paste`; only with ``crop``), else the square crop;
    ``max_side``: cap on the longer side of a pasted-back picture (even dimensions, for H.264);
    ``head_motion``: scale of the generated natural head motion when no pose is given
    (:func:`vqtalker.generate.controls.natural_pose`; 0 = a still frontal head); ``pose_offset``: (yaw, pitch,
    roll) degrees added to every frame's pose (generated, given or from a video); ``face``: which face of
    the picture to animate (0 = the largest; the others are named in the output's notes).
    """

    seed: int = 0
    temperature: float = 0.0
    top_k: int = 0
    window: int = 250
    overlap: int = 50
    crop: bool = True
    blink_every: float = 3.5
    mouth_gain: float | None = None
    mouth_channel_gain: float | None = None
    size: int | None = None
    paste_back: bool = True
    max_side: int = MAX_SIDE
    head_motion: float = 1.0
    pose_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    face: int = 0

    def replace(self, **changes) -> GenerationConfig:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown generation option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> GenerationConfig:
        """One-line :class:`VQTalkerError` for a value out of range (NaN / inf included)."""
        if len(self.pose_offset) != 3 or not all(math.isfinite(float(v)) for v in self.pose_offset):
            raise VQTalkerError(f"pose offset (--pose) must be three finite numbers, got {self.pose_offset}")
        for name in ("temperature", "blink_every", "mouth_gain", "mouth_channel_gain", "head_motion"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(float(v)) and float(v) >= 0):
                raise VQTalkerError(
                    f"{name.replace('_', ' ')} (--{name.replace('_', '-')}) must be a finite number >= 0, "
                    f"got {v}"
                )
        if self.face < 0:
            raise VQTalkerError(f"face (--face) must be >= 0, got {self.face}")
        if self.top_k < 0:
            raise VQTalkerError(f"top-k (--top-k) must be >= 0, got {self.top_k}")
        if self.window < 2:
            raise VQTalkerError(f"window (--window) must be >= 2 frames, got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise VQTalkerError(f"overlap (--overlap) must be in 0..window-1, got {self.overlap}")
        if self.size is not None and not 16 <= int(self.size) <= 1024:
            raise VQTalkerError(f"size (--size) must be between 16 and 1024 pixels, got {self.size}")
        if not 64 <= int(self.max_side) <= 4096:
            raise VQTalkerError(
                f"max side (--max-side) must be between 64 and 4096 pixels, got {self.max_side}"
            )
        return self


@dataclass
class TalkingHeadOutput:
    """Result of :class:`TalkingHeadPipeline`.

    ``frames``: uint8 ``[T, H, W, 3]`` RGB at ``fps`` (25); ``audio``: float32 ``[T · 640]`` mono speech at
    ``sample_rate`` (16 kHz), trimmed/padded to the video; ``tokens``: int16 ``[T, 4, 12]`` motion tokens
    (``None`` for a continuous-output ablation model); ``motion``: float32 ``[T, 120]`` motion difference Δ̂;
    ``controls``: the pose/gaze/blink tracks used; ``mouth``: float32 ``[T]`` predicted mouth opening
    (20 × inner-lip gap / crop side) when mouth guidance was used, else ``None``; ``mouth_input``: float32
    ``[T]`` what the stage-1 mouth channel received (:func:`vqtalker.mouth.guidance.channel_input` of
    ``mouth``), or ``None`` when the stage-1 model has no mouth channel or it was off; ``box``: the face
    crop ``(x0, y0, side)`` in the input picture's pixels (None without cropping); ``crop_size``: side of the
    rendered crop in pixels (the frames are the whole picture when pasted back).
    """

    frames: np.ndarray | None
    audio: np.ndarray
    tokens: np.ndarray | None
    motion: np.ndarray
    fps: float = float(FPS)
    sample_rate: int = SAMPLE_RATE
    controls: dict = field(default_factory=dict)
    mouth: np.ndarray | None = None
    mouth_input: np.ndarray | None = None
    box: np.ndarray | None = None
    crop_size: int = 0
    notes: list[str] = field(default_factory=list)


def _read_image(image) -> np.ndarray:
    if isinstance(image, str | os.PathLike):
        p = Path(image)
        if not p.is_file():
            raise FileNotFoundError(f"image not found: {p}")
        import cv2

        arr = cv2.imread(str(p), cv2.IMREAD_COLOR)  # applies the EXIF orientation
        if arr is None:
            return _read_image_pillow(p)  # GIF (first frame), AVIF, ... or a clear error
        return np.ascontiguousarray(arr[..., ::-1])
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise VQTalkerError(f"expected an RGB image [H, W, 3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3])


def _read_image_pillow(p: Path) -> np.ndarray:
    """Pictures OpenCV does not read (GIF: its first frame; AVIF) through Pillow, EXIF orientation applied;
    a file with a picture signature that fails to decode is reported as damaged."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            im.seek(0)
            return np.ascontiguousarray(np.array(ImageOps.exif_transpose(im).convert("RGB")))
    except UnidentifiedImageError:
        raise VQTalkerError(f"cannot read {p} as an image (not a picture format this build reads)") from None
    except Image.DecompressionBombError:
        raise VQTalkerError(f"{p} is too large a picture to read safely") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise VQTalkerError(f"{p} is a damaged picture ({exc})") from None


def _read_audio(audio, sample_rate: int) -> np.ndarray:
    from vqtalker.io.audio import load_audio, resample, to_mono

    if isinstance(audio, str | os.PathLike):
        if not Path(audio).is_file():
            raise FileNotFoundError(f"audio not found: {audio}")
        return load_audio(audio, SAMPLE_RATE)
    wave = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    return resample(to_mono(wave), int(sample_rate), SAMPLE_RATE)


class TalkingHeadPipeline:
    """Stage 1 (frozen motion tokenizer + renderer) + stage 2 (coarse-to-fine BERT) + a speech tokenizer.

    Build with :meth:`from_pretrained` or directly from objects: ``stage1`` a
    :class:`~vqtalker.motion.tokenizer.MotionTokenizer` (or a stage-1 generator module), ``stage2`` a
    :class:`MotionTokenBERT`, ``speech_tokenizer`` a :class:`vqtalker.speech.base.SpeechTokenizer` (or a
    registry name), ``control_stats`` the neutral controls
    (:class:`~vqtalker.generate.controls.ControlStats`);
    ``mouth``: optional :class:`~vqtalker.mouth.guidance.MouthGuidance` (beyond the paper); ``config``: the
    default :class:`GenerationConfig`.
    """

    def __init__(
        self,
        stage1,
        stage2,
        speech_tokenizer,
        control_stats=None,
        device: str | torch.device = "cpu",
        render_chunk: int = 16,
        mouth=None,
        config: GenerationConfig | None = None,
    ):
        from vqtalker.generate.controls import ControlStats
        from vqtalker.motion.tokenizer import MotionTokenizer

        self.device = torch.device(device)
        self.stage1 = (
            stage1
            if isinstance(stage1, MotionTokenizer)
            else MotionTokenizer(stage1.to(self.device), render_chunk, frozen=True)
        )
        self.stage2 = stage2.to(self.device).eval()
        if isinstance(speech_tokenizer, str):
            from vqtalker.speech import load_speech_tokenizer

            speech_tokenizer = load_speech_tokenizer(speech_tokenizer)
        self.speech_tokenizer = speech_tokenizer
        self.control_stats = control_stats or ControlStats()
        from vqtalker.mouth.guidance import MouthGuidance

        self.mouth = mouth if mouth is not None else MouthGuidance()
        self.config = (config or GenerationConfig()).validate()
        self._check_compatible()

    @property
    def mouth_gain(self) -> float:
        return self.mouth.gain

    @property
    def mouth_channel_gain(self) -> float:
        return self.mouth.channel_gain

    def _check_compatible(self) -> None:
        cfg = self.stage2.cfg
        if cfg.face_dim != self.stage1.face_dim:
            raise VQTalkerError(
                f"stage-2 model expects f_g of size {cfg.face_dim}, "
                f"the stage-1 model gives {self.stage1.face_dim}: "
                "use the stage-1 weights the stage-2 model was trained with"
            )
        tok = self.speech_tokenizer
        if cfg.audio_input == "discrete":
            if not getattr(tok, "is_discrete", True) or int(tok.vocab_size) > cfg.speech_vocab:
                raise VQTalkerError(
                    f"speech tokenizer {tok!r} does not match the stage-2 model (vocab {cfg.speech_vocab})"
                )
        elif getattr(tok, "is_discrete", True) or int(tok.feature_dim) != cfg.audio_dim:
            raise VQTalkerError(
                f"speech features {tok!r} do not match the stage-2 model (dim {cfg.audio_dim})"
            )

    # -- construction ---------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike | None = None,
        *,
        stage1: str | os.PathLike | None = None,
        stage2: str | os.PathLike | None = None,
        speech_tokenizer=None,
        device: str | torch.device = "cpu",
        mouth: str | os.PathLike | bool | None = None,
        config: GenerationConfig | None = None,
    ) -> TalkingHeadPipeline:
        """Load from a directory holding ``stage1.safetensors`` + ``stage2.safetensors`` (default: the
        packaged ``vqtalker/weights/stage1/lite-128.safetensors`` and ``.../stage2/lite.safetensors``);
        explicit files override. The speech tokenizer defaults to the one named in the stage-2 file.
        ``mouth``: mouth-predictor file for mouth guidance; None = ``mouth.safetensors`` of the weights
        directory (or the packaged one) when it exists and ``stage1`` is not overridden (its mouth direction
        belongs to that stage-1 model), ``False`` = none.
        Missing files raise :class:`MissingWeightsError` naming the file and how to train it.
        """
        from vqtalker.generate.checkpoint import load_stage2
        from vqtalker.generate.controls import ControlStats
        from vqtalker.motion.tokenizer import MotionTokenizer
        from vqtalker.mouth.guidance import MouthGuidance

        if path is not None:
            root = Path(path)
            if not root.is_dir():
                raise MissingWeightsError(f"weights directory not found: {root}")
            d1, d2, dm = root / STAGE1_FILE, root / STAGE2_FILE, root / MOUTH_FILE
        else:
            d1, d2, dm = DEFAULT_STAGE1, DEFAULT_STAGE2, DEFAULT_MOUTH
        s1 = Path(stage1) if stage1 is not None else d1
        s2 = Path(stage2) if stage2 is not None else d2
        from vqtalker.io.weights import check_file
        from vqtalker.motion.weights import TRAIN_HINT

        check_file(s1, "stage-1 weights", TRAIN_HINT)
        model2, meta = load_stage2(s2, device)
        tok1 = MotionTokenizer.from_pretrained(s1, device, frozen=True)
        tok = speech_tokenizer if speech_tokenizer is not None else meta.get("speech_tokenizer", "default")
        if mouth is None:
            mfile = dm if stage1 is None else None
        else:
            mfile = None if mouth is False else Path(mouth)
        guidance = None
        if mfile is not None and (mouth is not None or mfile.is_file()):
            guidance = MouthGuidance.from_file(mfile, mouth_channel=tok1.has_mouth_channel)
        return cls(
            tok1,
            model2,
            tok,
            ControlStats.from_json(meta.get("control_stats")),
            device,
            mouth=guidance,
            config=config,
        )

    # -- inputs ---------------------------------------------------------------------------------------------
    def prepare_image(self, image, crop: bool = True) -> np.ndarray:
        """Portrait (path or RGB array) → uint8 ``[S, S, 3]`` face crop at the stage-1 size."""
        from vqtalker.motion.tokenizer import to_model_frames, to_uint8

        img = _read_image(image)
        if crop:
            from vqtalker.face.crop import crop_portrait

            return crop_portrait(
                img,
                self.stage1.size,
                name=str(image) if isinstance(image, str | os.PathLike) else "the image",
            )
        return to_uint8(to_model_frames(img, self.stage1.size))[0]

    def speech_units(self, wave16k: np.ndarray) -> torch.Tensor:
        """16 kHz mono ``[N]`` → units at 50 Hz: long ``[2T]`` or float ``[2T, D]``, with ``T =
        floor(N_units / 2)``."""
        tok = self.speech_tokenizer
        units = (
            tok.encode(wave16k, SAMPLE_RATE)
            if getattr(tok, "is_discrete", True)
            else tok.encode_features(wave16k, SAMPLE_RATE)
        )
        t = units.shape[0] // self.stage2.cfg.audio_rate_ratio
        if t < 1:
            raise VQTalkerError("the speech is too short: need at least 40 ms of audio")
        return units[: t * self.stage2.cfg.audio_rate_ratio]

    # -- generation -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        image,
        audio,
        sample_rate: int = SAMPLE_RATE,
        *,
        config: GenerationConfig | None = None,
        pose: np.ndarray | None = None,
        gaze: np.ndarray | None = None,
        blink: np.ndarray | None = None,
        pose_from: str | os.PathLike | None = None,
        phonemes=None,
        **options,
    ) -> TalkingHeadOutput:
        """Animate ``image`` with ``audio`` (path, or waveform at ``sample_rate``). See the module docstring.

        ``config``: a :class:`GenerationConfig` (default: the pipeline's); ``options`` override single
        fields of it (``seed=3, temperature=0.8``). ``pose [T', 3]`` deg / ``gaze [T', 2]`` /
        ``blink [T', 2]``
        override single tracks (fitted to T); ``pose_from`` takes all three from a video's face;
        ``phonemes``: espeak-ng phoneme timings of the speech (:func:`vqtalker.tts.synthesize`; the text path
        of the mouth). All frames are returned in memory; :meth:`animate_to_file` streams them to disk
        instead.
        """
        cfg = (config or self.config).replace(**options)
        out, state, paster = self._generate(image, audio, sample_rate, cfg, pose, gaze, blink, pose_from,
                                            phonemes)
        out.frames = np.stack(list(self._frames(out, state, paster)))
        return out

    def _frames(self, out: TalkingHeadOutput, state, paster):
        """Rendered frames one by one: crops ``[S, S, 3]`` or pasted-back pictures (memory flat in T)."""
        chunks = self.stage1.render_uint8(state, torch.from_numpy(out.motion), out.mouth_input, out.crop_size)
        frames = (f for chunk in chunks for f in chunk)
        return paster.paste_many(frames) if paster is not None else frames

    @torch.no_grad()
    def animate_to_file(
        self,
        path: str | os.PathLike,
        image,
        audio,
        sample_rate: int = SAMPLE_RATE,
        *,
        config: GenerationConfig | None = None,
        pose: np.ndarray | None = None,
        gaze: np.ndarray | None = None,
        blink: np.ndarray | None = None,
        pose_from: str | os.PathLike | None = None,
        phonemes=None,
        progress=None,
        **options,
    ) -> TalkingHeadOutput:
        """Like ``__call__`` but render straight into an mp4 at ``path`` (H.264 + AAC, 25 fps, tagged as
        synthetic, atomic), chunk by chunk, so memory does not grow with the audio length. Returns the output
        without frames (``frames`` is ``None``). ``progress(stage, done, total)``, if given, is called with
        ``("render", n, T)`` after every rendered frame."""
        from vqtalker.io.video import write_video

        cfg = (config or self.config).replace(**options)
        out, state, paster = self._generate(image, audio, sample_rate, cfg, pose, gaze, blink, pose_from,
                                            phonemes)
        frames = self._frames(out, state, paster)
        if progress is not None:
            total = out.motion.shape[0]

            def counted(it):
                for i, f in enumerate(it):
                    yield f
                    progress("render", i + 1, total)

            frames = counted(frames)
        write_video(
            path, frames, fps=out.fps, audio=out.audio, sample_rate=out.sample_rate
        )
        return out

    def render_size(self, cfg: GenerationConfig) -> int:
        """The crop side the frames are rendered at under ``cfg`` (one-line error for an impossible size)."""
        size = int(cfg.size or self.stage1.output_size)
        if size != self.stage1.size and not self.stage1.has_fullres:
            raise VQTalkerError(
                f"size (--size) {size}: this stage-1 model renders {self.stage1.size} px only (it has no "
                "full-resolution head); nothing is upsampled"
            )
        return size

    def _face(self, image, cfg: GenerationConfig, size: int):
        """→ (face crop uint8 ``[max(size, S), …, 3]``, box or None, :class:`~vqtalker.face.paste.Paster` or
        None)."""
        from vqtalker.face.crop import crop_square, select_face
        from vqtalker.motion.tokenizer import to_model_frames, to_uint8

        img = _read_image(image)
        side = max(size, self.stage1.size)
        if not cfg.crop:
            return to_uint8(to_model_frames(img, side))[0], None, None
        name = str(image) if isinstance(image, str | os.PathLike) else "the image"
        choice = select_face(img, name, face=cfg.face)
        box = choice.box
        if choice.note(name):
            self._notes.append(choice.note(name))
        face = crop_square(img, box, side)
        if box[2] < size:
            self._notes.append(
                f"the face crop is {int(box[2])} px in {name}: "
                f"the {size}-px render warps an upsampled copy of it"
            )
        paster = None
        if cfg.paste_back:
            from vqtalker.face.paste import Paster

            paster = Paster(img, box, size, max_side=int(cfg.max_side))
        return face, box, paster

    def _generate(self, image, audio, sample_rate, cfg: GenerationConfig, pose, gaze, blink, pose_from,
                  phonemes=None):
        """Everything but rendering → (output with ``frames=None``, stage-1 source state, paster or None)."""
        size = self.render_size(cfg)
        self._notes: list[str] = []
        face, box, paster = self._face(image, cfg, size)
        wave = _read_audio(audio, sample_rate)
        state = self.stage1.encode_source(face)
        units = self.speech_units(wave)
        t = units.shape[0] // self.stage2.cfg.audio_rate_ratio
        ctrl = self._controls(t, wave, cfg, pose, gaze, blink, pose_from)
        out = self._motion(wave, face, state, cfg, ctrl, phonemes, units=units)
        out.box, out.crop_size, out.notes = box, size, list(self._notes)
        return out, state, paster

    def _controls(self, t: int, wave, cfg: GenerationConfig, pose, gaze, blink, pose_from) -> dict:
        """Pose / gaze / blink tracks ``[t, ·]`` for the whole clip (natural motion unless given)."""
        from vqtalker.generate.controls import controls_from_video, fit_length, natural_pose, neutral_controls

        ctrl = neutral_controls(t, self.control_stats, blink_every=cfg.blink_every, seed=cfg.seed)
        if pose_from is None and pose is None:
            ctrl["pose"] = natural_pose(t, wave, self.control_stats, scale=cfg.head_motion, seed=cfg.seed)
        if pose_from is not None:
            ctrl.update(controls_from_video(pose_from, t))
        for name, val in (("pose", pose), ("gaze", gaze), ("blink", blink)):
            if val is not None:
                ctrl[name] = fit_length(np.asarray(val, np.float32).reshape(-1, ctrl[name].shape[1]), t)
        if any(cfg.pose_offset):
            ctrl["pose"] = ctrl["pose"] + np.asarray(cfg.pose_offset, np.float32)[None]
        return ctrl

    def _motion(self, wave, face, state, cfg: GenerationConfig, ctrl: dict, phonemes=None, units=None
                ) -> TalkingHeadOutput:
        """Speech ``wave`` (16 kHz) → motion, tokens and mouth input of its frames (``frames=None``);
        ``ctrl`` tracks are fitted to the frame count."""
        from vqtalker.face.lips import image_mouth_opening
        from vqtalker.generate.controls import fit_length
        from vqtalker.generate.inference import generate_motion

        units = self.speech_units(wave) if units is None else units
        t = units.shape[0] // self.stage2.cfg.audio_rate_ratio
        ctrl = {k: fit_length(v, t) for k, v in ctrl.items()}
        channel = self.stage1.has_mouth_channel
        opening = ref = params = None
        if self.mouth.wants_opening(channel, cfg.mouth_gain, cfg.mouth_channel_gain):
            opening, params = self.mouth.track(wave, t, phonemes)
            ref = image_mouth_opening(face)
        res = generate_motion(
            self.stage2,
            units,
            torch.from_numpy(ctrl["pose"]),
            torch.from_numpy(ctrl["gaze"]),
            torch.from_numpy(ctrl["blink"]),
            state.f_g[0],
            self.stage1.detokenize,
            window=cfg.window,
            overlap=cfg.overlap,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            generator=torch.Generator().manual_seed(int(cfg.seed)),
        )
        guided = self.mouth.apply(res.motion, opening, ref, channel, cfg.mouth_gain, cfg.mouth_channel_gain,
                                  params)
        n_samples = t * SAMPLE_RATE // FPS
        wave = wave[:n_samples] if wave.size >= n_samples else np.pad(wave, (0, n_samples - wave.size))
        return TalkingHeadOutput(
            frames=None,
            audio=wave.astype(np.float32),
            tokens=None if res.tokens is None else res.tokens.to(torch.int16).numpy(),
            motion=guided.motion.numpy().astype(np.float32),
            controls=ctrl,
            mouth=None if guided.opening is None else guided.opening.numpy().astype(np.float32),
            mouth_input=guided.channel_input,
        )

    @torch.no_grad()
    def stream(
        self,
        image,
        audio,
        sample_rate: int = SAMPLE_RATE,
        *,
        config: GenerationConfig | None = None,
        pose: np.ndarray | None = None,
        gaze: np.ndarray | None = None,
        blink: np.ndarray | None = None,
        pose_from: str | os.PathLike | None = None,
        first: float = 1.0,
        segment: float = 6.0,
        **options,
    ) -> Iterator[np.ndarray]:
        """Yield the output frames (uint8 ``[H, W, 3]``, 25 fps) as they are ready, for a live player.

        The speech is processed in segments: the first ``first`` seconds, then ``segment`` seconds at a
        time, each with 0.5 s of the preceding audio as context for the speech and mouth front-ends and
        an 8-frame (0.32 s) cross-fade of the motion with the previous segment, so the first frame comes
        after one short segment instead of the whole clip (``scripts/bench_stream.py``). The frame count
        equals :meth:`__call__`'s; the motion differs from it slightly near segment boundaries. Head
        pose, blinks and the other controls are computed for the whole clip first (as in ``__call__``).
        """
        cfg = (config or self.config).replace(**options)
        if not (first > 0 and segment > 0):
            raise VQTalkerError("stream: first and segment must be > 0 seconds")
        size = self.render_size(cfg)
        self._notes = []
        face, _, paster = self._face(image, cfg, size)
        wave = _read_audio(audio, sample_rate)
        hop = SAMPLE_RATE // FPS
        total = len(wave) // hop
        if total < 1:
            raise VQTalkerError("the speech is too short: need at least 40 ms of audio")
        ctrl = self._controls(total, wave, cfg, pose, gaze, blink, pose_from)
        state = self.stage1.encode_source(face)
        ov, ctx = 8, int(0.5 * FPS)
        ends = [min(total, max(1, round(first * FPS)))]
        while ends[-1] < total:
            ends.append(min(total, ends[-1] + max(1, round(segment * FPS))))
        tail_m = tail_i = None  # motion [k, M] / mouth input [k] of frames [done, done + k), not yet shown
        done = 0  # frames emitted so far
        for j, e in enumerate(ends):
            last = j == len(ends) - 1
            a = max(0, done - ctx)  # audio from here: 0.5 s of context before the first frame still owed
            seg_ctrl = {n: v[a:e] for n, v in ctrl.items()}
            o = self._motion(wave[a * hop : e * hop], face, state, cfg, seg_ctrl)
            motion = o.motion[done - a :]
            mouth = None if o.mouth_input is None else np.asarray(o.mouth_input, np.float32)[done - a :]
            if tail_m is not None:  # cross-fade the frames held back from the previous segment
                n = min(len(tail_m), len(motion))
                w = ((np.arange(n) + 1) / (n + 1)).astype(np.float32)
                motion[:n] = (1 - w[:, None]) * tail_m[:n] + w[:, None] * motion[:n]
                if mouth is not None and tail_i is not None:
                    mouth[:n] = (1 - w) * tail_i[:n] + w * mouth[:n]
            cut = len(motion) if last else max(0, len(motion) - ov)
            tail_m = None if last else motion[cut:].copy()
            tail_i = None if (last or mouth is None) else mouth[cut:].copy()
            if cut:
                delta = torch.from_numpy(np.ascontiguousarray(motion[:cut]))
                chunks = self.stage1.render_uint8(state, delta, None if mouth is None else mouth[:cut], size)
                frames = (f for c in chunks for f in c)
                yield from (paster.paste_many(frames) if paster is not None else frames)
            done += cut

    @staticmethod
    def save_video(output: TalkingHeadOutput, path: str | os.PathLike) -> Path:
        """Write ``output`` as an H.264 + AAC mp4 at 25 fps with the speech, tagged as synthetic (atomic)."""
        from vqtalker.io.video import write_video

        return write_video(
            path, output.frames, fps=output.fps, audio=output.audio, sample_rate=output.sample_rate
        )


__all__ = ["DEFAULT_WEIGHTS_DIR", "GenerationConfig", "TalkingHeadOutput", "TalkingHeadPipeline"]
