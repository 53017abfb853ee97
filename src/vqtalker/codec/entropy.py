"""Lossless entropy coding of the motion tokens: a binary-output arithmetic coder with adaptive models.

* :class:`ArithmeticEncoder` / :class:`ArithmeticDecoder` — the integer arithmetic coder of Witten, Neal &
  Cleary (1987) with 32-bit registers and "pending" underflow bits; a symbol costs ``-log2 p`` bits plus
  at most 2 bits per stream. The decoder reads zeros past the end of its input, so a truncated or corrupt
  payload decodes to *some* symbols without error or hang (the container's CRC says whether to trust it).
* :class:`AdaptiveModel` — symbol counts (start 1, +2 per use, halved above :data:`MAX_TOTAL`).
* :class:`TokenCoder` — the codec's context model for one frame of tokens ``int [R, G]`` (R = 4 residual
  layers, G = 12 groups, each index in ``[0, prod(levels))``, 625 for FSQ levels 5⁴). Each index is split
  into its FSQ digits (mixed radix, first channel least significant, as in
  :mod:`vqtalker.quantize.fsq`); digit ``j`` of group ``g`` in layer ``r`` at frame ``t`` is coded with the
  model selected by ``(r, digit at t-1, digit of layer r-1 at t, digit of layer r-1 at t-1)`` — all things
  the decoder already has — shared by the digits (and groups) with the same number of levels (fewer
  models learn faster on short clips; README, codec). A frame mode (key picture / first k layers / skip)
  and the 5-bit mouth side information (coded as the change from the previous frame) share the stream.

The coder state (models and the previous frame) lives in a :class:`TokenCoder`; :meth:`TokenCoder.reset`
returns it to the start state (the codec does so at every key picture and resync point, so a stream can be
entered there). Encoder and decoder run the same model updates, so decoding is bit-exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vqtalker.errors import VQTalkerError

_BITS = 32
_FULL = (1 << _BITS) - 1
_HALF = 1 << (_BITS - 1)
_QUARTER = 1 << (_BITS - 2)
_THREE_Q = 3 * _QUARTER

#: an adaptive model's counts are halved when their total exceeds this (must stay below 2**30)
MAX_TOTAL = 1 << 16

#: frame modes coded once per frame: a key picture (no tokens), the first k residual layers (k = 1..R),
#: or a skipped frame (the receiver repeats the previous picture). Mode ids: 0 key, k layers, R + 1 skip.
MODE_KEY = 0


def mode_layers(k: int) -> int:
    """Mode id of a frame that sends the first ``k`` residual layers."""
    return int(k)


def mode_skip(num_layers: int) -> int:
    """Mode id of a skipped frame for a stream with ``num_layers`` residual layers."""
    return int(num_layers) + 1


class ArithmeticEncoder:
    """Encode symbols given their cumulative frequency interval; :meth:`finish` returns the bytes."""

    def __init__(self):
        self._low = 0
        self._high = _FULL
        self._pending = 0
        self._out = bytearray()
        self._acc = 0
        self._nacc = 0
        self.bits_estimate = 0.0  # sum of -log2 p of the coded symbols (for rate control)

    def _bit(self, b: int) -> None:
        self._acc = (self._acc << 1) | b
        self._nacc += 1
        if self._nacc == 8:
            self._out.append(self._acc)
            self._acc = 0
            self._nacc = 0

    def _emit(self, b: int) -> None:
        self._bit(b)
        nb = 1 - b
        for _ in range(self._pending):
            self._bit(nb)
        self._pending = 0

    def encode(self, lo: int, hi: int, total: int) -> None:
        """Code the symbol with cumulative interval ``[lo, hi)`` out of ``total`` (``lo < hi <= total``)."""
        low, high = self._low, self._high
        rng = high - low + 1
        high = low + rng * hi // total - 1
        low = low + rng * lo // total
        while True:
            if high < _HALF:
                self._emit(0)
            elif low >= _HALF:
                self._emit(1)
                low -= _HALF
                high -= _HALF
            elif low >= _QUARTER and high < _THREE_Q:
                self._pending += 1
                low -= _QUARTER
                high -= _QUARTER
            else:
                break
            low <<= 1
            high = (high << 1) | 1
        self._low, self._high = low, high

    def finish(self) -> bytes:
        """Flush and return the coded bytes (the encoder must not be used afterwards)."""
        self._pending += 1
        self._emit(0 if self._low < _QUARTER else 1)
        while self._nacc:
            self._bit(0)
        return bytes(self._out)

    @property
    def num_bytes(self) -> int:
        """Bytes written so far (without the final flush)."""
        return len(self._out)


class ArithmeticDecoder:
    """Decode symbols from bytes made by :class:`ArithmeticEncoder` (zeros are read past the end)."""

    def __init__(self, data: bytes):
        self._data = bytes(data)
        self._pos = 0  # bit position
        self._nbits = 8 * len(self._data)
        self._low = 0
        self._high = _FULL
        self._value = 0
        for _ in range(_BITS):
            self._value = (self._value << 1) | self._next_bit()

    def _next_bit(self) -> int:
        p = self._pos
        self._pos = p + 1
        if p >= self._nbits:
            return 0
        return (self._data[p >> 3] >> (7 - (p & 7))) & 1

    @property
    def overrun(self) -> bool:
        """True once the decoder has read far past its input (the payload was truncated or corrupt)."""
        return self._pos > self._nbits + _BITS + 8

    def target(self, total: int) -> int:
        """The cumulative count in ``[0, total)`` that the next symbol's interval must contain."""
        rng = self._high - self._low + 1
        v = ((self._value - self._low + 1) * total - 1) // rng
        return min(max(v, 0), total - 1)

    def consume(self, lo: int, hi: int, total: int) -> None:
        """Remove the decoded symbol's interval ``[lo, hi)`` (the same call the encoder made)."""
        low, high, value = self._low, self._high, self._value
        rng = high - low + 1
        high = low + rng * hi // total - 1
        low = low + rng * lo // total
        while True:
            if high < _HALF:
                pass
            elif low >= _HALF:
                low -= _HALF
                high -= _HALF
                value -= _HALF
            elif low >= _QUARTER and high < _THREE_Q:
                low -= _QUARTER
                high -= _QUARTER
                value -= _QUARTER
            else:
                break
            low <<= 1
            high = (high << 1) | 1
            value = (value << 1) | self._next_bit()
        self._low, self._high, self._value = low, high, value


class AdaptiveModel:
    """Adaptive frequency model over ``n`` symbols (counts start at 1, each use adds 2)."""

    __slots__ = ("freq", "total")

    def __init__(self, n: int):
        if n < 1:
            raise ValueError("an adaptive model needs at least one symbol")
        self.freq = [1] * n
        self.total = n

    def _update(self, s: int) -> None:
        f = self.freq
        f[s] += 2
        self.total += 2
        if self.total > MAX_TOTAL:
            for i in range(len(f)):
                f[i] = (f[i] + 1) >> 1
            self.total = sum(f)

    def encode(self, enc: ArithmeticEncoder, s: int) -> None:
        f = self.freq
        if not 0 <= s < len(f):
            raise VQTalkerError(f"symbol {s} outside the model's range 0..{len(f) - 1}")
        lo = sum(f[:s])
        enc.encode(lo, lo + f[s], self.total)
        enc.bits_estimate += float(np.log2(self.total / f[s]))
        self._update(s)

    def decode(self, dec: ArithmeticDecoder) -> int:
        f = self.freq
        v = dec.target(self.total)
        lo = 0
        s = 0
        n = len(f) - 1
        while s < n and lo + f[s] <= v:
            lo += f[s]
            s += 1
        dec.consume(lo, lo + f[s], self.total)
        self._update(s)
        return s


class TokenCoder:
    """Context model + coder state for a token stream of frames ``int [R, G]`` (see the module docstring).

    ``levels``: the FSQ levels of one code (e.g. ``(5, 5, 5, 5)``); ``mouth_levels``: number of mouth
    side-information levels (32 for 5 bits), 0 = no side information.
    """

    def __init__(self, num_layers: int, groups: int, levels: Sequence[int], mouth_levels: int = 0):
        self.num_layers = int(num_layers)
        self.groups = int(groups)
        self.levels = tuple(int(v) for v in levels)
        self.mouth_levels = int(mouth_levels)
        self.num_modes = self.num_layers + 2
        self._basis = [int(b) for b in np.cumprod([1, *self.levels[:-1]])]
        self._codebook = int(np.prod(self.levels))
        self._lmax = max(self.levels)
        self.reset()

    @property
    def zero_index(self) -> int:
        """Token index whose every digit is the middle level (the zero code of an odd-level FSQ)."""
        return sum(((lv - 1) // 2) * b for lv, b in zip(self.levels, self._basis, strict=True))

    def reset(self) -> None:
        """Back to the start state (fresh models, no previous frame, mouth level 0)."""
        none = self._lmax  # "no digit" context value
        n_ctx = (self._lmax + 1) ** 3
        # digits with the same number of levels share their models (FSQ channels are exchangeable)
        self._models = [
            {lv: [AdaptiveModel(lv) for _ in range(n_ctx)] for lv in set(self.levels)}
            for _ in range(self.num_layers)
        ]
        self._nctx = n_ctx
        d = len(self.levels)
        self._prev = [[[none] * d for _ in range(self.groups)] for _ in range(self.num_layers)]
        self._mode_model = AdaptiveModel(self.num_modes)
        self._mouth_models = [AdaptiveModel(self.mouth_levels) for _ in range(3)] if self.mouth_levels else []
        self._mouth_prev = 0
        self._mouth_ctx = 0

    def after_key(self) -> None:
        """A key picture restarts motion from zero: the previous frame becomes the zero code."""
        mid = [(lv - 1) // 2 for lv in self.levels]
        self._prev = [[list(mid) for _ in range(self.groups)] for _ in range(self.num_layers)]

    # -- digits ------------------------------------------------------------------------------------------
    def _digits(self, index: int) -> list[int]:
        return [(index // b) % lv for b, lv in zip(self._basis, self.levels, strict=True)]

    def _index(self, digits: list[int]) -> int:
        return sum(dg * b for dg, b in zip(digits, self._basis, strict=True))

    def _ctx(self, r: int, p: int, b: int, bp: int) -> int:
        n = self._lmax + 1
        return (p * n + b) * n + bp

    # -- frames ------------------------------------------------------------------------------------------
    def encode_frame(self, enc: ArithmeticEncoder, mode: int, tokens=None, mouth_level: int | None = None):
        """Code one frame: ``mode`` (see :data:`MODE_KEY`, :func:`mode_layers`, :func:`mode_skip`), its
        tokens ``int [R, G]`` for a layers mode (layers >= k are ignored and taken as the zero code) and
        the mouth level (0..mouth_levels-1) when the stream has side information."""
        self._mode_model.encode(enc, int(mode))
        if 1 <= mode <= self.num_layers:
            tok = np.asarray(tokens)
            if tok.shape != (self.num_layers, self.groups):
                raise VQTalkerError(f"tokens must be [{self.num_layers}, {self.groups}], got {tok.shape}")
            if tok.min() < 0 or tok.max() >= self._codebook:
                raise VQTalkerError(f"token values must be in [0, {self._codebook})")
            rows = [[int(v) for v in row] for row in tok]
            self._code_tokens(int(mode), rows, enc=enc)
        self._code_mode_after(int(mode))
        if self.mouth_levels:
            if mouth_level is None or not 0 <= int(mouth_level) < self.mouth_levels:
                raise VQTalkerError(f"mouth level must be in 0..{self.mouth_levels - 1}, got {mouth_level}")
            self._code_mouth(enc=enc, level=int(mouth_level))

    def decode_frame(self, dec: ArithmeticDecoder) -> tuple[int, np.ndarray | None, int | None]:
        """Decode one frame → ``(mode, tokens int16 [R, G] or None, mouth level or None)``; tokens of a layers
        mode hold the zero code in the layers that were not sent."""
        mode = self._mode_model.decode(dec)
        tokens = None
        if 1 <= mode <= self.num_layers:
            rows = self._code_tokens(mode, None, dec=dec)
            tokens = np.asarray(rows, dtype=np.int16)
        self._code_mode_after(mode)
        level = self._code_mouth(dec=dec) if self.mouth_levels else None
        return mode, tokens, level

    def _code_mode_after(self, mode: int) -> None:
        if mode == MODE_KEY:
            self.after_key()

    def _code_tokens(self, k: int, rows, enc=None, dec=None) -> list[list[int]]:
        none = self._lmax
        zero = self._digits(self.zero_index)
        old = self._prev
        new: list[list[list[int]]] = []
        out = []
        for r in range(self.num_layers):
            models = self._models[r]
            row_out = []
            new_r = []
            for g in range(self.groups):
                if r < k:
                    dg = self._digits(rows[r][g]) if enc is not None else [0] * len(self.levels)
                    for j, lv in enumerate(self.levels):
                        b, bp = (new[r - 1][g][j], old[r - 1][g][j]) if r else (none, none)
                        m = models[lv][self._ctx(r, old[r][g][j], b, bp)]
                        if enc is not None:
                            m.encode(enc, dg[j])
                        else:
                            dg[j] = m.decode(dec)
                else:
                    dg = list(zero)
                row_out.append(self._index(dg))
                new_r.append(dg)
            out.append(row_out)
            new.append(new_r)
        self._prev = new
        return out

    def _code_mouth(self, enc=None, dec=None, level: int = 0) -> int:
        n = self.mouth_levels
        m = self._mouth_models[self._mouth_ctx]
        if enc is not None:
            m.encode(enc, (level - self._mouth_prev) % n)
        else:
            level = (self._mouth_prev + m.decode(dec)) % n
        d = min(abs(level - self._mouth_prev), 2)
        self._mouth_prev = level
        self._mouth_ctx = d
        return level


__all__ = [
    "MAX_TOTAL",
    "MODE_KEY",
    "AdaptiveModel",
    "ArithmeticDecoder",
    "ArithmeticEncoder",
    "TokenCoder",
    "mode_layers",
    "mode_skip",
]
