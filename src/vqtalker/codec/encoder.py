"""The ``.vqt`` encoder: face crops → key pictures + entropy-coded motion tokens (+ mouth side info, audio).

:class:`VQTEncoder` is streaming: :meth:`~VQTEncoder.add` face crops ``uint8 [n, S, S, 3]`` as they come
(any square size; resized to the stream's ``size``), :meth:`~VQTEncoder.close` at the end; bytes go to a
``write`` callable as soon as a packet is complete (memory stays flat in length). Every frame is either a
key picture (a still image of the crop; the receiver shows it and renders the following frames from it),
the first ``k`` residual layers of its GRFSQ tokens against the last key picture, or a skip (the receiver
repeats its last picture) — chosen by :class:`~vqtalker.codec.ratecontrol.RateController`, which sees what
the receiver will show: the encoder renders checked frames exactly as :mod:`vqtalker.codec.decoder` does
(from the *decoded* key picture). :func:`encode_video` is the file-to-file form (fixed face crop for the
whole clip, as in training; audio as Opus; optionally the full first frame for paste-back).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vqtalker.codec import container as C
from vqtalker.codec.entropy import MODE_KEY, ArithmeticEncoder, TokenCoder, mode_skip
from vqtalker.codec.ratecontrol import RateControlConfig, RateController
from vqtalker.errors import VQTalkerError
from vqtalker.utils.imagemetrics import luma_ssim

ENCODER_NAME = "vqtalker-codec-1"


@dataclass
class EncoderConfig:
    """``size``: side of the coded (and decoded) face crop in pixels; ``rate``: the rate control;
    ``key_format`` / ``key_quality``: picture codec and quality (0–100) of key pictures (see
    :mod:`vqtalker.codec.pictures`; None = :meth:`auto_key_quality`);
    ``packet_frames``: frames per token packet (the unit of progressive decoding); ``resync``: seconds
    between entropy-coder restarts when no key picture comes (a receiver can join / recover there);
    ``mouth``: send the mouth side information (models with the mouth channel only); ``audio_kbps``:
    Opus bitrate of the audio track; ``full_frame``: also send the full first frame (paste-back), longer
    side at most ``full_max_side`` px, at ``full_quality``."""

    size: int = 256
    rate: RateControlConfig = field(default_factory=RateControlConfig)
    key_format: str = "avif"
    key_quality: int | None = None
    packet_frames: int = 25
    resync: float = 5.0
    mouth: bool = True
    audio_kbps: float = 16.0
    full_frame: bool = False
    full_max_side: int = 1280
    full_quality: int = 40

    def auto_key_quality(self) -> int:
        """Key-picture quality when none is given: 40 without a budget (one sharp picture that lasts);
        with a budget, lower quality and more frequent refreshes (``6 + 0.4 · kbps``, 10..40) — on the dev
        clips a refreshed rough picture beats a rarely-sent fine one at equal rate (README, codec)."""
        if self.key_quality is not None:
            return int(self.key_quality)
        if self.rate.kbps is None:
            return 40
        return int(min(40, max(10, round(6 + 0.4 * self.rate.kbps))))

    def validate(self) -> None:
        if not 16 <= self.size <= 1024:
            raise VQTalkerError(f"--size must be in 16..1024, got {self.size}")
        if not 1 <= self.packet_frames <= 250:
            raise VQTalkerError(f"--packet-frames must be in 1..250, got {self.packet_frames}")
        if self.key_quality is not None and not 0 <= self.key_quality <= 100:
            raise VQTalkerError(f"--key-quality must be in 0..100, got {self.key_quality}")
        if not self.resync > 0:
            raise VQTalkerError(f"--resync must be > 0 seconds, got {self.resync}")


@dataclass
class EncodeStats:
    """Bits written, by kind (``tokens`` includes the frame modes and mouth side information; ``overhead``
    = signature, header and chunk framing), frames, key pictures, skipped frames and wall time."""

    frames: int = 0
    fps: float = 25.0
    keys: int = 0
    skips: int = 0
    layer_frames: dict = field(default_factory=dict)
    bits: dict = field(default_factory=lambda: {"tokens": 0, "keys": 0, "audio": 0, "full": 0, "overhead": 0})
    seconds: float = 0.0
    checks: list = field(default_factory=list)  # (frame, receiver SSIM) of the rate-control checks

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps else 0.0

    def kbps(self, *kinds: str) -> float:
        """kbit/s of the given kinds (all video kinds — tokens, keys, overhead — when none given)."""
        kinds = kinds or ("tokens", "keys", "overhead")
        return sum(self.bits[k] for k in kinds) / max(self.duration, 1e-9) / 1000.0


class VQTEncoder:
    """Streaming encoder (see the module docstring). ``tokenizer``: a
    :class:`~vqtalker.motion.tokenizer.MotionTokenizer`; ``write``: receives the stream's bytes in order;
    ``fps``: frame rate of the crops; ``crop_box`` / ``frame_size`` / ``full_frame``: where the crop sits in
    the full picture (header) and the full first frame to send (with ``cfg.full_frame``); ``audio``:
    16 kHz mono float32 ``[N]`` for the audio track (None = no audio)."""

    def __init__(self, tokenizer, cfg: EncoderConfig, write: Callable[[bytes], None], fps: float = 25.0, *,
                 crop_box=None, frame_size=None, full_frame: np.ndarray | None = None,
                 audio: np.ndarray | None = None):
        from vqtalker.codec.modelid import model_id
        from vqtalker.codec.sideinfo import MOUTH_SIDE_BITS, MOUTH_SIDE_STEP

        cfg.validate()
        if not 0 < fps <= 240:
            raise VQTalkerError(f"frame rate must be in (0, 240], got {fps}")
        self.tok = tokenizer
        self.cfg = cfg
        self.fps = float(fps)
        self._write = write
        q = tokenizer.cfg
        self.layers, self.groups, self.levels = int(q.num_quantizers), int(q.quant_groups), list(q.levels)
        if cfg.size != tokenizer.size and not tokenizer.has_fullres:
            raise VQTalkerError(
                f"--size {cfg.size}: this stage-1 model renders {tokenizer.size} px only "
                "(no full-resolution head)"
            )
        self.mouth = bool(cfg.mouth and tokenizer.has_mouth_channel)
        self.mouth_step = MOUTH_SIDE_STEP
        self.rc = RateController(cfg.rate, self.fps, self.layers)
        mouth_levels = 2**MOUTH_SIDE_BITS if self.mouth else 0
        self.coder = TokenCoder(self.layers, self.groups, self.levels, mouth_levels)
        self.stats = EncodeStats(fps=self.fps)
        self._meter = None
        if self.mouth:
            from vqtalker.codec.sideinfo import MouthMeter

            self._meter = MouthMeter()
        self._pending: list[np.ndarray] = []
        self._t = 0
        self._state = None  # SourceState of the current key picture (decoded)
        self._key_frame = -1
        self._key_level = 0
        self._segment_start = 0
        self._packet = None  # [first, key, reset, ArithmeticEncoder, count]
        self._t0 = time.time()
        box = None if crop_box is None else [float(v) for v in np.asarray(crop_box).reshape(-1)[:3]]
        full_bytes = None
        if cfg.full_frame and full_frame is not None:
            full_bytes, box, frame_size = self._full_picture(full_frame, box)
        header = C.Header(
            fps=self.fps, size=cfg.size, model_id=model_id(tokenizer.generator), layers=self.layers,
            groups=self.groups, levels=self.levels, mouth_bits=MOUTH_SIDE_BITS if self.mouth else 0,
            mouth_step=self.mouth_step, packet_frames=cfg.packet_frames, key_format=cfg.key_format,
            crop_box=box, frame_size=None if frame_size is None else [int(v) for v in frame_size][:2],
            model_name=str(getattr(q, "name", "")), encoder=ENCODER_NAME,
        )
        self._emit(C.PREAMBLE, "overhead")
        self._emit(C.chunk(C.HEAD, header.to_bytes()), "overhead")
        if audio is not None and len(audio):
            from vqtalker.codec.audio import encode_audio

            self._emit_chunk(C.AUDIO, encode_audio(audio, cfg.audio_kbps), "audio")
        if full_bytes is not None:
            self._emit_chunk(C.FULL, full_bytes, "full")

    # -- output ------------------------------------------------------------------------------------------
    def _emit(self, data: bytes, kind: str) -> None:
        self._write(data)
        self.stats.bits[kind] += 8 * len(data)

    def _emit_chunk(self, kind: bytes, payload: bytes, stat: str) -> None:
        data = C.chunk(kind, payload)
        self._write(data)
        self.stats.bits[stat] += 8 * len(payload)
        self.stats.bits["overhead"] += 8 * (len(data) - len(payload))

    def _full_picture(self, image: np.ndarray, box):
        import cv2

        from vqtalker.codec.pictures import encode_picture

        img = np.asarray(image)
        h, w = img.shape[:2]
        f = min(1.0, self.cfg.full_max_side / max(h, w))
        if f < 1.0:
            img = cv2.resize(img, (max(2, round(w * f)), max(2, round(h * f))), interpolation=cv2.INTER_AREA)
            box = None if box is None else [v * f for v in box]
        return encode_picture(img, self.cfg.key_format, self.cfg.full_quality), box, img.shape[:2]

    # -- input -------------------------------------------------------------------------------------------
    def add(self, crops: np.ndarray) -> None:
        """Queue face crops uint8 ``[n, S', S', 3]`` (or one ``[S', S', 3]``); full packets are coded now."""
        x = np.asarray(crops)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3 or x.shape[1] != x.shape[2] or x.dtype != np.uint8:
            raise VQTalkerError(f"crops must be square uint8 [n, S, S, 3], got {x.dtype} {x.shape}")
        if x.shape[1] != self.cfg.size:
            import cv2

            interp = cv2.INTER_AREA if x.shape[1] > self.cfg.size else cv2.INTER_LINEAR
            x = np.stack([cv2.resize(f, (self.cfg.size, self.cfg.size), interpolation=interp) for f in x])
        self._pending.extend(list(x))
        while len(self._pending) >= self.cfg.packet_frames:
            n = self.cfg.packet_frames
            batch, self._pending = self._pending[:n], self._pending[n:]
            self._code(np.stack(batch))

    def close(self) -> EncodeStats:
        """Code what is queued, write the end chunk; returns the :class:`EncodeStats`."""
        if self._pending:
            self._code(np.stack(self._pending))
            self._pending = []
        self._flush_packet()
        self._emit_chunk(C.END, C.end_payload(self._t), "overhead")
        self.release()
        self.stats.frames = self._t
        self.stats.keys = self.rc.keys
        self.stats.seconds = time.time() - self._t0
        return self.stats

    # -- coding ------------------------------------------------------------------------------------------
    def release(self) -> None:
        """Free the face tracker and the worker thread (``close`` does it; call it yourself on error)."""
        if self._meter is not None:
            self._meter.close()
            self._meter = None
        if getattr(self, "_executor", None) is not None:
            self._executor.shutdown()
            self._executor = None

    def _pool(self):
        if getattr(self, "_executor", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vqt-mouth")
        return self._executor

    def _flush_packet(self) -> None:
        if self._packet is None:
            return
        first, key, reset, enc, count = self._packet
        coded = enc.finish()
        payload = C.token_payload(first, count, key, C.FLAG_RESET if reset else 0, coded)
        self._emit_chunk(C.TOKENS, payload, "tokens")
        self._packet = None

    def _open_packet(self, t: int, reset: bool) -> ArithmeticEncoder:
        self._flush_packet()
        if reset:
            self.coder.reset()
            self._segment_start = t
        enc = ArithmeticEncoder()
        self._packet = [t, self._key_frame, reset, enc, 0]
        return enc

    def _send_key(self, t: int, crop: np.ndarray, level: int = 0) -> int:
        from vqtalker.codec.pictures import decode_picture, encode_picture

        data = encode_picture(crop, self.cfg.key_format, self.cfg.auto_key_quality())
        decoded = decode_picture(data)
        self._state = self.tok.encode_source(decoded)
        self._key_frame = t
        self._emit_chunk(C.KEY, C.key_payload(t, self.cfg.key_format, data, level), "keys")
        return 8 * (len(data) + 21)

    def _code(self, crops: np.ndarray) -> None:
        n = len(crops)
        future = None
        if self._meter is not None:  # the face mesh runs beside the motion encoder (it releases the GIL)
            future = self._pool().submit(self._meter.levels, crops)
        f = self.tok.motion_codes(crops)  # [n, M]
        levels = future.result() if future is not None else None
        for i in range(n):
            t = self._t
            action, k = self.rc.decide(t)
            spent = 0.0
            if action == "key":
                self._flush_packet()
                self._key_level = int(levels[i]) if levels is not None else 0
                spent += self._send_key(t, crops[i], self._key_level)
                enc = self._open_packet(t, reset=True)
            else:
                new_packet = self._packet is None or self._packet[4] >= self.cfg.packet_frames
                if new_packet:
                    resync = (t - self._segment_start) / self.fps >= self.cfg.resync - 1e-9
                    enc = self._open_packet(t, reset=resync)
                    spent += 8 * 23
                enc = self._packet[3]
            before = enc.bits_estimate
            lv = int(levels[i]) if levels is not None else None
            if action == "key":
                self.coder.encode_frame(enc, MODE_KEY, None, lv)
            elif action == "skip":
                self.coder.encode_frame(enc, mode_skip(self.layers), None, lv)
                self.stats.skips += 1
            else:
                delta = f[i : i + 1] - self._state.f_s
                idx = self.tok.quantize(delta)[0]  # [R, G]
                self.coder.encode_frame(enc, k, idx.numpy(), lv)
                self.stats.layer_frames[k] = self.stats.layer_frames.get(k, 0) + 1
                if self.rc.needs_check(t):
                    ssim = luma_ssim(self._receiver_frame(idx, k, lv), crops[i])
                    self.rc.quality(ssim)
                    self.stats.checks.append((t, ssim))
            self._packet[4] += 1
            spent += enc.bits_estimate - before
            self.rc.spent(spent, key=action == "key", t=t)
            self._t += 1

    def _receiver_frame(self, idx, k: int, level: int | None) -> np.ndarray:
        """What the decoder shows for tokens ``idx [R, G]`` (first ``k`` layers) — same code path."""
        from vqtalker.codec.decoder import render_frames

        tok = np.asarray(idx).copy()
        tok[k:] = self.coder.zero_index
        mouth = None if level is None else [(level - self._key_level) * self.mouth_step]
        return render_frames(self.tok, self._state, tok[None], mouth, self.cfg.size)[0]


def _fixed_box_frames(path, size: int, max_frames: int | None, search: int = 25):
    """(fps, box, frame size, first frame, iterator of crops uint8 [size, size, 3]) of a video file, with one
    face box for the whole clip (the first frame with a face among the first ``search``)."""
    from vqtalker.codec.reconstruct import crop_box
    from vqtalker.face import crop_square
    from vqtalker.io.video import iter_frames, probe_video

    info = probe_video(path)
    if not info.has_video:
        raise VQTalkerError(f"{path} has no video stream")
    fps = float(info.fps or 25.0)
    it = iter_frames(path)
    head = []
    for _, fr in it:
        head.append(fr)
        if len(head) >= search or (max_frames is not None and len(head) >= max_frames):
            break
    if not head:
        raise VQTalkerError(f"{path}: no frames")
    box = crop_box(np.stack(head), search=search)

    def crops():
        n = 0
        for fr in head:
            if max_frames is not None and n >= max_frames:
                return
            n += 1
            yield crop_square(fr, box, size)
        for _, fr in it:
            if max_frames is not None and n >= max_frames:
                return
            n += 1
            yield crop_square(fr, box, size)

    return fps, box, head[0].shape[:2], head[0], crops()


def encode_video(tokenizer, path, output, cfg: EncoderConfig, *, max_frames: int | None = None,
                 audio: bool = True, crop: bool = True, progress: Callable[[int], None] | None = None
                 ) -> EncodeStats:
    """Encode the talking-head video file ``path`` into the ``.vqt`` file ``output`` (atomically: nothing
    is left on error). ``crop=False``: the video is already a square face crop. ``progress(frames)`` is
    called after every packet."""
    from vqtalker.io.audio import load_audio
    from vqtalker.io.video import iter_frames, probe_video
    from vqtalker.utils import atomic_output

    if crop:
        fps, box, frame_size, first, crops = _fixed_box_frames(path, cfg.size, max_frames)
    else:
        info = probe_video(path)
        fps, box, frame_size, first = float(info.fps or 25.0), None, None, None
        if info.height != info.width:
            raise VQTalkerError(f"{path} is {info.width}x{info.height}; --no-crop needs a square video")

        def crops_gen():
            for n, (_, fr) in enumerate(iter_frames(path)):
                if max_frames is not None and n >= max_frames:
                    return
                yield fr

        crops = crops_gen()
    wave = None
    if audio and probe_video(path).has_audio:
        wave = load_audio(path)
        if max_frames is not None:
            wave = wave[: int(round(max_frames / fps * 16000))]
    with atomic_output(output, suffix=".vqt") as tmp, open(tmp, "wb") as fh:
        enc = VQTEncoder(tokenizer, cfg, fh.write, fps, crop_box=box, frame_size=frame_size,
                         full_frame=first, audio=wave)
        try:
            batch = []
            for c in crops:
                batch.append(c)
                if len(batch) == cfg.packet_frames:
                    enc.add(np.stack(batch))
                    batch = []
                    if progress is not None:
                        progress(enc._t)
            if batch:
                enc.add(np.stack(batch))
            stats = enc.close()
        finally:
            enc.release()
        if stats.frames == 0:
            raise VQTalkerError(f"{path}: no frames to encode")
    return stats


__all__ = ["ENCODER_NAME", "EncodeStats", "EncoderConfig", "VQTEncoder", "encode_video", "luma_ssim"]
