"""Rate-distortion benchmark against classical video codecs (x264, x265, SVT-AV1, libaom).

What is measured
----------------
A clip (``uint8 [T, H, W, 3]`` RGB, H and W even, e.g. 256x256 face crops at 25 fps) is encoded by a
baseline codec at a target bitrate with the ffmpeg binary that imageio-ffmpeg bundles
(:func:`vqtalker.evaluation.quality._ffmpeg_exe`), decoded back to RGB by the same ffmpeg, and the decoded
frames are scored against the original frames with :func:`measure_quality` (ffmpeg SSIM-Y / PSNR-Y and
VMAF from :mod:`vqtalker.evaluation.quality`, the very tools that score vqtalker's RGB output).

Units
-----
* Rates are in **kbps = 1000 bit/s**, *measured from the encoded file*, never the target:
  ``kbps = video stream bytes * 8 / (T / fps) / 1000``. The stream is written as an elementary bitstream
  (H.264 / HEVC Annex B, AV1 low-overhead OBU stream), so the count includes every parameter set, slice
  and frame header a decoder needs (Annex B start codes included, about what a container's 4-byte NAL
  length fields would cost). Not counted: the encoders' informational SEI (x264's settings string, about
  700 bytes, removed with ``filter_units=remove_types=6``; x265's, disabled with ``info=0``) and AV1
  temporal-delimiter OBUs (2 bytes per frame, 0.4 kbps at 25 fps), which MP4, Matroska and RTP drop and
  which carry no picture data. At the 8-32 kbps of a talking-head codec these would otherwise be 1-30 %
  of the rate of a few-second clip.
* Quality is computed on the luma (Y) plane of BT.601 limited-range ("tv") YUV, for every codec alike:
  SSIM-Y (0..1), PSNR-Y (dB, peak 255, per-frame cap 100 dB) and VMAF (``vmaf_v0.6.1``, 0..100).

Colour conversion
-----------------
Explicit in both directions, never ffmpeg's defaults: encoding input is raw ``rgb24`` converted with
``scale=out_color_matrix=bt601:out_range=tv:flags=accurate_rnd+bitexact,format=yuv420p`` (the matrix and
range of ``quality._TO_YUV``, but 4:2:0 because that is what the encoders code), the stream is tagged
``smpte170m`` / ``tv``; decoding converts back with
``scale=in_color_matrix=bt601:in_range=tv:flags=accurate_rnd+bitexact+full_chroma_int,format=rgb24``
(``full_chroma_int`` matters: swscale's default 4:2:0 -> RGB path alone limits an otherwise lossless
round trip to ~46 dB PSNR-Y on face crops; with it, ~77 dB). The metrics then convert RGB to BT.601
limited-range YUV 4:4:4 exactly as for vqtalker.

Encoder settings (:func:`encode_baseline`)
------------------------------------------
Common: pixel format ``yuv420p`` (8 bit), target ``-b:v`` = the requested kbps, no ``-tune`` (the
encoders' defaults; ``-tune ssim``/``psnr`` would switch off the psycho-visual tools and flatter the
metrics against visual quality), one key frame per clip (``-g T``: every codec pays for exactly one
intra picture on these short clips instead of depending on each encoder's default key-frame interval;
scene-cut detection may still add one), and the encoders' default random-access structure with B-frames
and look-ahead (no low-delay constraint, which favours the baselines over a real-time codec).

* ``x264`` (``libx264``): 2-pass ABR, ``-preset medium`` (``-pass 1``/``-pass 2``, ``-passlogfile`` in
  the work directory; x264's fast first pass).
* ``x265`` (``libx265``): 2-pass ABR, ``-preset medium``,
  ``-x265-params pass=1|2:stats=x265.stats:info=0``.
* ``svt-av1`` (``libsvtav1``, SVT-AV1 4.x in the bundled ffmpeg): 2-pass VBR (``rc=1``; this ffmpeg's
  wrapper supports ``-pass 1``/``-pass 2`` with ``-passlogfile``), ``-preset 8``.
* ``libaom`` (``libaom-av1``): 2-pass VBR, ``-usage good -cpu-used 6``.

``-preset medium`` for x264 / x265 rather than ``slow``: the benchmark runs on a few CPU cores next to
training, and at these rates ``slow`` changes BD-rates by a few percent, far less than the gap being
measured. Threads: ``threads`` for x264 / libaom (``-row-mt`` only when > 1), ``pools`` (and
``frame-threads=1`` when 1) for x265, ``lp`` for SVT-AV1, and the decoder's ``-threads``.

Bjøntegaard deltas (:func:`bd_rate`, :func:`bd_quality`) follow VCEG-M33: a polynomial fit per curve,
integrated over the overlapping interval, averaged.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

import numpy as np

from vqtalker.errors import VQTalkerError
from vqtalker.evaluation import quality

__all__ = [
    "BASELINE_CODECS",
    "METRICS",
    "av1_stream_bytes",
    "baseline_encoders",
    "bd_quality",
    "bd_rate",
    "bd_rate_table_markdown",
    "encode_baseline",
    "measure_quality",
    "plot_rd",
    "rd_table_markdown",
]

#: Baseline names accepted by :func:`encode_baseline`, in the order they are listed.
BASELINE_CODECS = ("x264", "x265", "svt-av1", "libaom")

#: Quality keys of a result dict, with their table / axis labels.
METRICS = {"ssim_y": "SSIM-Y", "psnr_y": "PSNR-Y (dB)", "vmaf": "VMAF"}

#: RGB -> YUV 4:2:0 for the encoders: the BT.601 limited-range conversion of ``quality._TO_YUV``.
_TO_YUV420 = "scale=out_color_matrix=bt601:out_range=tv:flags=accurate_rnd+bitexact,format=yuv420p"
#: Decoded YUV 4:2:0 -> RGB with the same matrix and range. ``full_chroma_int`` makes swscale interpolate
#: chroma to full resolution before the matrix; without it, its unscaled yuv420p -> rgb24 fast path alone
#: caps the luma PSNR of an otherwise lossless 4:2:0 round trip of a face crop at ~46 dB (77 dB with it).
_FROM_YUV = ("scale=in_color_matrix=bt601:in_range=tv:flags=accurate_rnd+bitexact+full_chroma_int,"
             "format=rgb24")

#: Per baseline: ffmpeg encoder, elementary-stream muxer (also the demuxer), decoders in preference order.
_AV1_DECODERS = ("libdav1d", "libaom-av1")
_CODECS: dict[str, dict] = {
    "x264": {"encoder": "libx264", "format": "h264", "ext": "h264", "decoders": ("h264",)},
    "x265": {"encoder": "libx265", "format": "hevc", "ext": "hevc", "decoders": ("hevc",)},
    "svt-av1": {"encoder": "libsvtav1", "format": "obu", "ext": "obu", "decoders": _AV1_DECODERS},
    "libaom": {"encoder": "libaom-av1", "format": "obu", "ext": "obu", "decoders": _AV1_DECODERS},
}

_AV1_OBU_TEMPORAL_DELIMITER = 2


# ----------------------------------------------------------------------------------------------------------
# ffmpeg helpers


def _exe() -> str:
    exe = quality._ffmpeg_exe()
    if exe is None:
        raise VQTalkerError("the bundled ffmpeg is missing (pip install imageio-ffmpeg, or set "
                            "IMAGEIO_FFMPEG_EXE to an ffmpeg binary)")
    return exe


@functools.lru_cache(maxsize=2)
def _ffmpeg_list(kind: str) -> frozenset[str]:
    """Names of the ``-encoders`` / ``-decoders`` of the bundled ffmpeg (empty when there is no ffmpeg)."""
    exe = quality._ffmpeg_exe()
    if exe is None:
        return frozenset()
    try:
        out = subprocess.run([exe, "-hide_banner", "-nostdin", f"-{kind}"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    names = set()
    for line in out.splitlines():
        # " V....D libx264   libx264 H.264 / AVC ..." -> capability flags, name, description
        m = re.match(r"^\s*V[A-Z.]{5}\s+(\S+)\s", line)
        if m:
            names.add(m.group(1))
    return frozenset(names)


def _decoder(codec: str) -> str | None:
    available = _ffmpeg_list("decoders")
    return next((d for d in _CODECS[codec]["decoders"] if d in available), None)


def baseline_encoders() -> list[str]:
    """Baselines (of :data:`BASELINE_CODECS`) whose encoder and a decoder the bundled ffmpeg has.

    Empty when ffmpeg is missing. With the imageio-ffmpeg 9.0 build all four are available.
    """
    encoders = _ffmpeg_list("encoders")
    return [c for c in BASELINE_CODECS if _CODECS[c]["encoder"] in encoders and _decoder(c) is not None]


def _timeout_s(t: int, h: int, w: int) -> float:
    """Wall-clock limit (s) of one ffmpeg run: 60 s + 2 s per frame per 256x256 worth of pixels."""
    return 60.0 + 2.0 * t * h * w / (256.0 * 256.0)


def _run(cmd: list[str], cwd: str, timeout_s: float, what: str) -> bytes:
    """Run ffmpeg; return its stdout, or raise :class:`VQTalkerError` with the last line of stderr."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise VQTalkerError(f"{what}: ffmpeg did not finish within {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise VQTalkerError(f"{what}: could not run ffmpeg ({exc})") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        last = lines[-1] if lines else "no message"
        raise VQTalkerError(f"{what}: ffmpeg exited with status {proc.returncode}: {last}")
    return proc.stdout


def _encoder_args(codec: str, pass_no: int, threads: int) -> list[str]:
    """Encoder-specific ffmpeg output options for pass 1 or 2 (log files are relative to the cwd)."""
    if codec == "x264":
        return ["-c:v", "libx264", "-preset", "medium", "-threads", str(threads),
                "-pass", str(pass_no), "-passlogfile", "x264"]
    if codec == "x265":
        pools = f"pools={threads}" + (":frame-threads=1" if threads == 1 else "")
        return ["-c:v", "libx265", "-preset", "medium",
                "-x265-params", f"pass={pass_no}:stats=x265.stats:info=0:log-level=error:{pools}"]
    if codec == "svt-av1":
        return ["-c:v", "libsvtav1", "-preset", "8", "-svtav1-params", f"rc=1:lp={threads}",
                "-pass", str(pass_no), "-passlogfile", "svt"]
    if codec == "libaom":
        return ["-c:v", "libaom-av1", "-usage", "good", "-cpu-used", "6", "-threads", str(threads),
                "-row-mt", "1" if threads > 1 else "0", "-pass", str(pass_no), "-passlogfile", "aom"]
    raise AssertionError(codec)


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    """AV1 ``leb128()`` at ``pos``: (value, number of bytes)."""
    value = 0
    for i in range(8):
        if pos + i >= len(data):
            raise ValueError("truncated leb128")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise ValueError("leb128 longer than 8 bytes")


def av1_stream_bytes(data: bytes) -> int:
    """Bytes of an AV1 low-overhead OBU stream without its temporal-delimiter OBUs.

    Every OBU the obu muxer writes has a size field; if one does not (or the stream does not parse), the
    whole length is returned, i.e. nothing is discounted.
    """
    pos, total = 0, 0
    try:
        while pos < len(data):
            header = data[pos]
            obu_type = (header >> 3) & 0xF
            has_extension = (header >> 2) & 1
            if not (header >> 1) & 1:  # obu_has_size_field == 0
                return len(data)
            size, n = _leb128(data, pos + 1 + has_extension)
            length = 1 + has_extension + n + size
            if pos + length > len(data):
                return len(data)
            if obu_type != _AV1_OBU_TEMPORAL_DELIMITER:
                total += length
            pos += length
    except ValueError:
        return len(data)
    return total


# ----------------------------------------------------------------------------------------------------------
# encode / decode


def encode_baseline(frames, fps: float, codec: str, kbps: float, workdir: str | os.PathLike,
                    threads: int = 1) -> tuple[np.ndarray, float]:
    """Encode ``frames`` with a classical codec at ``kbps`` (2-pass), decode, and measure the real rate.

    Args:
        frames: ``uint8 [T, H, W, 3]`` RGB, T >= 1, H and W even (4:2:0 chroma).
        fps: frame rate in frames / second (sets the rate control's time base and the clip duration).
        codec: one of :data:`BASELINE_CODECS` (``"x264"``, ``"x265"``, ``"svt-av1"``, ``"libaom"``); see the
            module docstring for the exact settings.
        kbps: target bitrate in kbps (1000 bit/s), > 0. SVT-AV1 rounds it to whole kbps.
        workdir: directory for the temporary raw input, pass logs and bitstream (a private subdirectory
            is created there and removed on return; ffmpeg runs inside it, so paths need no escaping).
        threads: encoder and decoder threads (1 = single-threaded, the default).

    Returns:
        ``(decoded, actual_kbps)``: ``decoded`` ``uint8 [T, H, W, 3]`` RGB frames as the decoder outputs
        them, and the bitrate measured from the encoded stream (see the module docstring) in kbps.

    Raises:
        VQTalkerError: bad input, ffmpeg or the encoder / decoder missing, ffmpeg failing (with the last
            line of its stderr) or running past its time limit (60 s + 2 s per 256x256 frame per run),
            or a decoded frame count different from T.
    """
    video = np.asarray(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or min(video.shape[:3]) < 1:
        raise VQTalkerError(f"frames must be a non-empty uint8 RGB video [T, H, W, 3], got {video.dtype} "
                            f"{video.shape}")
    t, h, w = video.shape[:3]
    if h % 2 or w % 2:
        raise VQTalkerError(f"frame height and width must be even for 4:2:0, got {h}x{w}")
    if not (fps > 0 and math.isfinite(fps)):
        raise VQTalkerError(f"fps must be a positive number, got {fps}")
    if not (kbps > 0 and math.isfinite(kbps)):
        raise VQTalkerError(f"kbps must be a positive number, got {kbps}")
    if codec not in _CODECS:
        raise VQTalkerError(f"unknown baseline codec {codec!r}; choose from {', '.join(BASELINE_CODECS)}")
    threads = max(1, int(threads))
    exe = _exe()
    spec = _CODECS[codec]
    if spec["encoder"] not in _ffmpeg_list("encoders"):
        raise VQTalkerError(f"the bundled ffmpeg has no {spec['encoder']} encoder (needed for {codec}); "
                            f"available baselines: {', '.join(baseline_encoders()) or 'none'}")
    decoder = _decoder(codec)
    if decoder is None:
        raise VQTalkerError(f"the bundled ffmpeg has no decoder for {codec} (tried "
                            f"{', '.join(spec['decoders'])})")

    limit = _timeout_s(t, h, w)
    os.makedirs(workdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"rd-{codec}-{kbps:g}k-", dir=workdir)
    try:
        np.ascontiguousarray(video).tofile(os.path.join(tmp, "input.rgb"))
        common = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-filter_threads", "1",
                  "-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{w}x{h}",
                  "-framerate", f"{fps:.6g}", "-i", "input.rgb", "-frames:v", str(t),
                  "-vf", _TO_YUV420, "-an", "-colorspace", "smpte170m", "-color_range", "tv",
                  "-g", str(max(t, 1)), "-b:v", str(int(round(kbps * 1000)))]
        stream = f"stream.{spec['ext']}"
        _run([*common, *_encoder_args(codec, 1, threads), "-f", "null", "-"], tmp, limit,
             f"{codec} pass 1")
        pass2 = [*common, *_encoder_args(codec, 2, threads)]
        if codec == "x264":
            pass2 += ["-bsf:v", "filter_units=remove_types=6"]  # drop x264's settings-string SEI
        _run([*pass2, "-f", spec["format"], stream], tmp, limit, f"{codec} pass 2")
        with open(os.path.join(tmp, stream), "rb") as fh:
            data = fh.read()
        n_bytes = av1_stream_bytes(data) if spec["format"] == "obu" else len(data)
        raw = _run([exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", str(threads),
                    "-filter_threads", "1", "-f", spec["format"], "-c:v", decoder, "-i", stream,
                    "-vf", _FROM_YUV, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                   tmp, limit, f"{codec} decode")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    frame_bytes = h * w * 3
    if len(raw) != t * frame_bytes:
        raise VQTalkerError(f"{codec} decode: expected {t} frames of {w}x{h}, got {len(raw) / frame_bytes:g}")
    decoded = np.frombuffer(raw, dtype=np.uint8).reshape(t, h, w, 3).copy()
    actual_kbps = n_bytes * 8.0 / (t / fps) / 1000.0
    return decoded, actual_kbps


def measure_quality(reference, distorted, fps: float = 25.0, *, threads: int = 1) -> dict[str, float | None]:
    """``{"ssim_y", "psnr_y", "vmaf"}`` of ``distorted`` against ``reference`` (both ``uint8 [T, H, W, 3]``).

    Thin wrapper over :func:`vqtalker.evaluation.quality.ffmpeg_ssim_psnr` and
    :func:`vqtalker.evaluation.quality.vmaf` (luma of BT.601 limited-range YUV); a value is ``None`` when
    that metric cannot be computed.
    """
    sp = quality.ffmpeg_ssim_psnr(reference, distorted, fps)
    return {"ssim_y": None if sp is None else sp["ssim_y"],
            "psnr_y": None if sp is None else sp["psnr_y"],
            "vmaf": quality.vmaf(reference, distorted, fps, threads=threads)}


# ----------------------------------------------------------------------------------------------------------
# Bjøntegaard deltas


def _curve(rates: Sequence[float], qualities: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rates, dtype=np.float64).ravel()
    q = np.asarray(qualities, dtype=np.float64).ravel()
    if r.shape != q.shape:
        raise VQTalkerError(f"{name}: {r.size} rates but {q.size} quality values")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise VQTalkerError(f"{name}: rates and quality values must be finite (drop missing points first)")
    if np.any(r <= 0):
        raise VQTalkerError(f"{name}: rates must be > 0 (log scale)")
    return r, q


def _bd(x_a: np.ndarray, y_a: np.ndarray, x_b: np.ndarray, y_b: np.ndarray) -> tuple[float | None, str]:
    """Mean of ``fit_b(x) - fit_a(x)`` over the overlap of the x ranges, with the reason when undefined.

    Each curve is fitted with a polynomial of degree ``min(3, distinct x values - 1)`` (cubic with >= 4
    distinct points, quadratic with 3, linear with 2).
    """
    for name, x in (("A", x_a), ("B", x_b)):
        if np.unique(x).size < 2:
            return None, f"curve {name} has {np.unique(x).size} distinct point(s), needs >= 2"
    lo = max(x_a.min(), x_b.min())
    hi = min(x_a.max(), x_b.max())
    if not hi > lo:
        return None, "the curves' ranges do not overlap"
    integrals = []
    for x, y in ((x_a, y_a), (x_b, y_b)):
        deg = min(3, np.unique(x).size - 1)
        p = np.polyint(np.polyfit(x, y, deg))
        integrals.append(np.polyval(p, hi) - np.polyval(p, lo))
    return float((integrals[1] - integrals[0]) / (hi - lo)), ""


def _bd_rate(rates_a, quality_a, rates_b, quality_b) -> tuple[float | None, str]:
    r_a, q_a = _curve(rates_a, quality_a, "curve A")
    r_b, q_b = _curve(rates_b, quality_b, "curve B")
    d, why = _bd(q_a, np.log(r_a), q_b, np.log(r_b))
    return (None, why) if d is None else ((math.exp(d) - 1.0) * 100.0, "")


def bd_rate(rates_a: Sequence[float], quality_a: Sequence[float], rates_b: Sequence[float],
            quality_b: Sequence[float]) -> float | None:
    """Bjøntegaard delta rate (%) of curve B relative to curve A: negative = B needs fewer bits.

    Args:
        rates_a, quality_a: RD points of A (rates > 0 in any one unit, e.g. kbps; quality higher = better,
            e.g. PSNR-Y dB, SSIM-Y, VMAF), in any order.
        rates_b, quality_b: the same for B (same rate unit and metric).

    Returns:
        ``(exp(mean(log r_B - log r_A)) - 1) * 100`` where ``log r`` of each curve is fitted as a
        polynomial of quality (VCEG-M33) and the mean is the integral over the overlapping quality
        interval divided by its length. The fit is cubic with >= 4 distinct quality values per curve;
        with 3 it is quadratic and with 2 linear (less reliable, but still the average log-rate gap).
        ``None`` when a curve has fewer than 2 distinct quality values or the quality ranges do not overlap.

    Raises:
        VQTalkerError: mismatched lengths, non-finite values or rates <= 0.
    """
    return _bd_rate(rates_a, quality_a, rates_b, quality_b)[0]


def _bd_quality(rates_a, quality_a, rates_b, quality_b) -> tuple[float | None, str]:
    r_a, q_a = _curve(rates_a, quality_a, "curve A")
    r_b, q_b = _curve(rates_b, quality_b, "curve B")
    return _bd(np.log(r_a), q_a, np.log(r_b), q_b)


def bd_quality(rates_a: Sequence[float], quality_a: Sequence[float], rates_b: Sequence[float],
               quality_b: Sequence[float]) -> float | None:
    """Bjøntegaard delta quality (BD-PSNR style) of B relative to A at equal rate: positive = B better.

    Each curve's quality is fitted as a polynomial of log rate (cubic with >= 4 distinct rates, quadratic
    with 3, linear with 2), and the mean difference ``q_B - q_A`` over the overlapping log-rate interval is
    returned in the metric's unit (dB for PSNR). ``None`` when a curve has fewer than 2 distinct rates or
    the rate ranges do not overlap. Raises :class:`VQTalkerError` on invalid input as :func:`bd_rate`.
    """
    return _bd_quality(rates_a, quality_a, rates_b, quality_b)[0]


# ----------------------------------------------------------------------------------------------------------
# tables and plots


def _points(results: Sequence[dict], codec: str, metric: str) -> tuple[list[float], list[float]]:
    """(kbps, metric) of ``codec``'s results with a finite value, sorted by rate."""
    pts = sorted((float(r["kbps"]), float(r[metric])) for r in results
                 if r["codec"] == codec and r.get(metric) is not None and math.isfinite(float(r[metric]))
                 and float(r["kbps"]) > 0)
    return [p[0] for p in pts], [p[1] for p in pts]


def _codecs(results: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(r["codec"] for r in results))


def _fmt(value, digits: int) -> str:
    return "n/a" if value is None or not math.isfinite(float(value)) else f"{float(value):.{digits}f}"


def rd_table_markdown(results: Sequence[dict]) -> str:
    """Markdown table of RD points: one row per codec x setting, ordered by codec then rate.

    Args:
        results: dicts ``{"codec": str, "setting": str, "kbps": float, "ssim_y": float | None,
            "psnr_y": float | None, "vmaf": float | None}`` (kbps measured; metrics may be averages
            over clips). Missing metrics print as ``n/a``.
    """
    lines = ["| codec | setting | kbps | SSIM-Y | PSNR-Y (dB) | VMAF |",
             "|---|---|---:|---:|---:|---:|"]
    order = {c: i for i, c in enumerate(_codecs(results))}
    for r in sorted(results, key=lambda r: (order[r["codec"]], float(r["kbps"]))):
        lines.append(f"| {r['codec']} | {r['setting']} | {float(r['kbps']):.2f} | {_fmt(r.get('ssim_y'), 4)} "
                     f"| {_fmt(r.get('psnr_y'), 2)} | {_fmt(r.get('vmaf'), 2)} |")
    return "\n".join(lines) + "\n"


def bd_rate_table_markdown(results: Sequence[dict], anchor: str = "vqtalker") -> str:
    """Markdown table of the BD-rate (%) of every other codec relative to ``anchor``, per metric.

    A positive value means the codec needs that many percent *more* bits than the anchor for the same
    quality (negative: fewer). A cell is ``n/a (reason)`` when :func:`bd_rate` is undefined (too few
    points with that metric, or no overlap of the quality ranges).
    """
    metrics = list(METRICS)
    lines = [f"BD-rate vs {anchor} (%, + = needs more bits than {anchor} for equal quality)", "",
             "| codec | " + " | ".join(f"BD-rate {METRICS[m].split(' ')[0]}" for m in metrics) + " |",
             "|---|" + "---:|" * len(metrics)]
    anchor_pts = {m: _points(results, anchor, m) for m in metrics}
    others = [c for c in _codecs(results) if c != anchor]
    if not others:
        lines.append(f"| (no codec other than {anchor}) |" + " |" * len(metrics))
    for codec in others:
        cells = []
        for m in metrics:
            r_a, q_a = anchor_pts[m]
            r_b, q_b = _points(results, codec, m)
            if not r_a:
                cells.append(f"n/a (no {anchor} points with {m})")
                continue
            if not r_b:
                cells.append(f"n/a (no points with {m})")
                continue
            value, why = _bd_rate(r_a, q_a, r_b, q_b)
            if value is None:
                cells.append(f"n/a ({why.replace('curve A', anchor).replace('curve B', codec)})")
            else:
                cells.append(f"{value:+.1f}")
        lines.append(f"| {codec} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_rd(results: Sequence[dict], path: str | os.PathLike, metric: str = "ssim_y") -> None:
    """Write one PNG with one line per codec: x = measured total kbps (log scale), y = ``metric``.

    ``metric`` is one of :data:`METRICS` (``"ssim_y"``, ``"psnr_y"``, ``"vmaf"``); points without it are
    left out. Uses matplotlib's Agg canvas directly (no pyplot), so no window opens and the global
    backend and interactive mode are untouched. The file is written atomically.
    """
    if metric not in METRICS:
        raise VQTalkerError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from vqtalker.utils import atomic_output

    fig = Figure(figsize=(6.0, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for codec in _codecs(results):
        rates, values = _points(results, codec, metric)
        if rates:
            ax.plot(rates, values, marker="o", label=codec)
    ax.set_xscale("log")
    ax.set_xlabel("total bitrate (kbps, measured)")
    ax.set_ylabel(METRICS[metric])
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
