"""Paste animated face crops back into the whole picture (inverse of :func:`~vqtalker.face.crop.crop_square`).

Method (the paste-back step of LivePortrait / SadTalker): each animated crop ``[S, S, 3]`` is mapped back
through the inverse crop transform (crop pixel ``q`` ↔ source point ``x0 + q · side / S``) onto the box's
place in the picture, and blended over the original photo with a feathered mask: 1 in the interior of the
box, falling smoothly (smoothstep ramp, rounded corners) to 0 at the box border. The border rows of the box
and everything outside it therefore keep the photo's pixels, and there is no seam where the crop ends.

Where the box reaches outside the image, :func:`~vqtalker.face.crop.crop_square` padded with black; those
pixels are never pasted (the box is clipped to the image) and the mask is also brought to 0 over a few
pixels along the clipped image edge, so that black bled into the crop by resampling is not pasted either.

Everything that does not change per frame (clipped box, mask, original pixels under the box, the optional
output downscale) is computed once per video by :class:`Paster`; per frame the cost is one warp and one
blend over the box's area.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from vqtalker.face.crop import round_box

__all__ = ["Paster", "feather_mask"]

# Along an image edge that clips the box, the mask is 0 for this many crop pixels (black bled in by the
# forward crop's resampling and the backward interpolation's support), then ramps up over as many again.
_EDGE_GUARD_CROP_PX = 3.0


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _ramp(dx: np.ndarray, dy: np.ndarray, mx: float, my: float, power: float, rounded: bool) -> np.ndarray:
    """Feather from distances ``dx [1, W]``, ``dy [H, 1]`` (px) to the nearest vertical / horizontal edge.

    A distance of 0 is the border pixel (value 0), ``mx`` / ``my`` (px) are the ramp widths. With ``rounded``
    the value is a ramp on the distance to the inner rectangle (value 1), so the iso-lines — and the 0
    contour — have quarter-circle corners of radius ``mx`` / ``my``. Returns float32 ``[H, W]`` in ``[0, 1]``.
    """
    ux = np.clip(1.0 - dx / max(mx, 1e-6), 0.0, 1.0)
    uy = np.clip(1.0 - dy / max(my, 1e-6), 0.0, 1.0)
    if rounded:
        v = 1.0 - np.sqrt(ux * ux + uy * uy)
    else:
        v = 1.0 - np.maximum(ux, uy)
    m = _smoothstep(v)
    if power != 1.0:
        m = m**power
    return m.astype(np.float32)


def feather_mask(size: int, margin: float = 0.12, power: float = 1.0, rounded: bool = True) -> np.ndarray:
    """Feathered blend mask ``float32 [size, size]`` in ``[0, 1]`` for a square crop of ``size`` pixels.

    1 in the interior, falling with a smoothstep ramp to exactly 0 on the outermost row/column of pixels;
    the ramp spans ``margin · size`` pixels on every side (pixel ``i`` from the nearest edge has ramp
    parameter ``i / (margin · size)``). ``power`` > 1 raises the mask to that power (more of the original
    kept in the ramp), < 1 the opposite. ``rounded`` gives the mask rounded corners of radius
    ``margin · size`` so that the seam does not follow a visible square. Depends on the arguments only.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    _check_margin(margin, power)
    i = np.arange(size, dtype=np.float64)
    d = np.minimum(i, size - 1 - i)
    m = margin * size
    return _ramp(d[None, :], d[:, None], m, m, float(power), rounded)


def _check_margin(margin: float, power: float) -> None:
    if not 0.0 < float(margin) <= 0.5:
        raise ValueError(f"margin must be in (0, 0.5], got {margin}")
    if not float(power) > 0.0:
        raise ValueError(f"power must be > 0, got {power}")


def _output_size(height: int, width: int, max_side: int | None) -> tuple[int, int, bool]:
    """``(H', W', resample)``: the output size for ``max_side`` and whether the picture is resampled.

    ``max_side=None``: the input size. Otherwise the picture is scaled by ``min(1, max_side / max(H, W))``
    and both sides are rounded down to even numbers (at least 2); when no scaling is needed, an odd last
    row/column is dropped instead of resampling the whole picture.
    """
    if max_side is None:
        return height, width, False
    max_side = int(max_side)
    if max_side < 2:
        raise ValueError(f"max_side must be >= 2, got {max_side}")
    f = min(1.0, max_side / max(height, width))
    if f >= 1.0:
        return max(2, height - height % 2), max(2, width - width % 2), False
    h = max(2, int(math.floor(height * f / 2)) * 2)
    w = max(2, int(math.floor(width * f / 2)) * 2)
    return h, w, True


class Paster:
    """Paste animated crops of one box back into one picture; build once per video, call :meth:`paste`.

    ``image``: the original picture ``uint8 [H, W, 3]`` (RGB, the one the crop was cut from). ``box``:
    ``(x0, y0, side)`` in source pixels, rounded with :func:`~vqtalker.face.crop.round_box` exactly as
    :func:`~vqtalker.face.crop.crop_square` does; it may reach outside the image. ``crop_size``: ``S``, the
    side (pixels) of the crops to paste. ``margin``, ``power``, ``rounded``: the feather (see
    :func:`feather_mask`; ``margin`` is a fraction of the box side).

    ``max_side`` caps the output: ``None`` returns pictures of the input size ``[H, W, 3]``; an integer
    scales the picture (``INTER_AREA``) so that its longer side is at most ``max_side`` pixels and rounds
    both sides down to even numbers (H.264 / yuv420p needs even sizes; an odd side of a picture that needs no
    scaling loses its last row/column instead of being resampled). The paste is then done directly at the
    output resolution.
    """

    def __init__(
        self,
        image: np.ndarray,
        box: np.ndarray,
        crop_size: int,
        margin: float = 0.12,
        max_side: int | None = None,
        *,
        power: float = 1.0,
        rounded: bool = True,
    ):
        import cv2

        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"image must be uint8 [H, W, 3], got {img.dtype} {img.shape}")
        self.crop_size = int(crop_size)
        if self.crop_size < 1:
            raise ValueError(f"crop_size must be >= 1, got {crop_size}")
        _check_margin(margin, power)
        self.margin = float(margin)
        self.power = float(power)
        self.box = round_box(box)  # int64 (x0, y0, side), source pixels
        x0, y0, side = (int(v) for v in self.box)

        h_in, w_in = img.shape[:2]
        h_out, w_out, resample = _output_size(h_in, w_in, max_side)
        if resample:
            bg = cv2.resize(np.ascontiguousarray(img), (w_out, h_out), interpolation=cv2.INTER_AREA)
        else:
            img = img[:h_out, :w_out]  # drops an odd last row/column when max_side asks for even sizes
            bg = np.array(img, dtype=np.uint8, order="C", copy=True)
        h_src, w_src = img.shape[:2]
        fx, fy = w_out / w_src, h_out / h_src  # output pixels per source pixel
        bg.flags.writeable = False
        self._bg = bg

        # the box in output pixel-edge coordinates, and the output pixels it touches (clipped to the image)
        bx0, bx1 = x0 * fx, (x0 + side) * fx
        by0, by1 = y0 * fy, (y0 + side) * fy
        ux0, ux1 = min(max(0, math.floor(bx0 + 1e-9)), w_out), max(0, min(w_out, math.ceil(bx1 - 1e-9)))
        uy0, uy1 = min(max(0, math.floor(by0 + 1e-9)), h_out), max(0, min(h_out, math.ceil(by1 - 1e-9)))
        self._region = (uy0, max(uy0, uy1), ux0, max(ux0, ux1))
        self._empty = ux1 <= ux0 or uy1 <= uy0
        if self._empty:
            return

        # crops larger than the box's output size are first shrunk with INTER_AREA to (about) that size;
        # the remaining (near-1 scale, sub-pixel offset) warp is then bilinear. Enlarging: bicubic warp.
        s = self.crop_size
        nx, ny = max(1, round(side * fx)), max(1, round(side * fy))
        self._prefilter = (nx, ny) if (nx < s or ny < s) else None
        if self._prefilter is None:
            nx = ny = s
        kx, ky = nx / (side * fx), ny / (side * fy)  # prefiltered-crop pixels per output pixel
        # output pixel u (centre u + 0.5) ↔ source edge coordinate (u + 0.5) / fx ↔ crop centre coordinate
        # ((u + 0.5) / fx - x0) · n / side - 0.5; relative to the region origin:
        self._warp = np.array(
            [
                [kx, 0.0, (ux0 + 0.5) * kx - x0 * nx / side - 0.5],
                [0.0, ky, (uy0 + 0.5) * ky - y0 * ny / side - 0.5],
            ],
            dtype=np.float64,
        )
        self._interp = cv2.INTER_LINEAR if self._prefilter is not None or kx >= 1.0 else cv2.INTER_CUBIC
        self._rsize = (ux1 - ux0, uy1 - uy0)

        # mask at output resolution: distance (px) of each pixel centre to the nearest box edge, minus 0.5,
        # so that the box's outermost pixels get 0 (at full resolution this is feather_mask(side) cut out)
        cx = np.arange(ux0, ux1, dtype=np.float64) + 0.5
        cy = np.arange(uy0, uy1, dtype=np.float64) + 0.5
        dx = np.minimum(cx - bx0, bx1 - cx) - 0.5
        dy = np.minimum(cy - by0, by1 - cy) - 0.5
        mask = _ramp(dx[None, :], dy[:, None], margin * side * fx, margin * side * fy, self.power, rounded)
        # along image edges that clip the box: 0, then a ramp, over a few crop pixels' worth of output pixels
        gx = _EDGE_GUARD_CROP_PX * max(1.0, side / s) * fx + 1.0
        gy = _EDGE_GUARD_CROP_PX * max(1.0, side / s) * fy + 1.0
        if x0 < 0:
            mask *= _smoothstep((cx - 0.5 - gx) / gx).astype(np.float32)[None, :]
        if x0 + side > w_src:
            mask *= _smoothstep((w_out - cx - 0.5 - gx) / gx).astype(np.float32)[None, :]
        if y0 < 0:
            mask *= _smoothstep((cy - 0.5 - gy) / gy).astype(np.float32)[:, None]
        if y0 + side > h_src:
            mask *= _smoothstep((h_out - cy - 0.5 - gy) / gy).astype(np.float32)[:, None]
        mask = np.ascontiguousarray(mask, dtype=np.float32)
        self._inv_mask = np.ascontiguousarray(1.0 - mask, dtype=np.float32)
        mask.flags.writeable = False
        self._mask = mask
        self._bg_region = np.ascontiguousarray(bg[uy0:uy1, ux0:ux1])  # the original pixels under the box

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """``(H', W', 3)``: the shape (pixels) of the pictures :meth:`paste` returns."""
        return (int(self._bg.shape[0]), int(self._bg.shape[1]), 3)

    @property
    def background(self) -> np.ndarray:
        """The original picture at the output size, ``uint8 [H', W', 3]`` (read-only)."""
        return self._bg

    @property
    def region(self) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)``: output pixels the box touches (clipped to the picture); only these change."""
        return self._region

    @property
    def mask(self) -> np.ndarray:
        """The blend mask over :attr:`region`, ``float32 [y1 - y0, x1 - x0]`` in ``[0, 1]`` (read-only)."""
        if self._empty:
            return np.zeros((0, 0), np.float32)
        return self._mask

    def paste(self, crop: np.ndarray) -> np.ndarray:
        """One animated crop ``uint8 [S, S, 3]`` → the whole picture ``uint8 [H', W', 3]`` (a new array).

        The crop is resized back to the box (``INTER_AREA`` when shrinking, bicubic when enlarging) and
        blended with the feathered mask over the original; pixels outside the box, on its border and outside
        the image are the original's.
        """
        import cv2

        c = np.asarray(crop)
        s = self.crop_size
        if c.shape != (s, s, 3) or c.dtype != np.uint8:
            raise ValueError(f"crop must be uint8 [{s}, {s}, 3], got {c.dtype} {c.shape}")
        out = self._bg.copy()
        if self._empty:
            return out
        src = np.ascontiguousarray(c)
        if self._prefilter is not None:
            src = cv2.resize(src, self._prefilter, interpolation=cv2.INTER_AREA)
        warped = cv2.warpAffine(
            src,
            self._warp,
            self._rsize,
            flags=self._interp | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        # mask · crop + (1 - mask) · original, rounded to uint8: exactly the original where the mask is 0
        y0, y1, x0, x1 = self._region
        out[y0:y1, x0:x1] = cv2.blendLinear(warped, self._bg_region, self._mask, self._inv_mask)
        return out

    def paste_many(self, crops: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Generator: one pasted picture ``uint8 [H', W', 3]`` per crop of ``crops``, consumed lazily."""
        for crop in crops:
            yield self.paste(crop)
