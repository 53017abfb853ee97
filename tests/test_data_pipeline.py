"""`vqtalker prepare` end to end on a folder of synthetic raw videos, then both datasets on its output.

The folder mixes: a 30-fps clip of the fixture face under a known rotation with a face-less gap (→ two
segments), a silent video with a same-stem wav (paired speech), a small face (→ --min-face), a video
without faces, an audio-only mp4 and a truncated file (→ logged, run continues).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from synth import load_face, render, tone  # noqa: E402

from vqtalker.io.video import write_video  # noqa: E402

N1 = 45  # frames (30 fps) of face before the gap
GAP = 12  # face-less frames
SRC_FPS = 30


def _angle(i: int) -> float:
    return 15.0 * np.sin(2 * np.pi * i / 45.0)


def _make_raw(root: Path) -> None:
    import av
    import soundfile as sf

    face = load_face()
    grey = np.full((240, 320, 3), 128, np.uint8)
    frames = []
    for i in range(2 * N1 + GAP):
        if N1 <= i < N1 + GAP:
            frames.append(grey)
        else:
            frames.append(render(face, angle=_angle(i), shift=(10 * np.sin(i / 7), 0)))
    (root / "train").mkdir(parents=True)
    (root / "dev").mkdir()
    write_video(root / "train" / "moving.mp4", frames, fps=SRC_FPS, audio=tone(len(frames) / SRC_FPS))
    write_video(root / "train" / "silent.mp4", [render(face)] * 30, fps=25)
    wave = np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 2).astype(np.float32)
    sf.write(root / "train" / "silent.wav", wave, 16000, subtype="FLOAT")
    write_video(root / "train" / "small.mp4", [render(face, scale=0.45)] * 30, fps=25)
    write_video(root / "dev" / "noface.mp4", [grey] * 30, fps=25)
    with av.open(str(root / "train" / "audio_only.mp4"), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        fr = av.AudioFrame.from_ndarray(tone(1.0)[None], format="fltp", layout="mono")
        fr.sample_rate = 16000
        for pkt in list(s.encode(fr)) + list(s.encode(None)):
            c.mux(pkt)
    data = (root / "train" / "silent.mp4").read_bytes()
    (root / "train" / "broken.mp4").write_bytes(data[: len(data) // 3])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from vqtalker.data.prepare import PrepareConfig, prepare_dataset

    base = tmp_path_factory.mktemp("prep")
    raw, out = base / "raw", base / "out"
    _make_raw(raw)
    cfg = PrepareConfig(size=64, min_face=64, min_frames=20, preview=True)
    summary = prepare_dataset(raw, out, cfg)
    return raw, out, cfg, summary


def test_summary_and_skips(prepared):
    raw, out, cfg, s = prepared
    assert s["files"] == 6
    assert s["clips_kept"] == 3  # moving -> 2 segments, silent -> 1
    skipped = {r["source"]: r["reason"] for r in s["files_skipped"]}
    failed = {r["source"]: r["reason"] for r in s["files_failed"]}
    assert "no video stream" in skipped["train/audio_only.mp4"]
    assert "no face" in skipped["dev/noface.mp4"]
    assert "face too small" in skipped["train/small.mp4"]
    assert "train/broken.mp4" in failed or "train/broken.mp4" in skipped
    assert json.loads((out / "summary.json").read_text())["clips_kept"] == 3
    assert "summary" in (out / "prepare.log").read_text()


def test_segments_layout_and_roll(prepared):
    raw, out, cfg, s = prepared
    index = json.loads((out / "index.json").read_text())
    ids = sorted(c["id"] for c in index["clips"])
    assert ids == ["moving__s00", "moving__s01", "silent__s00"]
    for seg in ("moving__s00", "moving__s01"):
        d = out / "train" / seg
        meta = json.loads((d / "meta.json").read_text())
        T = meta["num_frames"]
        assert 30 <= T <= 38  # 45 frames at 30 fps = 37.5 frames at 25 fps (minus the gap edge)
        frames = np.load(d / "frames.npy", mmap_mode="r")
        assert frames.shape == (T, 64, 64, 3) and frames.dtype == np.uint8
        lm = np.load(d / "landmarks.npy")
        assert lm.shape == (T, 478, 3) and lm[..., :2].min() > 0 and lm[..., :2].max() < 64
        for name, dim in (("pose", (3,)), ("gaze", (2,)), ("blink", (2,)), ("regions", (3, 4))):
            assert np.load(d / f"{name}.npy").shape == (T, *dim)
        import soundfile as sf

        wave, sr = sf.read(d / "audio.wav")
        assert sr == 16000 and wave.shape[0] == T * 640
        # roll follows the known rotation: output frame k shows source frame round(k * 30 / 25) (+ offset)
        start = meta["segment"]["start_frame"]
        src = np.round((start + np.arange(T)) * SRC_FPS / 25.0).astype(int)
        known = np.array([_angle(i) for i in src])
        roll = np.load(d / "pose.npy")[:, 2]
        offset = np.median(roll - known)
        assert abs(offset) < 5
        assert np.abs(roll - known - offset).max() < 3.0
        assert (out / "previews" / f"{seg}.png").stat().st_size > 10_000


def test_paired_audio_by_stem(prepared):
    import soundfile as sf

    raw, out, cfg, s = prepared
    meta = json.loads((out / "train" / "silent__s00" / "meta.json").read_text())
    assert meta["has_audio"] and meta["audio_source"].endswith("silent.wav")
    got, _ = sf.read(out / "train" / "silent__s00" / "audio.wav", dtype="float32")
    want, _ = sf.read(raw / "train" / "silent.wav", dtype="float32")
    assert got.shape[0] == 30 * 640
    np.testing.assert_allclose(got, want[: 30 * 640], atol=1 / 32767 + 1e-6)  # PCM16 storage


def test_resume_skips_finished_work(prepared):
    from vqtalker.data.prepare import prepare_dataset

    raw, out, cfg, _ = prepared
    stamp = (out / "train" / "moving__s00" / "frames.npy").stat().st_mtime_ns
    s2 = prepare_dataset(raw, out, cfg)
    assert s2["clips_kept"] == 3 and s2["files_done_before"] == 2
    assert s2["frames_processed_this_run"] == 0  # only the broken file is retried, and it has no frames
    assert (out / "train" / "moving__s00" / "frames.npy").stat().st_mtime_ns == stamp
    assert not list(out.glob("train/*.partial*")) and not (out / ".tmp").exists()


def test_frame_pair_dataset(prepared):
    import torch

    from vqtalker.data.datasets import FramePairDataset

    _, out, _, _ = prepared
    ds = FramePairDataset(out, size=32, split="train")
    assert len(ds) == sum(json.loads((out / "train" / c / "meta.json").read_text())["num_frames"]
                          for c in ("moving__s00", "moving__s01", "silent__s00"))
    item = ds[3]
    assert item["source"].shape == (3, 32, 32) and item["target"].shape == (3, 32, 32)
    assert item["source"].min() >= -1 and item["target"].max() <= 1
    assert item["source_index"] != item["target_index"]
    for m in ("eye_mask", "mouth_mask"):
        assert item[m].shape == (1, 32, 32) and 0 < item[m].mean() < 0.3
    # the mouth-channel inputs: inner-lip gap of each frame / stored crop side × 20, whatever the item size
    ci, t = ds.locate(3)
    lm = ds.clip(ci).array("landmarks")
    for key, i in (("target_mouth", t), ("source_mouth", item["source_index"])):
        gap = np.linalg.norm(lm[i, 13, :2] - lm[i, 14, :2]) / ds.stored_size * 20
        assert float(item[key]) == pytest.approx(gap, rel=1e-5)
    full = FramePairDataset(out, split="train")
    assert full[3]["target"].shape == (3, 64, 64)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)
    batch = next(iter(loader))
    assert batch["target"].shape == (4, 3, 32, 32)
    with pytest.raises(Exception, match="no clips"):
        FramePairDataset(out, split="test")


def test_main_speaker_is_the_largest_face(tmp_path):
    from vqtalker.data.prepare import PrepareConfig, track_video
    from vqtalker.face.crop import landmark_box

    face = load_face()
    frames = []
    for i in range(30):
        img = render(face, canvas=(240, 400), shift=(-90, 0), scale=1.0, angle=5 * np.sin(i / 5))
        small = render(face, canvas=(240, 400), shift=(130, 30), scale=0.6)
        img[:, 250:] = small[:, 250:]  # a second, smaller face on the right
        frames.append(img)
    p = write_video(tmp_path / "two.mp4", frames, fps=25)
    lms, cuts, nfaces, _, shape = track_video(p, PrepareConfig(detect_every=10))
    assert nfaces.max() == 2 and not cuts.any()
    tracked = [lm for lm in lms if lm is not None]
    assert len(tracked) >= 25
    centres = np.array([(landmark_box(lm)[0] + landmark_box(lm)[2]) / 2 for lm in tracked])
    assert (centres < 200).all()  # always the large face on the left (its centre is at x = 110)


class _WrongFaceTracker:
    """Stand-in tracker whose mesh, on the full frame, locks onto the small face (x ≈ 330), as mediapipe
    may; on a region around the large face it finds the large face (x ≈ 110)."""

    def __init__(self):
        self.calls = []

    def _lm(self, cx, cy, size, x_off=0, y_off=0):
        g = np.random.default_rng(0).uniform(-0.5, 0.5, (478, 3)).astype(np.float32) * size
        g[:, 0] += cx - x_off
        g[:, 1] += cy - y_off
        return g

    def track(self, frame):
        self.calls.append(frame.shape)
        if frame.shape[1] == 400:
            return self._lm(330, 150, 70)
        return self._lm(110, 130, 110, x_off=self._roi_x0(frame), y_off=0)

    def _roi_x0(self, frame):
        return 0  # the region around the large face starts at x = 0 (clamped)

    def detect(self, frame):
        from vqtalker.face.tracker import Detection

        big = Detection(np.array([55.0, 75, 165, 185]), 0.9)
        small = Detection(np.array([295.0, 115, 365, 185]), 0.95)
        return [big, small]

    def reset(self):
        pass

    def close(self):
        pass


def test_main_speaker_logic_switches_to_the_largest_face(tmp_path):
    from vqtalker.data.prepare import PrepareConfig, track_video
    from vqtalker.face.crop import landmark_box

    p = write_video(tmp_path / "grey.mp4", [np.full((240, 400, 3), 100, np.uint8)] * 12, fps=25)
    tr = _WrongFaceTracker()
    lms, _, nfaces, _, _ = track_video(p, PrepareConfig(detect_every=5), tracker=tr)
    assert nfaces.max() == 2
    centres = [(landmark_box(lm)[0] + landmark_box(lm)[2]) / 2 for lm in lms if lm is not None]
    assert len(centres) == 12 and np.allclose(centres, 110, atol=60)
    assert any(shape[1] < 400 for shape in tr.calls)  # the mesh ran on the region around the large face


def test_cli_errors_are_one_line(tmp_path, capsys):
    from vqtalker.cli import main

    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: input folder not found: {tmp_path / 'missing'}"]
    (tmp_path / "empty").mkdir()
    assert main(["prepare", str(tmp_path / "empty"), str(tmp_path / "out")]) == 2
    assert "no video files found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["prepare", str(tmp_path), str(tmp_path / "out"), "--shard", "2/2"])
