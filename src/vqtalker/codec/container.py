"""The ``.vqt`` container: a signature, then CRC-protected chunks (spec: ``docs/vqt-format.md``).

File layout::

    SIGNATURE (8 bytes: 0x89 'V' 'Q' 'T' 0x0D 0x0A 0x1A 0x0A) · version u8 · reserved u8
    chunk*  where chunk = type (4 ASCII bytes) · length u32 · payload (length bytes) · CRC-32 u32 of
                           type + payload                               (all integers big-endian)

Chunk types: ``HEAD`` (JSON header, first), ``AUDI`` (audio track), ``FULL`` (the full first frame for
paste-back), ``KEYP`` (a key picture), ``TOKS`` (a packet of coded frames), ``ENDS`` (end: frame count).
:class:`ChunkReader` parses incrementally (bytes may arrive in pieces); a chunk whose CRC fails is
reported as damaged and skipped, and the reader resynchronises on the next valid chunk header. Nothing
here knows about models or pixels.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from vqtalker.errors import VQTalkerError

SIGNATURE = b"\x89VQT\r\n\x1a\n"
VERSION = 1
PREAMBLE = SIGNATURE + bytes([VERSION, 0])

HEAD, AUDIO, FULL, KEY, TOKENS, END = b"HEAD", b"AUDI", b"FULL", b"KEYP", b"TOKS", b"ENDS"
CHUNK_TYPES = (HEAD, AUDIO, FULL, KEY, TOKENS, END)

#: largest chunk payload a reader accepts (a length beyond it is treated as damage)
MAX_CHUNK = 64 << 20

_KEY_HDR = struct.Struct(">I4sB")  # frame index, picture format (ASCII, space-padded), mouth level
_TOK_HDR = struct.Struct(">IHIB")  # first frame, frame count, key frame it refers to, flags
FLAG_RESET = 1  # the entropy coder starts from its initial state at this packet


class VQTFormatError(VQTalkerError):
    """The bytes are not a (decodable) ``.vqt`` stream."""


def chunk(kind: bytes, payload: bytes) -> bytes:
    """Serialise one chunk (type, length, payload, CRC-32)."""
    if kind not in CHUNK_TYPES:
        raise ValueError(f"unknown chunk type {kind!r}")
    if len(payload) > MAX_CHUNK:
        raise VQTalkerError(f"a {kind.decode()} chunk of {len(payload)} bytes exceeds the format's "
                            f"{MAX_CHUNK >> 20} MiB (use a lower --audio-kbps or a shorter clip)")
    return kind + struct.pack(">I", len(payload)) + payload + struct.pack(">I", zlib.crc32(kind + payload))


@dataclass
class Header:
    """The ``HEAD`` chunk (UTF-8 JSON). ``fps``: frames per second; ``size``: side of the decoded face
    crop in pixels; ``crop_box``: ``[x0, y0, side]`` of the crop in the full frame (pixels, may be None);
    ``frame_size``: ``[height, width]`` of the full frame; ``model_id``: hash of the stage-1 weights that
    made the tokens (:func:`vqtalker.codec.modelid.model_id`); ``layers``, ``groups``, ``levels``: the token
    layout; ``mouth_bits`` / ``mouth_step``: the mouth side information (0 bits = none);
    ``packet_frames``: frames per ``TOKS`` packet; ``key_format``: picture codec of ``KEYP``/``FULL``."""

    fps: float
    size: int
    model_id: str
    layers: int
    groups: int
    levels: list[int]
    mouth_bits: int = 0
    mouth_step: float = 0.05
    packet_frames: int = 25
    key_format: str = "avif"
    crop_box: list[int] | None = None
    frame_size: list[int] | None = None
    model_name: str = ""
    encoder: str = ""
    extra: dict = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Header:
        try:
            d = json.loads(data.decode("utf-8"))
            h = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
            h.fps, h.size = float(h.fps), int(h.size)
            h.layers, h.groups, h.levels = int(h.layers), int(h.groups), [int(v) for v in h.levels]
            h.mouth_bits, h.packet_frames = int(h.mouth_bits), int(h.packet_frames)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise VQTFormatError(f"the .vqt header is unreadable ({exc})") from None
        if not (0 < h.fps <= 240 and 16 <= h.size <= 2048 and 1 <= h.layers <= 16 and 1 <= h.groups <= 64
                and h.levels and all(2 <= v <= 64 for v in h.levels) and 0 <= h.mouth_bits <= 8
                and 1 <= h.packet_frames <= 1000):
            raise VQTFormatError("the .vqt header has values out of range")
        return h


def key_payload(frame: int, fmt: str, picture: bytes, mouth_level: int = 0) -> bytes:
    return _KEY_HDR.pack(int(frame), fmt.encode("ascii")[:4].ljust(4), int(mouth_level)) + picture


def parse_key(payload: bytes) -> tuple[int, str, int, bytes]:
    """``KEYP`` payload → (frame index, picture format, mouth level at that frame, picture bytes)."""
    if len(payload) < _KEY_HDR.size:
        raise VQTFormatError("key-picture chunk too short")
    frame, fmt, level = _KEY_HDR.unpack_from(payload)
    return int(frame), fmt.decode("ascii", "replace").strip(), int(level), payload[_KEY_HDR.size :]


def token_payload(first: int, count: int, key: int, flags: int, coded: bytes) -> bytes:
    return _TOK_HDR.pack(int(first), int(count), int(key), int(flags)) + coded


@dataclass
class TokenPacket:
    """A ``TOKS`` chunk: frames ``[first, first + count)``, coded against the key picture at frame
    ``key``; ``reset``: the entropy coder restarts here (a decoder can join the stream at this packet)."""

    first: int
    count: int
    key: int
    reset: bool
    coded: bytes


def parse_tokens(payload: bytes) -> TokenPacket:
    if len(payload) < _TOK_HDR.size:
        raise VQTFormatError("token chunk too short")
    first, count, key, flags = _TOK_HDR.unpack_from(payload)
    if count == 0 or key > first:
        raise VQTFormatError("token chunk with an impossible frame range")
    return TokenPacket(int(first), int(count), int(key), bool(flags & FLAG_RESET), payload[_TOK_HDR.size :])


def end_payload(frames: int) -> bytes:
    return struct.pack(">I", int(frames))


def parse_end(payload: bytes) -> int:
    if len(payload) != 4:
        raise VQTFormatError("end chunk has the wrong size")
    return int(struct.unpack(">I", payload)[0])


@dataclass
class Chunk:
    """One parsed chunk; ``damaged``: its CRC failed (``payload`` is then unusable); ``offset``: byte
    position in the stream."""

    kind: bytes
    payload: bytes
    offset: int
    damaged: bool = False


class ChunkReader:
    """Incremental parser: :meth:`feed` bytes as they arrive, iterate the complete chunks it returns.

    Raises :class:`VQTFormatError` for a stream that does not start with the signature or has another
    version. Damage is not an exception: a chunk with a bad CRC is returned with ``damaged=True`` (its
    type is then a guess) and the reader looks for the next valid chunk.
    """

    def __init__(self):
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._started = False
        self.damaged = 0
        self._in_damage = False

    def feed(self, data: bytes) -> list[Chunk]:
        self._buf += data
        if not self._started:
            if len(self._buf) < len(PREAMBLE):
                if not PREAMBLE.startswith(bytes(self._buf[: len(SIGNATURE)])[: len(self._buf)]):
                    raise VQTFormatError("not a .vqt file (wrong signature)")
                return []
            if bytes(self._buf[: len(SIGNATURE)]) != SIGNATURE:
                raise VQTFormatError("not a .vqt file (wrong signature)")
            version = self._buf[len(SIGNATURE)]
            if version != VERSION:
                raise VQTFormatError(
                    f"unsupported .vqt version {version} (this build reads version {VERSION})"
                )
            self._drop(len(PREAMBLE))
            self._started = True
        out = []
        while True:
            c = self._next()
            if c is None:
                return out
            out.append(c)

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._base += n

    def _valid_at(self, i: int) -> int | None:
        """Length of a complete, CRC-valid chunk starting at ``_buf[i]``; -1 if incomplete; None if not."""
        b = self._buf
        if len(b) - i < 8:
            return -1
        kind = bytes(b[i : i + 4])
        if kind not in CHUNK_TYPES:
            return None
        n = struct.unpack_from(">I", b, i + 4)[0]
        if n > MAX_CHUNK:
            return None
        if len(b) - i < 12 + n:
            return -1
        crc = struct.unpack_from(">I", b, i + 8 + n)[0]
        return 12 + n if zlib.crc32(bytes(b[i : i + 4]) + bytes(b[i + 8 : i + 8 + n])) == crc else None

    def _next(self) -> Chunk | None:
        n = self._valid_at(0)
        if n == -1:
            # incomplete — or a damaged length field claiming bytes that will never come: if a complete,
            # CRC-valid chunk already starts inside the claimed span, the chunk here is damage
            j, complete = self._find(1, allow_incomplete=False)
            if j is None or not complete:
                return None
            c = self._mark_damage()
            self._drop(j)
            return c if c is not None else self._next()
        if n is not None:
            return self._take(n)
        # damage at the start of the buffer: skip to the next chunk that is (or may still become) valid
        j, complete = self._find(1, allow_incomplete=True)
        if j is None:  # nothing plausible: keep only a tail that may hold the start of a chunk header
            keep = 11
            if len(self._buf) > keep:
                self._mark_damage()
                self._drop(len(self._buf) - keep)
            return None
        if not complete:
            return None  # decide when more bytes have arrived
        c = self._mark_damage()
        self._drop(j)
        return c

    def _take(self, n: int) -> Chunk:
        b = self._buf
        c = Chunk(bytes(b[:4]), bytes(b[8 : n - 4]), self._base)
        self._drop(n)
        self._in_damage = False
        return c

    def _mark_damage(self) -> Chunk | None:
        """Count one damaged region (once per run of damaged bytes); the Chunk to report, or None."""
        if self._in_damage:
            return None
        self._in_damage = True
        self.damaged += 1
        kind = bytes(self._buf[:4])
        return Chunk(kind if kind in CHUNK_TYPES else b"????", b"", self._base, damaged=True)

    def _find(self, start: int, allow_incomplete: bool) -> tuple[int | None, bool]:
        """Earliest ``j >= start`` where a valid chunk starts (``complete`` True) or, with
        ``allow_incomplete``, where one may start once more bytes arrive (``complete`` False)."""
        b = self._buf
        best, best_complete = None, False
        for kind in CHUNK_TYPES:
            pos = start
            while True:
                j = b.find(kind, pos)
                if j < 0 or (best is not None and j >= best):
                    break
                v = self._valid_at(j)
                if v is not None and (v != -1 or allow_incomplete):
                    best, best_complete = j, v != -1
                    break
                pos = j + 1
        return best, best_complete

    def finish(self) -> list[Chunk]:
        """End of input: complete valid chunks still buffered, and the rest reported as damaged (a
        truncated last chunk)."""
        out = []
        while self._buf:
            n = self._valid_at(0)
            if n is not None and n != -1:
                out.append(self._take(n))
                continue
            j, _ = self._find(1, allow_incomplete=False)
            c = self._mark_damage()
            if c is not None:
                out.append(c)
            self._drop(len(self._buf) if j is None else j)
        return out


def iter_chunks(data: bytes) -> Iterator[Chunk]:
    """All chunks of a complete stream in order (see :class:`ChunkReader`)."""
    r = ChunkReader()
    yield from r.feed(data)
    yield from r.finish()


__all__ = [
    "AUDIO",
    "CHUNK_TYPES",
    "END",
    "FLAG_RESET",
    "FULL",
    "HEAD",
    "KEY",
    "PREAMBLE",
    "SIGNATURE",
    "TOKENS",
    "VERSION",
    "Chunk",
    "ChunkReader",
    "Header",
    "TokenPacket",
    "VQTFormatError",
    "chunk",
    "end_payload",
    "iter_chunks",
    "key_payload",
    "parse_end",
    "parse_key",
    "parse_tokens",
    "token_payload",
]
