"""The ``.vqt`` decoder: progressive, damage-tolerant, bounded memory.

:class:`VQTDecoder` takes the stream's bytes in pieces (:meth:`~VQTDecoder.feed`) and returns the frames
that became decodable — face crops ``uint8 [size, size, 3]`` at the header's ``fps`` (or the full picture
with the crop pasted back, ``full_frame=True``). Frames whose packet is damaged or missing, or whose
packet depends on one that is (no entropy-coder restart in between), or refers to a key picture that did
not arrive, are *held*: the last picture is repeated so that timing (and audio sync) is kept; the decoder
picks up again at the next key picture or resync point. Only an unusable start (no signature, another
version, no/garbled header, another stage-1 model) raises :class:`~vqtalker.errors.VQTalkerError`.
:func:`decode_file` iterates a file; :func:`read_info` parses one without a model (``vqtalker info``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vqtalker.codec import container as C
from vqtalker.codec.entropy import MODE_KEY, ArithmeticDecoder, TokenCoder
from vqtalker.errors import VQTalkerError

#: the longest run of missing frames the decoder fills by repeating its last picture (seconds)
MAX_GAP_S = 600


def render_frames(tokenizer, state, tokens: np.ndarray, mouth, size: int) -> np.ndarray:
    """Tokens ``int [n, R, G]`` (unsent layers hold the zero code) against a key picture's
    :class:`~vqtalker.motion.model.SourceState` → uint8 ``[n, size, size, 3]``; ``mouth``: ``[n]``
    mouth-channel
    input (level − key level) × step, or None. The one rendering path of encoder checks and decoder."""
    delta = tokenizer.detokenize(np.asarray(tokens, dtype=np.int64))
    return np.concatenate(list(tokenizer.render_uint8(state, delta, mouth, size=size)))


@dataclass
class DecodeStats:
    """``frames`` output, ``held`` (repeated because of damage / missing data), ``damaged`` chunks,
    ``truncated`` (the stream ended inside a chunk or before its end chunk)."""

    frames: int = 0
    held: int = 0
    damaged: int = 0
    truncated: bool = False
    keys: int = 0
    bytes: dict = field(default_factory=dict)


class VQTDecoder:
    """Progressive decoder (see the module docstring). ``tokenizer``: the stage-1
    :class:`~vqtalker.motion.tokenizer.MotionTokenizer` that made the stream (its model id is checked
    against the header); ``full_frame``: paste the crops into the full first frame (the stream must carry
    it); ``max_side``: cap on the pasted picture's longer side."""

    def __init__(self, tokenizer, full_frame: bool = False, max_side: int | None = 1280):
        self.tok = tokenizer
        self.full_frame = bool(full_frame)
        self.max_side = max_side
        self.header: C.Header | None = None
        self.audio: np.ndarray | None = None
        self.stats = DecodeStats()
        self._reader = C.ChunkReader()
        self._coder: TokenCoder | None = None
        self._next = 0  # next frame index to output
        self._chain_ok = False  # the coder state is valid for a non-reset packet
        self._key = None  # (frame, picture, SourceState, level) of the current key picture
        self._pending_key = None  # key picture waiting for its packet: (frame, picture, mouth level)
        self._last = None  # last output picture (crop)
        self._paster = None
        self._full = None
        self._end = None

    # -- public ------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[np.ndarray]:
        """Give the next bytes of the stream; returns the frames that could be output (in order)."""
        out: list[np.ndarray] = []
        for c in self._reader.feed(data):
            out.extend(self._chunk(c))
        return out

    def finish(self) -> list[np.ndarray]:
        """End of stream: the frames still owed (holds up to the end chunk's count)."""
        out: list[np.ndarray] = []
        for c in self._reader.finish():
            out.extend(self._chunk(c))
        if self.header is None:
            raise VQTalkerError("the .vqt stream ended before its header (empty or truncated file)")
        if self._end is None:
            self.stats.truncated = True
        elif self._next < self._end:
            out.extend(self._hold(self._end - self._next))
        self.stats.damaged = self._reader.damaged
        return out

    # -- chunks ------------------------------------------------------------------------------------------
    def _chunk(self, c: C.Chunk) -> list[np.ndarray]:
        self.stats.bytes[c.kind.decode("ascii", "replace")] = (
            self.stats.bytes.get(c.kind.decode("ascii", "replace"), 0) + len(c.payload)
        )
        if self.header is None:
            if c.damaged or c.kind != C.HEAD:
                raise VQTalkerError("the .vqt header is missing or damaged; nothing can be decoded")
            self._set_header(C.Header.from_bytes(c.payload))
            return []
        if c.damaged:
            self._chain_ok = False
            return []
        if c.kind == C.AUDIO:
            from vqtalker.codec.audio import decode_audio

            try:
                self.audio = decode_audio(c.payload)
            except VQTalkerError as exc:
                warnings.warn(f"audio track skipped: {exc}", stacklevel=2)
        elif c.kind == C.FULL:
            self._set_full(c.payload)
        elif c.kind == C.KEY:
            self._set_key(c.payload)
        elif c.kind == C.TOKENS:
            try:
                pkt = C.parse_tokens(c.payload)
            except C.VQTFormatError:
                self._chain_ok = False
                return []
            return self._packet(pkt)
        elif c.kind == C.END:
            try:
                self._end = C.parse_end(c.payload)
            except C.VQTFormatError:
                pass
        return []

    def _set_header(self, h: C.Header) -> None:
        from vqtalker.codec.modelid import model_id

        mine = model_id(self.tok.generator)
        if h.model_id != mine:
            raise VQTalkerError(
                f"this .vqt file was made with other stage-1 weights (model id {h.model_id}, "
                f"{h.model_name or 'unnamed'}); the loaded model is {mine} — pass --stage1 with the weights "
                "that made it"
            )
        q = self.tok.cfg
        if (h.layers, h.groups, list(h.levels)) != (q.num_quantizers, q.quant_groups, list(q.levels)):
            raise VQTalkerError("the .vqt token layout does not match the stage-1 model")
        if h.size != self.tok.size and not self.tok.has_fullres:
            raise VQTalkerError(
                f"the stream is {h.size} px; this stage-1 model renders {self.tok.size} px only"
            )
        if h.mouth_bits and not self.tok.has_mouth_channel:
            raise VQTalkerError("the stream has mouth side information but the model has no mouth channel")
        self.header = h
        self._coder = TokenCoder(h.layers, h.groups, h.levels, 2**h.mouth_bits if h.mouth_bits else 0)

    def _set_full(self, payload: bytes) -> None:
        from vqtalker.codec.pictures import decode_picture

        try:
            img = decode_picture(payload)
        except VQTalkerError as exc:
            warnings.warn(f"full frame skipped: {exc}", stacklevel=2)
            return
        self._full = img
        if self.full_frame and self.header.crop_box is not None:
            from vqtalker.face.paste import Paster

            self._paster = Paster(img, np.asarray(self.header.crop_box, np.float64), self.header.size,
                                  max_side=self.max_side)

    def _set_key(self, payload: bytes) -> None:
        from vqtalker.codec.pictures import decode_picture

        try:
            frame, fmt, level, data = C.parse_key(payload)
            pic = decode_picture(data, shape=(self.header.size, self.header.size))
        except VQTalkerError:
            self._pending_key = None
            return
        self._pending_key = (frame, pic, level)

    def _packet(self, pkt: C.TokenPacket) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        if pkt.first + pkt.count <= self._next:
            return out  # a duplicate / out-of-order packet: already shown
        if pkt.first > self._next:
            out.extend(self._hold(pkt.first - self._next))
        key_ok = self._ensure_key(pkt.key)
        if not key_ok or not (pkt.reset or self._chain_ok):
            self._chain_ok = False
            out.extend(self._hold(pkt.first + pkt.count - self._next))
            return out
        if pkt.reset:
            self._coder.reset()
        dec = ArithmeticDecoder(pkt.coded)
        h = self.header
        frames: list = []  # per frame: ("pic", img) | ("render", tokens, mouth) | ("skip",)
        for t in range(pkt.first, pkt.first + pkt.count):
            mode, tokens, level = self._coder.decode_frame(dec)
            if mode == MODE_KEY:
                if self._key is None or self._key[0] != t:
                    # a key mode without its picture: the stream is inconsistent from here
                    self._chain_ok = False
                    frames.append(("skip",))
                    continue
                self._key = (t, self._key[1], self._key[2], self._key[3] if level is None else level)
                frames.append(("pic", self._key[1]))
            elif tokens is not None:
                mouth = None if level is None else (level - self._key[3]) * h.mouth_step
                frames.append(("render", tokens, mouth))
            else:
                frames.append(("skip",))
        if dec.overrun:
            self._chain_ok = False
            out.extend(self._hold(pkt.first + pkt.count - self._next))
            return out
        self._chain_ok = True
        out.extend(self._emit_packet(frames, pkt.first))
        return out

    def _ensure_key(self, key_frame: int) -> bool:
        if self._key is not None and self._key[0] == key_frame:
            return True
        if self._pending_key is not None and self._pending_key[0] == key_frame:
            frame, pic, level = self._pending_key  # the mouth level travels with the picture
            self._key = (frame, pic, self.tok.encode_source(pic), level)
            self._pending_key = None
            self.stats.keys += 1
            return True
        return False

    def _emit_packet(self, frames: list, first: int) -> list[np.ndarray]:
        idx = [i for i, f in enumerate(frames) if f[0] == "render"]
        rendered = {}
        if idx:
            toks = np.stack([frames[i][1] for i in idx])
            mouth = None
            if self.header.mouth_bits:
                mouth = np.asarray([frames[i][2] for i in idx], np.float32)
            pics = render_frames(self.tok, self._key[2], toks, mouth, self.header.size)
            rendered = dict(zip(idx, pics, strict=True))
        out = []
        for i, f in enumerate(frames):
            if f[0] == "pic":
                pic = f[1]
            elif f[0] == "render":
                pic = rendered[i]
            else:
                pic = self._last
            if pic is None:
                pic = np.full((self.header.size, self.header.size, 3), 128, np.uint8)
            self._last = pic
            out.append(self._present(pic))
            self._next += 1
            self.stats.frames += 1
        return out

    def _hold(self, n: int) -> list[np.ndarray]:
        """Repeat the last picture ``n`` times (one shared array); a gap over :data:`MAX_GAP_S` seconds is
        damage, not a pause, and is not filled."""
        n = max(0, int(n))
        if n > MAX_GAP_S * self.header.fps:
            self.stats.truncated = True
            return []
        pic = self._last
        if pic is None:
            pic = np.full((self.header.size, self.header.size, 3), 128, np.uint8)
        shown = self._present(pic) if n else None
        self._next += n
        self.stats.frames += n
        self.stats.held += n
        return [shown] * n

    def _present(self, crop: np.ndarray) -> np.ndarray:
        if self.full_frame:
            if self._paster is None:
                raise VQTalkerError("this .vqt file has no full frame (encode it with --full-frame)")
            return self._paster.paste(crop)
        return crop


def decode_file(tokenizer, path, *, full_frame: bool = False, max_side: int | None = 1280,
                block: int = 1 << 16) -> tuple[VQTDecoder, Iterator[np.ndarray]]:
    """Open a ``.vqt`` file: ``(decoder, frames)``; the decoder's ``header`` is set once the first frame is
    read (the iterator reads ``block`` bytes at a time, so memory stays flat in length)."""
    path = Path(path)
    if not path.is_file():
        raise VQTalkerError(f"input not found: {path}")
    if path.stat().st_size == 0:
        raise VQTalkerError(f"{path} is empty")
    dec = VQTDecoder(tokenizer, full_frame=full_frame, max_side=max_side)

    def frames():
        with open(path, "rb") as fh:
            while True:
                data = fh.read(block)
                if not data:
                    break
                yield from dec.feed(data)
        yield from dec.finish()

    return dec, frames()


@dataclass
class StreamInfo:
    """What ``vqtalker info`` prints: the header, frames, duration and bytes per chunk kind."""

    header: C.Header
    frames: int
    keys: int
    packets: int
    damaged: int
    truncated: bool
    bytes: dict
    layer_frames: dict

    @property
    def duration(self) -> float:
        return self.frames / self.header.fps

    def kbps(self, *kinds: str) -> float:
        return 8 * sum(self.bytes.get(k, 0) for k in kinds) / max(self.duration, 1e-9) / 1000.0


def read_info(path) -> StreamInfo:
    """Parse a ``.vqt`` file without a model (chunk sizes, frame count, key pictures, frame modes of
    packets that restart the coder are not decoded — ``layer_frames`` stays empty)."""
    path = Path(path)
    if not path.is_file():
        raise VQTalkerError(f"input not found: {path}")
    data = path.read_bytes()
    if not data:
        raise VQTalkerError(f"{path} is empty")
    r = C.ChunkReader()
    chunks = r.feed(data) + r.finish()
    if not chunks or chunks[0].damaged or chunks[0].kind != C.HEAD:
        raise VQTalkerError(f"{path}: the .vqt header is missing or damaged")
    header = C.Header.from_bytes(chunks[0].payload)
    nbytes = {"overhead": len(C.PREAMBLE)}
    frames, keys, packets, end = 0, 0, 0, None
    for c in chunks:
        nbytes["overhead"] += 12
        if c.damaged:
            continue
        kind = {C.HEAD: "overhead", C.AUDIO: "audio", C.FULL: "full", C.KEY: "keys", C.TOKENS: "tokens",
                C.END: "overhead"}[c.kind]
        nbytes[kind] = nbytes.get(kind, 0) + len(c.payload)
        if c.kind == C.KEY:
            keys += 1
        elif c.kind == C.TOKENS:
            try:
                p = C.parse_tokens(c.payload)
                frames = max(frames, p.first + p.count)
                packets += 1
            except C.VQTFormatError:
                pass
        elif c.kind == C.END:
            try:
                end = C.parse_end(c.payload)
            except C.VQTFormatError:
                pass
    return StreamInfo(header, end if end is not None else frames, keys, packets, r.damaged, end is None,
                      nbytes, {})


__all__ = ["DecodeStats", "StreamInfo", "VQTDecoder", "decode_file", "read_info", "render_frames"]
