"""Frame-quality metrics for RGB videos (reconstruction benchmarks).

Every video is a numpy ``uint8`` array ``[T, H, W, 3]`` (frames, height, width, RGB). Two videos that
are compared must have exactly the same shape; frame ``t`` of one is compared with frame ``t`` of the
other.

* :func:`vmaf` -- mean VMAF (0..100, higher is better) from the bundled ffmpeg's ``libvmaf`` filter
  (built-in model ``vmaf_v0.6.1``). Returns ``None`` when it cannot be computed (no ffmpeg, no libvmaf,
  frames too small, ffmpeg failed or timed out); it never returns a made-up number.
* :func:`ffmpeg_ssim_psnr` -- luma SSIM and PSNR from ffmpeg's ``ssim`` and ``psnr`` filters, the way the
  video-coding field reports them (on the Y plane of BT.601 limited-range YUV).
* :func:`ssim_psnr` -- SSIM (Wang et al. 2004) and PSNR computed here in numpy / OpenCV on RGB in [0, 1].
* :func:`sharpness` / :func:`sharpness_ratio` -- variance of the Laplacian, a no-reference blur measure.
* :func:`temporal_jitter` -- mean acceleration magnitude of landmark tracks (temporal stability).

PSNR of identical frames is infinite; every PSNR here is capped per frame at :data:`PSNR_CAP_DB` before
averaging over frames, so a video mean stays finite and comparable.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import tempfile
import warnings

import cv2
import numpy as np

from vqtalker.errors import VQTalkerError
from vqtalker.utils.imagemetrics import SSIM_WINDOW, ssim_frame

__all__ = [
    "MIN_FFMPEG_SSIM_SIDE",
    "MIN_VMAF_SIDE",
    "PSNR_CAP_DB",
    "ffmpeg_available",
    "ffmpeg_ssim_psnr",
    "sharpness",
    "sharpness_ratio",
    "ssim_psnr",
    "temporal_jitter",
    "vmaf",
    "vmaf_available",
]

#: Per-frame PSNR ceiling in dB. Identical frames (MSE 0) score this instead of ``inf``.
PSNR_CAP_DB = 100.0

#: Smallest frame height and width (pixels) :func:`vmaf` accepts. libvmaf's coarsest ADM scale
#: degenerates at 32 px or less (identical inputs no longer score 1 on it) and ffmpeg crashes at 16 px or
#: less, so smaller frames give ``None`` rather than a wrong score. Frames are never upscaled.
MIN_VMAF_SIDE = 33

#: Smallest frame height and width (pixels) for ffmpeg's ``ssim`` filter (it uses 8x8 windows and reports
#: NaN or 0 below that); :func:`ffmpeg_ssim_psnr` returns ``None`` for smaller frames.
MIN_FFMPEG_SSIM_SIDE = 8

#: Window of the Wang et al. SSIM: 11x11 Gaussian, sigma 1.5 (MATLAB ``fspecial('gaussian', 11, 1.5)``).
_SSIM_WIN = SSIM_WINDOW

#: RGB -> YUV conversion inside the ffmpeg filter graph (explicit, so it does not depend on defaults):
#: BT.601 matrix, limited ("tv") range, 4:4:4 so no chroma resampling. VMAF, SSIM Y and PSNR Y use luma.
_TO_YUV = "scale=out_color_matrix=bt601:out_range=tv:flags=accurate_rnd+bitexact,format=yuv444p"


# ----------------------------------------------------------------------------------------------------------
# input checks


def _as_video(x, name: str) -> np.ndarray:
    """``x`` as a ``uint8 [T, H, W, 3]`` array (T >= 1), else :class:`VQTalkerError`."""
    arr = np.asarray(x)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise VQTalkerError(f"{name} must be an RGB video [T, H, W, 3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise VQTalkerError(f"{name} must be uint8 (0..255), got {arr.dtype}")
    if arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise VQTalkerError(f"{name} is empty: shape {arr.shape}")
    return arr


def _pair(reference, distorted) -> tuple[np.ndarray, np.ndarray]:
    ref = _as_video(reference, "reference")
    dis = _as_video(distorted, "distorted")
    if ref.shape != dis.shape:
        raise VQTalkerError(f"reference {ref.shape} and distorted {dis.shape} must have the same shape")
    return ref, dis


# ----------------------------------------------------------------------------------------------------------
# ffmpeg-based metrics


@functools.lru_cache(maxsize=1)
def _ffmpeg_exe() -> str | None:
    """Path of the ffmpeg that imageio-ffmpeg provides (bundled binary, or ``IMAGEIO_FFMPEG_EXE``)."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or no binary for this platform
        return None
    return exe if exe and os.path.isfile(exe) else None


@functools.lru_cache(maxsize=1)
def _ffmpeg_filters() -> frozenset[str]:
    """Names of the video filters the ffmpeg binary was built with (empty when there is no ffmpeg)."""
    exe = _ffmpeg_exe()
    if exe is None:
        return frozenset()
    try:
        out = subprocess.run([exe, "-hide_banner", "-nostdin", "-filters"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    names = set()
    for line in out.splitlines():
        # " TS psnr   VV->V   Calculate the PSNR ..." -> flags, name, pads, description
        m = re.match(r"^\s*[A-Z.]{2,3}\s+(\S+)\s+\S+->\S+", line)
        if m:
            names.add(m.group(1))
    return frozenset(names)


def ffmpeg_available() -> bool:
    """True when the bundled ffmpeg exists and has the ``ssim`` and ``psnr`` filters."""
    return {"ssim", "psnr"} <= _ffmpeg_filters()


def vmaf_available() -> bool:
    """True when the bundled ffmpeg exists and was built with ``libvmaf``."""
    return "libvmaf" in _ffmpeg_filters()


def _default_timeout(shape: tuple[int, ...]) -> float:
    """Generous wall-clock limit (s) for one ffmpeg run: 60 s + 1 s per frame per 1080p-frame of pixels."""
    t, h, w = shape[:3]
    return 60.0 + float(t) * max(1.0, h * w / (1920.0 * 1080.0))


def _run_ffmpeg_pair(ref: np.ndarray, dis: np.ndarray, fps: float, graph: str, workdir: str,
                     timeout_s: float, what: str) -> bool:
    """Write both videos as raw rgb24 into ``workdir`` and run ffmpeg on them with ``graph``.

    In the filter graph input ``[0:v]`` is the distorted video ("main" for ffmpeg's metric filters) and
    ``[1:v]`` the reference. ffmpeg runs with ``cwd=workdir`` so log files in the graph can use bare
    file names (no filter-graph escaping of paths). Returns False (with a warning) if ffmpeg failed.
    """
    exe = _ffmpeg_exe()
    if exe is None:
        return False
    t, h, w = ref.shape[:3]
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{w}x{h}", "-framerate", f"{fps:.6g}"]
    dis_path = os.path.join(workdir, "distorted.rgb")
    ref_path = os.path.join(workdir, "reference.rgb")
    np.ascontiguousarray(dis).tofile(dis_path)
    np.ascontiguousarray(ref).tofile(ref_path)
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-filter_threads", "1",
           *raw, "-i", dis_path, *raw, "-i", ref_path,
           "-lavfi", graph, "-frames:v", str(t), "-f", "null", "-"]
    try:
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:
        warnings.warn(f"{what}: ffmpeg did not finish within {timeout_s:.0f} s; no score", stacklevel=3)
        return False
    except OSError as exc:
        warnings.warn(f"{what}: could not run ffmpeg ({exc}); no score", stacklevel=3)
        return False
    if proc.returncode != 0:
        tail = proc.stderr.strip()[-500:]
        warnings.warn(f"{what}: ffmpeg exited with status {proc.returncode} ({tail}); no score", stacklevel=3)
        return False
    return True


def vmaf(reference, distorted, fps: float = 25.0, *, threads: int = 1,
         timeout_s: float | None = None) -> float | None:
    """Mean VMAF of ``distorted`` against ``reference``, from the bundled ffmpeg's ``libvmaf``.

    Args:
        reference: ``uint8 [T, H, W, 3]`` RGB, the original.
        distorted: ``uint8 [T, H, W, 3]`` RGB, same shape, e.g. a reconstruction.
        fps: frame rate (frames / second) the raw frames are given to ffmpeg with. VMAF compares frame
            ``t`` with frame ``t``; the rate only sets timestamps.
        threads: libvmaf worker threads.
        timeout_s: wall-clock limit for ffmpeg in seconds; default 60 s + 1 s per frame (per 1080p worth
            of pixels). ffmpeg is killed when it runs over.

    Returns:
        The arithmetic mean over frames of the per-frame VMAF score (model ``vmaf_v0.6.1``, 0..100, higher
        is better; identical videos score close to, not exactly, 100 because the first frame has no
        motion feature), or ``None`` when no score can be computed: ffmpeg or its ``libvmaf`` filter is
        unavailable, a frame side is below :data:`MIN_VMAF_SIDE` (frames are never rescaled), ffmpeg failed
        or timed out (both with a warning).

    Both videos are written as raw rgb24 to a temporary directory and converted to BT.601 limited-range
    YUV 4:4:4 inside the filter graph; VMAF uses only the luma plane.
    """
    ref, dis = _pair(reference, distorted)
    if not (fps > 0 and math.isfinite(fps)):
        raise VQTalkerError(f"fps must be a positive number, got {fps}")
    if min(ref.shape[1], ref.shape[2]) < MIN_VMAF_SIDE or not vmaf_available():
        return None
    graph = (f"[0:v]{_TO_YUV}[dis];[1:v]{_TO_YUV}[ref];"
             f"[dis][ref]libvmaf=model=version=vmaf_v0.6.1:n_threads={max(1, int(threads))}"
             ":log_fmt=json:log_path=vmaf.json")
    limit = _default_timeout(ref.shape) if timeout_s is None else float(timeout_s)
    with tempfile.TemporaryDirectory(prefix="vqtalker-vmaf-") as tmp:
        if not _run_ffmpeg_pair(ref, dis, fps, graph, tmp, limit, "vmaf"):
            return None
        try:
            with open(os.path.join(tmp, "vmaf.json"), encoding="utf-8") as fh:
                log = json.load(fh)
            score = float(log["pooled_metrics"]["vmaf"]["mean"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"vmaf: unreadable libvmaf log ({exc!r}); no score", stacklevel=2)
            return None
    return score if math.isfinite(score) else None


def _parse_stats(path: str, key: str) -> list[float]:
    """Per-frame ``key`` values (``"Y"`` from an ssim stats file, ``"psnr_y"`` from a psnr one)."""
    values = []
    pattern = re.compile(rf"(?:^|\s){re.escape(key)}:(\S+)")
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = pattern.search(line)
            if m:
                values.append(float(m.group(1)))  # float() reads "inf" and "nan"
    return values


def ffmpeg_ssim_psnr(reference, distorted, fps: float = 25.0, *,
                     timeout_s: float | None = None) -> dict[str, float] | None:
    """Luma SSIM and PSNR of ``distorted`` against ``reference`` from ffmpeg's ``ssim``/``psnr`` filters.

    Args:
        reference, distorted: ``uint8 [T, H, W, 3]`` RGB videos of the same shape.
        fps: frame rate given to ffmpeg (only sets timestamps).
        timeout_s: wall-clock limit for ffmpeg in seconds (default as in :func:`vmaf`).

    Returns:
        ``{"ssim_y": ..., "psnr_y": ...}``: mean over frames of ffmpeg's per-frame SSIM of the Y plane
        (0..1, 1 = identical; ffmpeg's 8x8-window SSIM, not the Gaussian one of :func:`ssim_psnr`) and
        mean over frames of the per-frame Y PSNR in dB (peak 255, each frame capped at
        :data:`PSNR_CAP_DB`; ffmpeg prints it with 0.01 dB resolution). The frames are converted to BT.601
        limited-range YUV 4:4:4 in the filter graph. ``None`` when ffmpeg or the filters are unavailable,
        a frame side is below :data:`MIN_FFMPEG_SSIM_SIDE`, or ffmpeg failed or timed out (with a warning).
    """
    ref, dis = _pair(reference, distorted)
    if not (fps > 0 and math.isfinite(fps)):
        raise VQTalkerError(f"fps must be a positive number, got {fps}")
    if min(ref.shape[1], ref.shape[2]) < MIN_FFMPEG_SSIM_SIDE or not ffmpeg_available():
        return None
    # ssim passes its main input through unchanged, so psnr can take it next in the chain
    graph = (f"[0:v]{_TO_YUV}[dis];[1:v]{_TO_YUV},split[ref1][ref2];"
             "[dis][ref1]ssim=stats_file=ssim.log[dis2];[dis2][ref2]psnr=stats_file=psnr.log")
    limit = _default_timeout(ref.shape) if timeout_s is None else float(timeout_s)
    with tempfile.TemporaryDirectory(prefix="vqtalker-ssim-") as tmp:
        if not _run_ffmpeg_pair(ref, dis, fps, graph, tmp, limit, "ffmpeg_ssim_psnr"):
            return None
        try:
            ssim_y = _parse_stats(os.path.join(tmp, "ssim.log"), "Y")
            psnr_y = _parse_stats(os.path.join(tmp, "psnr.log"), "psnr_y")
        except (OSError, ValueError) as exc:
            warnings.warn(f"ffmpeg_ssim_psnr: unreadable stats file ({exc!r}); no score", stacklevel=2)
            return None
    n = ref.shape[0]
    if len(ssim_y) != n or len(psnr_y) != n or any(math.isnan(v) for v in ssim_y + psnr_y):
        warnings.warn(f"ffmpeg_ssim_psnr: expected {n} valid per-frame values, got {len(ssim_y)} SSIM and "
                      f"{len(psnr_y)} PSNR; no score", stacklevel=2)
        return None
    psnr_capped = np.minimum(np.asarray(psnr_y, dtype=np.float64), PSNR_CAP_DB)
    return {"ssim_y": float(np.mean(ssim_y)), "psnr_y": float(np.mean(psnr_capped))}


# ----------------------------------------------------------------------------------------------------------
# numpy metrics


_ssim_frame = ssim_frame  # one SSIM implementation for the project (vqtalker.utils.imagemetrics)


def _psnr_frame(x: np.ndarray, y: np.ndarray) -> float:
    """PSNR in dB of two float images in [0, 1] (peak 1), capped at :data:`PSNR_CAP_DB`."""
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(1.0 / mse))


def ssim_psnr(reference, distorted) -> dict[str, float]:
    """SSIM and PSNR of ``distorted`` against ``reference`` on RGB, averaged over frames.

    Args:
        reference, distorted: ``uint8 [T, H, W, 3]`` RGB videos of the same shape, H and W >= 11.

    Returns:
        ``{"ssim": ..., "psnr": ...}``:

        * ``ssim`` -- mean over frames of the SSIM of Wang et al. (2004) on RGB scaled to [0, 1]: 11x11
          Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, averaged over the valid
          region (window fully inside the image) and over the three channels. 1 = identical.
        * ``psnr`` -- mean over frames of ``10 log10(1 / MSE)`` in dB, MSE over all pixels and channels of
          the [0, 1] images (same as peak 255 on the uint8 values); each frame capped at
          :data:`PSNR_CAP_DB`, so identical frames give 100 dB rather than ``inf``.

    scikit-image is not a dependency, so this is computed here (OpenCV filtering). The definition is
    that of ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)`` and of Wang et al.'s MATLAB code.
    """
    ref, dis = _pair(reference, distorted)
    if min(ref.shape[1], ref.shape[2]) < _SSIM_WIN:
        raise VQTalkerError(f"ssim_psnr needs frames of at least {_SSIM_WIN}x{_SSIM_WIN}, got "
                            f"{ref.shape[1]}x{ref.shape[2]}")
    ssims, psnrs = [], []
    for r_frame, d_frame in zip(ref, dis, strict=True):
        x = r_frame.astype(np.float64) / 255.0
        y = d_frame.astype(np.float64) / 255.0
        ssims.append(_ssim_frame(x, y))
        psnrs.append(_psnr_frame(x, y))
    return {"ssim": float(np.mean(ssims)), "psnr": float(np.mean(psnrs))}


def sharpness(frames) -> np.ndarray:
    """Variance of the Laplacian of each frame (a no-reference sharpness / blur measure).

    Args:
        frames: ``uint8 [T, H, W, 3]`` RGB video.

    Returns:
        ``float64 [T]``: per frame, the variance over all pixels of ``cv2.Laplacian`` (3x3 aperture,
        float64, OpenCV's default reflect-101 border) of the grey image (``cv2.COLOR_RGB2GRAY``, 0..255),
        in grey levels squared. Higher = more high-frequency detail; blur lowers it, noise raises it. It
        depends on resolution and content, so compare only videos of the same content and size.
    """
    video = _as_video(frames, "frames")
    out = np.empty(video.shape[0], dtype=np.float64)
    for i, frame in enumerate(video):
        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float64)
        out[i] = cv2.Laplacian(grey, cv2.CV_64F, ksize=3).var()
    return out


def sharpness_ratio(output, reference) -> float:
    """``mean(sharpness(output)) / mean(sharpness(reference))``: 1 = as sharp as the reference.

    Below 1 the output is blurrier than the reference, above 1 it has extra high-frequency content
    (sharpening, noise, artefacts). Both videos must have the same frame size (H, W); the frame counts may
    differ. Raises :class:`VQTalkerError` when the reference has no detail at all (sharpness 0).
    """
    out = _as_video(output, "output")
    ref = _as_video(reference, "reference")
    if out.shape[1:] != ref.shape[1:]:
        raise VQTalkerError(f"output frames {out.shape[1:3]} and reference frames {ref.shape[1:3]} must have "
                            "the same size (sharpness depends on resolution)")
    denom = float(np.mean(sharpness(ref)))
    if denom <= 0.0:
        raise VQTalkerError("reference video is completely flat (zero Laplacian variance); "
                            "sharpness ratio is undefined")
    return float(np.mean(sharpness(out))) / denom


def temporal_jitter(points) -> float:
    """Mean magnitude of the second temporal difference (acceleration) of landmark tracks.

    Args:
        points: ``[T, K, 2]`` positions of K landmarks over T >= 3 frames (any float or int dtype, finite),
            e.g. pixels.

    Returns:
        ``mean over t, k of || p[t+1, k] - 2 p[t, k] + p[t-1, k] ||_2``, in the points' units per frame^2
        (e.g. pixels). It is 0 for any motion at constant velocity (including standing still) and grows
        with frame-to-frame shaking: a landmark alternating between two positions ``d`` apart scores
        ``2 d``. It does not depend on the frame rate given elsewhere: the time step is one frame.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 2:
        raise VQTalkerError(f"points must be landmark tracks [T, K, 2], got shape {p.shape}")
    if p.shape[0] < 3 or p.shape[1] < 1:
        raise VQTalkerError(f"temporal_jitter needs at least 3 frames and 1 landmark, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise VQTalkerError("points contain NaN or inf (missing landmarks must be filled in first)")
    acc = p[2:] - 2.0 * p[1:-1] + p[:-2]
    return float(np.mean(np.linalg.norm(acc, axis=-1)))
