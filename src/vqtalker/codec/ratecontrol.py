"""Sender-side rate control: when to send a key picture, how many residual layers, when to skip a frame.

The encoder reconstructs what the receiver will show (every ``check_every`` frames) and asks a
:class:`RateController` per frame. Budget (``kbps``): a leaky bucket that gains ``kbps·1000/fps`` bits
per frame and pays every bit actually written (tokens, side information, key pictures, chunk overhead);
it holds at most :data:`BUCKET_SECONDS` of budget (or 1.25 key pictures, if more). Decisions, in order:

1. frame 0, or ``keyint_max`` seconds since the last key picture → key picture (always; it is counted);
2. a refresh is *wanted* when the last receiver-side check fell below ``min_ssim`` — or, with a budget and
   no ``min_ssim``, whenever the bucket can pay for one (the budget is spent on fresher pictures); it is
   *sent* when at least ``keyint_min`` seconds have passed and (with a budget) the bucket holds the
   estimated cost of a key picture;
3. otherwise tokens: all layers (or ``max_layers``); one layer fewer each frame the bucket is more than
   half a bucket-size in debt, one more each frame it is less than a quarter in debt; a skipped frame (the
   receiver repeats the last picture) when it is more than one bucket-size in debt.

The bucket starts empty, so the first key picture (always sent) is a debt that the following frames
repay; over a clip the written rate converges to ``kbps``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vqtalker.errors import VQTalkerError

#: the bucket holds at most this many seconds of budget
BUCKET_SECONDS = 2.0


@dataclass
class RateControlConfig:
    """``kbps``: total video budget in kbit/s (None = unconstrained); ``min_ssim``: refresh when the
    receiver's SSIM (luma, against the input crop) drops below it; ``keyint_max`` / ``keyint_min``: most
    / fewest seconds between key pictures (``keyint_max`` None = never forced); ``max_layers``: cap on
    residual layers (None = all); ``check_every``: frames between receiver-side quality checks."""

    kbps: float | None = None
    min_ssim: float | None = None
    keyint_max: float | None = 10.0
    keyint_min: float = 0.5
    max_layers: int | None = None
    check_every: int = 5

    def validate(self, num_layers: int) -> None:
        if self.kbps is not None and not 0.5 <= self.kbps <= 10000:
            raise VQTalkerError(f"--kbps must be in 0.5..10000, got {self.kbps}")
        if self.min_ssim is not None and not 0.0 < self.min_ssim < 1.0:
            raise VQTalkerError(f"--min-ssim must be in (0, 1), got {self.min_ssim}")
        if self.keyint_max is not None and not self.keyint_max > 0:
            raise VQTalkerError(f"--keyint-max must be > 0 seconds, got {self.keyint_max}")
        if self.keyint_min < 0:
            raise VQTalkerError(f"--keyint-min must be >= 0 seconds, got {self.keyint_min}")
        if self.max_layers is not None and not 1 <= self.max_layers <= num_layers:
            raise VQTalkerError(f"--layers must be in 1..{num_layers}, got {self.max_layers}")
        if self.check_every < 1:
            raise VQTalkerError(f"--check-every must be >= 1, got {self.check_every}")


class RateController:
    """Per-frame decisions for one stream (see the module docstring). Call :meth:`decide` before coding
    frame ``t``, :meth:`spent` with the bits it cost, :meth:`quality` after a receiver-side check."""

    def __init__(self, cfg: RateControlConfig, fps: float, num_layers: int):
        cfg.validate(num_layers)
        self.cfg = cfg
        self.fps = float(fps)
        self.num_layers = int(num_layers)
        self.top = int(cfg.max_layers or num_layers)
        self.layers = self.top
        self.per_frame = None if cfg.kbps is None else cfg.kbps * 1000.0 / self.fps
        self.base_capacity = None if cfg.kbps is None else cfg.kbps * 1000.0 * BUCKET_SECONDS
        self.capacity = self.base_capacity
        self.bucket = 0.0
        self.last_key = None
        self.key_cost = None  # bits of the last key picture (estimate of the next)
        self.want_refresh = False
        self.keys = 0

    def _since_key(self, t: int) -> float:
        return float("inf") if self.last_key is None else (t - self.last_key) / self.fps

    def decide(self, t: int) -> tuple[str, int]:
        """``("key", 0)``, ``("tokens", k)`` or ``("skip", 0)`` for frame ``t``."""
        if self.per_frame is not None:
            self.bucket = min(self.bucket + self.per_frame, self.capacity)
        since = self._since_key(t)
        if self.last_key is None or (self.cfg.keyint_max is not None and since >= self.cfg.keyint_max - 1e-9):
            return "key", 0
        if since >= self.cfg.keyint_min - 1e-9:
            affordable = self.per_frame is None or (
                self.key_cost is not None and self.bucket >= self.key_cost
            )
            wanted = self.want_refresh or (self.cfg.min_ssim is None and self.per_frame is not None)
            if wanted and affordable:
                return "key", 0
        if self.per_frame is not None:
            if self.bucket < -self.base_capacity:
                return "skip", 0
            if self.bucket < -0.5 * self.base_capacity:
                self.layers = max(1, self.layers - 1)
            elif self.bucket > -0.25 * self.base_capacity:
                self.layers = min(self.top, self.layers + 1)
        return "tokens", self.layers

    def spent(self, bits: float, key: bool = False, t: int | None = None) -> None:
        """Pay ``bits`` from the bucket; ``key``: they were a key picture sent at frame ``t``."""
        if self.per_frame is not None:
            self.bucket -= float(bits)
        if key:
            self.key_cost = float(bits)
            if self.base_capacity is not None:  # the bucket must be able to save up for the next one
                self.capacity = max(self.base_capacity, 1.25 * self.key_cost)
            self.last_key = t
            self.want_refresh = False
            self.keys += 1

    def quality(self, ssim: float) -> None:
        """Result of a receiver-side check (SSIM of the receiver's picture against the input)."""
        if self.cfg.min_ssim is not None and ssim < self.cfg.min_ssim:
            self.want_refresh = True

    def needs_check(self, t: int) -> bool:
        """Whether frame ``t`` should be reconstructed and measured (only when a target uses it)."""
        return self.cfg.min_ssim is not None and t % self.cfg.check_every == 0


__all__ = ["BUCKET_SECONDS", "RateControlConfig", "RateController"]
