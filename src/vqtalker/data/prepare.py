"""Raw talking-head videos → face-cropped 25-fps clips with 16-kHz speech and per-frame control signals.

Pipeline per source video (:func:`process_source`), following the paper's "Dataset Details" (detect and
track faces, keep head motion, drop small faces, resize):

1. **Probe** the file; audio-only files are skipped with a reason. Speech comes from a paired audio file
   (manifest column ``paired_audio`` or an audio file with the same stem next to the video) or from the
   video's own audio stream (its start offset relative to the video stream is honoured).
2. **Pass 1 (track)**: decode, resample to 25 fps (nearest frame in time, so variable frame rate is fine),
   detect shot cuts (mean absolute difference of 32×32 grey thumbnails), track the 478-point face mesh in
   mediapipe video mode, and every ``detect_every`` frames run the face detector: when several faces are
   present, frames whose tracked face is not the largest face (the main speaker) count as "no face".
3. **Segment**: split where the face is lost (gaps up to ``max_gap`` frames are interpolated), at cuts and
   at landmark jumps; drop segments shorter than ``min_frames`` or whose face is smaller than
   ``min_face`` px (logged with the reason).
4. **Crop box**: one fixed square per segment (the head moves inside it; no alignment): per-frame boxes
   from the landmarks (:func:`vqtalker.face.crop.crop_box_from_landmarks`) are median-smoothed over time
   and their union is taken; a segment whose union would exceed ``max_box_growth`` × the typical box is
   split so faces do not shrink inside a huge box.
5. **Pass 2 (write)**: decode again, crop + resize every kept frame to ``size``², store the arrays of
   :mod:`vqtalker.data.layout`, the aligned audio (640 samples per frame) and ``meta.json``; each clip
   directory is renamed into place atomically, each source gets a completion marker, so re-runs skip
   finished work and a crash never leaves half a clip.

:func:`prepare_dataset` runs this over a folder (optionally in worker processes and shards), never stops on
a bad file, rebuilds ``index.json`` and returns/prints a summary.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vqtalker.constants import SAMPLE_RATE
from vqtalker.data.layout import SAMPLES_PER_FRAME, write_index
from vqtalker.errors import VQTalkerError

log = logging.getLogger("vqtalker.prepare")

VIDEO_EXTS = {".mp4", ".mov", ".mpg", ".mpeg", ".avi", ".mkv", ".webm", ".m4v", ".flv", ".wmv", ".ts", ".3gp"}
AUDIO_EXTS = {".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".aiff", ".aif", ".wma"}
SPLIT_NAMES = {"train", "dev", "val", "valid", "test"}


@dataclass
class PrepareConfig:
    """Settings of the preparation pipeline (CLI flags map 1:1)."""

    size: int = 256  # stored crop side in pixels
    fps: float = 25.0  # output frame rate
    min_face: int = 64  # skip segments whose median face (landmark box side, source px) is smaller
    min_frames: int = 25  # skip segments shorter than this (frames at fps)
    max_gap: int = 3  # interpolate face losses of at most this many frames
    crop_scale: float = 1.8  # crop side / face size (same convention as crop_portrait)
    max_box_growth: float = 1.3  # split a segment when its union box exceeds this × the median box
    cut_threshold: float = 40.0  # mean |Δ| of 32x32 grey thumbnails (0..255) that marks a shot cut
    jump_threshold: float = 0.35  # landmark-centre jump between frames (× face size) that splits
    detect_every: int = 25  # face-detector period (frames) for the main-speaker check
    mesh_max_side: int = 960  # downscale larger frames for the mesh (landmarks at full scale)
    preview: bool = False  # write previews/<clip>.png contact sheets


@dataclass
class Segment:
    start: int  # first frame index (at cfg.fps, from the first decoded frame)
    end: int  # exclusive
    box: np.ndarray | None = None  # (x0, y0, side) integer crop box in source pixels
    face_size: float = 0.0


@dataclass
class SourceResult:
    """What happened to one source file."""

    source: str
    status: str = "ok"  # ok | skipped | failed | done-before
    reason: str = ""
    clips: list = field(default_factory=list)  # [{"id", "num_frames"}]
    skipped_segments: list = field(default_factory=list)  # [{"frames", "reason"}]
    frames_decoded: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------- manifest
def find_manifest(raw_dir: Path) -> Path | None:
    """``MANIFEST.tsv`` in ``raw_dir`` or up to three parent folders."""
    d = raw_dir.resolve()
    for _ in range(4):
        p = d / "MANIFEST.tsv"
        if p.is_file():
            return p
        d = d.parent
    return None


def load_manifest(path: Path | None) -> dict[str, dict]:
    """Rows keyed by the resolved absolute path of their ``file`` column."""
    if path is None:
        return {}
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            name = row.get("file") or row.get("path")
            if name:
                rows[str((path.parent / name).resolve())] = {k: (v or "") for k, v in row.items()}
    return rows


def find_paired_audio(video: Path, row: dict | None, manifest_dir: Path | None) -> Path | None:
    """Paired speech file: manifest ``paired_audio`` column, else an audio file with the video's stem."""
    if row and row.get("paired_audio") and manifest_dir is not None:
        p = (manifest_dir / row["paired_audio"]).resolve()
        if p.is_file():
            return p
    for ext in sorted(AUDIO_EXTS):
        for cand in (video.with_suffix(ext), video.with_suffix(ext.upper())):
            if cand.is_file():
                return cand
    return None


def discover(raw_dir: Path) -> list[Path]:
    """All video files under ``raw_dir`` (sorted, hidden folders skipped)."""
    out = []
    for p in sorted(raw_dir.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(raw_dir).parts):
            continue
        if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
            out.append(p)
    return out


def source_key(rel: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(rel.with_suffix("")).replace(os.sep, "__"))


def split_and_id(rel: Path) -> tuple[str, str]:
    """``train/x/y.mp4`` → ("train", "x__y"); files outside a split folder go to "train"."""
    parts = list(rel.with_suffix("").parts)
    split = "train"
    if len(parts) > 1 and parts[0].lower() in SPLIT_NAMES:
        split = parts.pop(0).lower()
    cid = re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(parts))
    return split, cid


# --------------------------------------------------------------------------------------------- tracking
def _thumb(frame: np.ndarray) -> np.ndarray:
    import cv2

    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def _roi_around(box: np.ndarray, shape: tuple, factor: float = 3.0) -> np.ndarray:
    """Integer region ``(x0, y0, x1, y1)`` of ``factor`` × the detection box around it, inside the frame."""
    h, w = shape[:2]
    side = factor * max(box[2] - box[0], box[3] - box[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    return np.array([x0, y0, x1, y1])


def _track_in(tracker, frame: np.ndarray, roi: np.ndarray | None) -> np.ndarray | None:
    if roi is None:
        return tracker.track(frame)
    x0, y0, x1, y1 = (int(v) for v in roi)
    lm = tracker.track(np.ascontiguousarray(frame[y0:y1, x0:x1]))
    if lm is not None:
        lm[:, 0] += x0
        lm[:, 1] += y0
    return lm


def track_video(path: Path, cfg: PrepareConfig, tracker=None):
    """Pass 1. Returns ``(landmarks list[T] of [478,3]|None, cut bool [T], n_faces int [T], t0, shape)``.

    Main speaker: every ``cfg.detect_every`` frames (and after a cut or a lost face) the face detector
    counts faces. With several faces, the mesh runs on a region around the **largest** one (3× its box,
    kept until the next check), and frames whose tracked face is still not the largest count as no face.
    """
    from vqtalker.face.crop import box_iou, landmark_box
    from vqtalker.face.tracker import FaceTracker
    from vqtalker.io.video import iter_frames, iter_frames_at_fps

    own = tracker is None
    tracker = tracker or FaceTracker(max_side=cfg.mesh_max_side)
    tracker.reset()
    lms, cuts, nfaces = [], [], []
    prev_thumb = None
    t0 = None
    shape = None
    main_ok = True
    n_faces = 1
    roi = None  # region the mesh runs on while several faces are visible
    try:
        stream = iter_frames(path)

        def timed():
            nonlocal t0
            for t, f in stream:
                if t0 is None:
                    t0 = t
                yield t, f

        for k, _t, frame in iter_frames_at_fps(timed(), cfg.fps):
            shape = frame.shape
            th = _thumb(frame)
            cut = prev_thumb is not None and float(np.abs(th - prev_thumb).mean()) > cfg.cut_threshold
            prev_thumb = th
            if cut:
                tracker.reset()
                roi = None
            lm = _track_in(tracker, frame, roi)
            prev_lost = bool(lms) and lms[-1] is None
            need_check = k % cfg.detect_every == 0 or cut or (prev_lost and (lm is not None or n_faces > 1))
            if need_check:
                dets = tracker.detect(frame)
                n_faces = len(dets)
                if n_faces > 1:
                    new_roi = _roi_around(dets[0].box, frame.shape)
                    if roi is None or box_iou(new_roi, roi) < 0.6:
                        roi = new_roi
                        tracker.reset()
                        lm = _track_in(tracker, frame, roi)
                elif roi is not None:
                    roi = None
                    tracker.reset()
                    lm = tracker.track(frame)
                main_ok = True
                if lm is not None and n_faces > 1:
                    lb = landmark_box(lm)
                    main_ok = box_iou(lb, dets[0].box) > 0.2 or box_iou(lb, dets[1].box) <= 0.2
            lms.append(lm if main_ok else None)
            cuts.append(cut)
            nfaces.append(n_faces)
    finally:
        if own:
            tracker.close()
    return lms, np.array(cuts, bool), np.array(nfaces, int), float(t0 or 0.0), shape


def fill_gaps(lms: list, cuts: np.ndarray, max_gap: int) -> tuple[list, np.ndarray]:
    """Linearly interpolate runs of ≤ ``max_gap`` missing frames between tracked frames (no cut inside)."""
    lms = list(lms)
    interp = np.zeros(len(lms), bool)
    i = 0
    n = len(lms)
    while i < n:
        if lms[i] is None:
            j = i
            while j < n and lms[j] is None:
                j += 1
            if 0 < i and j < n and j - i <= max_gap and not cuts[i : j + 1].any():
                a, b = lms[i - 1], lms[j]
                for m in range(i, j):
                    w = (m - i + 1) / (j - i + 1)
                    lms[m] = ((1 - w) * a + w * b).astype(np.float32)
                    interp[m] = True
            i = j
        else:
            i += 1
    return lms, interp


def find_runs(lms: list, cuts: np.ndarray, jump_threshold: float) -> list[tuple[int, int]]:
    """Maximal runs of tracked frames without cuts or landmark jumps."""
    from vqtalker.face.crop import landmark_box

    runs = []
    start = None
    prev = None
    for k, lm in enumerate(lms):
        if lm is None:
            if start is not None:
                runs.append((start, k))
            start, prev = None, None
            continue
        b = landmark_box(lm)
        c = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
        s = max(b[2] - b[0], b[3] - b[1])
        jump = prev is not None and np.linalg.norm(c - prev[0]) > jump_threshold * max(s, prev[1])
        split = cuts[k] or jump
        if start is not None and split:
            runs.append((start, k))
            start = None
        if start is None:
            start = k
        prev = (c, s)
    if start is not None:
        runs.append((start, len(lms)))
    return runs


def _median_smooth(x: np.ndarray, width: int = 9) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(x, size=(min(width, len(x)),) + (1,) * (x.ndim - 1), mode="nearest")


def fit_boxes(lm_run: np.ndarray, start: int, cfg: PrepareConfig, frame_hw: tuple[int, int]) -> list[Segment]:
    """Fixed square crop box(es) for a run of landmarks ``[N, 478, 3]`` (greedy split if the head travels).

    Each box is then fitted inside the ``frame_hw = (H, W)`` frame
    (:func:`vqtalker.face.crop.fit_in_frame`).
    """
    from vqtalker.face.crop import crop_box_from_face, fit_in_frame, landmark_box, round_box

    b = landmark_box(lm_run)  # [N, 4]
    centres = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    sizes = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    centres = _median_smooth(centres)
    sizes = _median_smooth(sizes)
    boxes = np.stack([crop_box_from_face(c, s, cfg.crop_scale) for c, s in zip(centres, sizes)])  # x0,y0,side
    segs = []
    i = 0
    n = len(boxes)
    while i < n:
        med = float(np.median(boxes[i:, 2]))
        x0, y0 = boxes[i, 0], boxes[i, 1]
        x1, y1 = x0 + boxes[i, 2], y0 + boxes[i, 2]
        j = i + 1
        while j < n:
            nx0, ny0 = min(x0, boxes[j, 0]), min(y0, boxes[j, 1])
            nx1, ny1 = max(x1, boxes[j, 0] + boxes[j, 2]), max(y1, boxes[j, 1] + boxes[j, 2])
            if max(nx1 - nx0, ny1 - ny0) > cfg.max_box_growth * med:
                break
            x0, y0, x1, y1 = nx0, ny0, nx1, ny1
            j += 1
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        box = fit_in_frame(np.array([cx - side / 2, cy - side / 2, side]), *frame_hw)
        seg = Segment(start + i, start + j, round_box(box))
        seg.face_size = float(np.median(sizes[i:j]))
        segs.append(seg)
        i = j
    return segs


# --------------------------------------------------------------------------------------------- writing
def _load_speech(path: Path, paired: Path | None, info, t0: float) -> tuple[np.ndarray | None, float, str]:
    """16 kHz speech, the time (s, video clock) of its sample 0, and where it came from."""
    from vqtalker.io.audio import load_audio

    if paired is not None:
        return load_audio(paired, SAMPLE_RATE), t0, str(paired)
    if info.has_audio:
        try:
            wave = load_audio(path, SAMPLE_RATE)
        except VQTalkerError as exc:
            log.warning("%s: audio stream unreadable (%s); continuing without audio", path, exc)
            return None, 0.0, ""
        start = info.audio_start if info.audio_start is not None else info.video_start
        return wave, float(start), "video"
    return None, 0.0, ""


def _slice_audio(wave: np.ndarray, sample0: int, n: int) -> tuple[np.ndarray, int]:
    """``n`` samples from ``sample0`` (zero padded outside); returns (samples, number padded)."""
    out = np.zeros(n, np.float32)
    a, b = max(sample0, 0), min(sample0 + n, wave.shape[0])
    if b > a:
        out[a - sample0 : b - sample0] = wave[a:b]
    return out, n - max(0, b - a)


def process_source(
    path: Path,
    rel: Path,
    out_dir: Path,
    cfg: PrepareConfig,
    row: dict | None = None,
    paired: Path | None = None,
    tracker=None,
) -> SourceResult:
    """Run the whole pipeline on one source file; never raises for bad input (returns status/reason)."""
    from vqtalker.face.controls import compute_controls
    from vqtalker.face.crop import crop_square, landmarks_to_crop
    from vqtalker.io.audio import save_audio
    from vqtalker.io.video import iter_frames, iter_frames_at_fps, probe_video
    from vqtalker.utils import atomic_write_bytes

    t_start = time.time()
    res = SourceResult(source=str(rel))
    try:
        info = probe_video(path)
        if not info.has_video:
            res.status, res.reason = "skipped", "no video stream (audio-only file)"
            return res
        lms, cuts, nfaces, t0, shape = track_video(path, cfg, tracker)
        res.frames_decoded = len(lms)
        if not lms:
            res.status, res.reason = "skipped", "no decodable frames"
            return res
        tracked = sum(lm is not None for lm in lms)
        if tracked == 0:
            res.status, res.reason = "skipped", f"no face found in {len(lms)} frames"
            return res
        lms, interp = fill_gaps(lms, cuts, cfg.max_gap)
        segments: list[Segment] = []
        for a, b in find_runs(lms, cuts, cfg.jump_threshold):
            if b - a < cfg.min_frames:
                res.skipped_segments.append(
                    {"frames": [a, b], "reason": f"too short ({b - a} frames < {cfg.min_frames})"}
                )
                continue
            for seg in fit_boxes(np.stack(lms[a:b]), a, cfg, shape[:2]):
                n = seg.end - seg.start
                if n < cfg.min_frames:
                    res.skipped_segments.append(
                        {"frames": [seg.start, seg.end], "reason": f"too short after box split ({n} frames)"}
                    )
                elif seg.face_size < cfg.min_face:
                    res.skipped_segments.append(
                        {
                            "frames": [seg.start, seg.end],
                            "reason": f"face too small ({seg.face_size:.0f} px < --min-face {cfg.min_face})",
                        }
                    )
                else:
                    segments.append(seg)
        if not segments:
            res.status = "skipped"
            reasons = Counter(s["reason"].split(" (")[0] for s in res.skipped_segments)
            res.reason = "no usable segment: " + ", ".join(f"{k} x{v}" for k, v in reasons.items())
            return res

        wave, audio_t0, audio_src = _load_speech(path, paired, info, t0)
        split, base_id = split_and_id(rel)
        tmp_root = out_dir / ".tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        S = cfg.size
        writers = []
        for j, seg in enumerate(segments):
            cid = f"{base_id}__s{j:02d}"
            tmp = tmp_root / f"{cid}.{os.getpid()}"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            mm = np.lib.format.open_memmap(
                tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=(seg.end - seg.start, S, S, 3)
            )
            writers.append((cid, tmp, mm, seg))
        # pass 2: crop every kept frame (segments are sorted and disjoint)
        wi = 0
        last_end = segments[-1].end
        for k, _t, frame in iter_frames_at_fps(iter_frames(path), cfg.fps):
            if k >= last_end:
                break
            while wi < len(writers) and k >= writers[wi][3].end:
                wi += 1
            if wi < len(writers) and k >= writers[wi][3].start:
                _, _, mm, seg = writers[wi]
                mm[k - seg.start] = crop_square(frame, seg.box, S)
        written_frames = 0
        for cid, tmp, mm, seg in writers:
            n = seg.end - seg.start
            mm.flush()
            del mm
            lm_crop = landmarks_to_crop(np.stack(lms[seg.start : seg.end]), seg.box, S)
            ctrl = compute_controls(lm_crop)
            np.save(tmp / "landmarks.npy", lm_crop.astype(np.float32))
            for name in ("pose", "gaze", "blink", "regions"):
                np.save(tmp / f"{name}.npy", ctrl[name])
            has_audio = wave is not None
            pad = 0
            if has_audio:
                s0 = int(round((t0 + seg.start / cfg.fps - audio_t0) * SAMPLE_RATE))
                seg_audio, pad = _slice_audio(wave, s0, n * SAMPLES_PER_FRAME)
                save_audio(tmp / "audio.wav", seg_audio, SAMPLE_RATE)
            row = row or {}
            meta = {
                "id": cid,
                "split": split,
                "source": str(rel),
                "source_path": str(path),
                "identity": row.get("identity") or None,
                "language": row.get("language") or None,
                "license": row.get("license") or None,
                "source_repo": row.get("source_repo") or None,
                "content": row.get("content") or None,
                "fps": cfg.fps,
                "num_frames": n,
                "size": S,
                "has_audio": has_audio,
                "audio_source": audio_src or None,
                "audio_padded_samples": int(pad),
                "sample_rate": SAMPLE_RATE,
                "samples_per_frame": SAMPLES_PER_FRAME,
                "segment": {
                    "index": int(cid.rsplit("__s", 1)[1]),
                    "start_frame": seg.start,
                    "end_frame": seg.end,
                    "start_time": round(seg.start / cfg.fps, 4),
                    "crop_box_xy_side": [int(v) for v in seg.box],
                    "source_resolution": [int(shape[1]), int(shape[0])],
                    "face_size_px": round(seg.face_size, 1),
                    "interpolated_frames": [int(i) for i in np.flatnonzero(interp[seg.start : seg.end])],
                    "max_faces_seen": int(nfaces[seg.start : seg.end].max()),
                },
                "config": asdict(cfg),
                "signals": {
                    "pose": "yaw, pitch, roll degrees (vqtalker.face.controls)",
                    "gaze": "horizontal, vertical iris offset / half eye width",
                    "blink": "left, right eye aspect ratio",
                    "regions": "left eye, right eye, mouth boxes x0 y0 x1 y1 in crop px",
                },
            }
            atomic_write_bytes(tmp / "meta.json", json.dumps(meta, indent=1).encode())
            final = out_dir / split / cid
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            if cfg.preview:
                from vqtalker.data.preview import write_preview

                try:
                    write_preview(final, out_dir / "previews" / f"{cid}.png")
                except Exception as exc:  # a preview failure must not lose the clip
                    log.warning("%s: preview failed: %s", cid, exc)
            res.clips.append({"id": cid, "split": split, "num_frames": n})
            written_frames += n
        return res
    except VQTalkerError as exc:
        res.status, res.reason = "failed", str(exc)
        return res
    except Exception as exc:  # one bad file never stops the run
        res.status, res.reason = "failed", f"{type(exc).__name__}: {exc}"
        log.debug("%s", traceback.format_exc())
        return res
    finally:
        res.seconds = time.time() - t_start


# --------------------------------------------------------------------------------------------- driver
@dataclass
class _Job:
    path: Path
    rel: Path
    row: dict | None
    paired: Path | None


def _done_path(out_dir: Path, rel: Path) -> Path:
    return out_dir / ".done" / f"{source_key(rel)}.json"


def _run_job(args) -> dict:
    job, out_dir, cfg = args
    import cv2

    cv2.setNumThreads(1)
    res = process_source(job.path, job.rel, out_dir, cfg, job.row, job.paired)
    if res.status in ("ok", "skipped"):  # failures are retried on the next run
        from vqtalker.utils import atomic_write_bytes

        atomic_write_bytes(_done_path(out_dir, job.rel), json.dumps(asdict(res), indent=1).encode())
    return asdict(res)


def _setup_logging(out_dir: Path) -> logging.Handler:
    out_dir.mkdir(parents=True, exist_ok=True)
    h = logging.FileHandler(out_dir / "prepare.log")
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(h)
    log.setLevel(logging.INFO)
    if not any(
        isinstance(x, logging.StreamHandler) and not isinstance(x, logging.FileHandler) for x in log.handlers
    ):
        sh = logging.StreamHandler()
        sh.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(sh)
    return h


def prepare_dataset(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    cfg: PrepareConfig | None = None,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    manifest: str | os.PathLike | None = None,
) -> dict:
    """Prepare every video under ``raw_dir`` into ``out_dir``; returns the summary dict (also saved)."""
    cfg = cfg or PrepareConfig()
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.exists():
        raise VQTalkerError(f"input folder not found: {raw_dir}")
    if cfg.size < 16 or cfg.size % 2:
        raise VQTalkerError(f"--size must be an even number >= 16, got {cfg.size}")
    if cfg.fps <= 0:
        raise VQTalkerError(f"--fps must be positive, got {cfg.fps}")
    if abs(cfg.fps * SAMPLES_PER_FRAME - SAMPLE_RATE) > 1e-6:
        log.warning("fps %.3f: audio.wav is still stored at 640 samples/frame only for 25 fps", cfg.fps)
    i_shard, n_shard = shard
    if not (0 <= i_shard < n_shard):
        raise VQTalkerError(f"--shard must be I/N with 0 <= I < N, got {i_shard}/{n_shard}")
    handler = _setup_logging(out_dir)
    try:
        files = [raw_dir] if raw_dir.is_file() else discover(raw_dir)
        base = raw_dir.parent if raw_dir.is_file() else raw_dir
        mpath = Path(manifest) if manifest else find_manifest(base)
        rows = load_manifest(mpath)
        jobs = []
        for i, p in enumerate(files):
            if i % n_shard != i_shard:
                continue
            rel = p.relative_to(base)
            row = rows.get(str(p.resolve()))
            jobs.append(_Job(p, rel, row, find_paired_audio(p, row, mpath.parent if mpath else None)))
        log.info(
            "prepare %s -> %s: %d video files (shard %d/%d), manifest %s, size %d, fps %g",
            raw_dir,
            out_dir,
            len(jobs),
            i_shard,
            n_shard,
            mpath or "none",
            cfg.size,
            cfg.fps,
        )
        t_start = time.time()
        results = []
        todo = []
        for job in jobs:
            dp = _done_path(out_dir, job.rel)
            if dp.is_file():
                try:
                    prev = json.loads(dp.read_text())
                    if all((out_dir / c["split"] / c["id"] / "meta.json").is_file() for c in prev["clips"]):
                        prev["status"] = "done-before" if prev["status"] == "ok" else prev["status"]
                        prev["resumed"] = True
                        results.append(prev)
                        continue
                except (OSError, json.JSONDecodeError, KeyError):
                    pass
            todo.append(job)
        if len(todo) < len(jobs):
            log.info("resuming: %d of %d files already done", len(jobs) - len(todo), len(jobs))
        args = [(j, out_dir, cfg) for j in todo]
        if workers > 1 and len(todo) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                it = pool.imap_unordered(_run_job, args)
                for r in it:
                    _log_result(r)
                    results.append(r)
        else:
            for a in args:
                r = _run_job(a)
                _log_result(r)
                results.append(r)
        elapsed = time.time() - t_start
        summary = summarize(results, elapsed)
        index = write_index(out_dir)
        summary["index_clips_total"] = len(index["clips"])
        from vqtalker.utils import atomic_write_bytes

        atomic_write_bytes(out_dir / "summary.json", json.dumps(summary, indent=1).encode())
        shutil.rmtree(out_dir / ".tmp", ignore_errors=True)
        log.info("%s", format_summary(summary))
        return summary
    finally:
        log.removeHandler(handler)
        handler.close()


def _log_result(r: dict) -> None:
    if r["status"] == "ok":
        nf = sum(c["num_frames"] for c in r["clips"])
        log.info(
            "ok      %s: %d clip(s), %d frames, %.1fs (%.1f frames/s)%s",
            r["source"],
            len(r["clips"]),
            nf,
            r["seconds"],
            r["frames_decoded"] / max(r["seconds"], 1e-6),
            ""
            if not r["skipped_segments"]
            else f"; dropped {len(r['skipped_segments'])} segment(s): "
            + "; ".join(s["reason"] for s in r["skipped_segments"][:3]),
        )
    else:
        log.warning("%-7s %s: %s", r["status"], r["source"], r["reason"])


def summarize(results: list[dict], elapsed: float) -> dict:
    new = [r for r in results if not r.get("resumed")]
    kept = [c for r in results for c in r["clips"]]
    reasons = Counter()
    for r in results:
        if r["status"] in ("skipped", "failed"):
            reasons[f"{r['status']} file: {r['reason'].split(':')[0].split(' (')[0]}"] += 1
        for s in r["skipped_segments"]:
            reasons[f"dropped segment: {s['reason'].split(' (')[0]}"] += 1
    decoded = sum(r["frames_decoded"] for r in new)
    return {
        "files": len(results),
        "files_ok": sum(r["status"] in ("ok", "done-before") for r in results),
        "files_done_before": sum(r["status"] == "done-before" for r in results),
        "files_skipped": [
            {"source": r["source"], "reason": r["reason"]} for r in results if r["status"] == "skipped"
        ],
        "files_failed": [
            {"source": r["source"], "reason": r["reason"]} for r in results if r["status"] == "failed"
        ],
        "segments_dropped": [{"source": r["source"], **s} for r in results for s in r["skipped_segments"]],
        "reasons": dict(reasons),
        "clips_kept": len(kept),
        "frames_kept": sum(c["num_frames"] for c in kept),
        "frames_processed_this_run": decoded,
        "seconds": round(elapsed, 1),
        "frames_per_second": round(decoded / elapsed, 2) if elapsed > 0 and decoded else None,
    }


def format_summary(s: dict) -> str:
    lines = [
        "summary:",
        f"  files: {s['files']} ({s['files_ok']} ok incl. {s['files_done_before']} done before, "
        f"{len(s['files_skipped'])} skipped, {len(s['files_failed'])} failed)",
        f"  clips (segments) kept: {s['clips_kept']}, frames kept: {s['frames_kept']} "
        f"({s['frames_kept'] / 25.0:.1f} s at 25 fps)",
        f"  this run: {s['frames_processed_this_run']} frames in {s['seconds']} s"
        + (f" = {s['frames_per_second']} frames/s" if s["frames_per_second"] else ""),
    ]
    for k, v in sorted(s["reasons"].items()):
        lines.append(f"  {k}: {v}")
    for r in s["files_skipped"] + s["files_failed"]:
        lines.append(f"    - {r['source']}: {r['reason']}")
    return "\n".join(lines)
