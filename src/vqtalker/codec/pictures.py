"""Key pictures of the codec: still-image coding of face crops (and the full first frame) with Pillow.

Formats (ASCII ids in the stream): ``avif`` (AV1 intra, the most compact; Pillow's bundled libavif),
``webp`` (libwebp), ``jpeg``. ``quality`` is the library's 0–100 scale. Pictures are RGB ``uint8 [H, W, 3]``.
"""

from __future__ import annotations

import io

import numpy as np

from vqtalker.errors import VQTalkerError

FORMATS = {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG"}


def available_formats() -> list[str]:
    """Picture formats this Pillow build can both write and read."""
    from PIL import features

    out = []
    for k in FORMATS:
        if k == "jpeg" or features.check(k):
            out.append(k)
    return out


def encode_picture(image: np.ndarray, fmt: str = "avif", quality: int = 40) -> bytes:
    """``uint8 [H, W, 3]`` RGB → compressed bytes in ``fmt`` at ``quality`` (0–100)."""
    from PIL import Image

    if fmt not in FORMATS:
        raise VQTalkerError(f"--key-format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt not in available_formats():
        have = ", ".join(available_formats())
        raise VQTalkerError(f"this Pillow build cannot write {fmt} (available: {have})")
    if not 0 <= int(quality) <= 100:
        raise VQTalkerError(f"--key-quality must be in 0..100, got {quality}")
    img = np.ascontiguousarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise VQTalkerError(f"a key picture must be uint8 [H, W, 3], got {img.dtype} {img.shape}")
    buf = io.BytesIO()
    kw = {"quality": int(quality)}
    if fmt == "avif":
        kw["speed"] = 8
        kw["subsampling"] = "4:2:0"
    elif fmt == "webp":
        kw["method"] = 4
    Image.fromarray(img).save(buf, FORMATS[fmt], **kw)
    return buf.getvalue()


def decode_picture(data: bytes, fmt: str | None = None, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Compressed bytes → ``uint8 [H, W, 3]`` RGB; ``shape`` (H, W), when given, must match. Undecodable
    bytes raise :class:`VQTalkerError`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if fmt is not None and im.format not in (FORMATS.get(fmt), None):
                raise VQTalkerError(f"key picture is {im.format}, the stream says {fmt}")
            arr = np.array(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise VQTalkerError(f"a key picture cannot be decoded ({exc})") from None
    if shape is not None and arr.shape[:2] != tuple(shape):
        raise VQTalkerError(f"key picture is {arr.shape[1]}x{arr.shape[0]}, expected {shape[1]}x{shape[0]}")
    return arr


__all__ = ["FORMATS", "available_formats", "decode_picture", "encode_picture"]
