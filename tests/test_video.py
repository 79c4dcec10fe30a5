"""Importing the user's own videos: clips written here (mp4 with imageio's ffmpeg plugin or the ffmpeg
binary, GIF and PNG frame folders with Pillow), imported, and read back through the dataset interface."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dsvae.cli import main
from dsvae.data import DatasetError, SequenceDataset, open_dataset, video
from dsvae.data.video import (
    Clip,
    cut_sequences,
    decode_frames,
    fit_frame,
    import_videos,
    split_by_source,
)

iio = pytest.importorskip("imageio.v3")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
pytest.importorskip("av")

H, W = 32, 48  # multiples of 16: the mp4 encoder keeps them as they are


def moving_square(n: int, h: int = H, w: int = W, color=(255, 64, 0)) -> np.ndarray:
    """(n, h, w, 3) uint8: a square moving right, one pixel per frame, on a grey background."""
    frames = np.full((n, h, w, 3), 40, dtype=np.uint8)
    for t in range(n):
        x = t % (w - 8)
        frames[t, h // 2 - 4 : h // 2 + 4, x : x + 8] = color
    return frames


def write_mp4(path, frames, fps=10):
    iio.imwrite(path, frames, plugin="FFMPEG", fps=fps)


def write_gif(path, frames, ms=100):
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms, loop=0)


def write_png_folder(folder, frames):
    folder.mkdir(parents=True)
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame{t}.png")  # frame10 must come after frame9


@pytest.fixture
def clips(tmp_path):
    """A folder with a 20-frame mp4, a 12-frame gif and an 11-frame PNG folder in a subfolder."""
    root = tmp_path / "clips"
    root.mkdir()
    write_mp4(root / "walk.mp4", moving_square(20))
    write_gif(root / "wave.gif", moving_square(12, color=(0, 200, 255)))
    write_png_folder(root / "lab" / "run1", moving_square(11, color=(0, 255, 0)))
    return root


# --- the pieces -----------------------------------------------------------------------------------
@pytest.mark.parametrize("T,stride,frame_step", [(3, 3, 1), (3, 1, 1), (3, 5, 2), (4, 2, 3), (1, 1, 1)])
def test_cut_sequences_matches_slicing(T, stride, frame_step):
    frames = [np.array([i]) for i in range(23)]
    resized = []
    got = list(
        cut_sequences(frames, T, stride, frame_step, transform=lambda f: resized.append(int(f[0])) or f)
    )
    sampled = np.arange(23)[::frame_step]
    starts = range(0, len(sampled) - T + 1, stride)
    assert [s for s, _ in got] == [int(sampled[s]) for s in starts]
    for (_, seq), s in zip(got, starts):
        np.testing.assert_array_equal(seq[:, 0], sampled[s : s + T])
    used = {int(v) for _, seq in got for v in seq[:, 0]}
    # only sampled frames of a sequence (or of the unfinished one at the end) are resized
    assert all(r in used or r > max(used) for r in resized) and len(resized) <= len(used) + T - 1
    assert set(resized) <= set(sampled.tolist())


def test_cut_sequences_short_clip_gives_nothing():
    assert list(cut_sequences([np.zeros(1)] * 4, T=3, stride=3, frame_step=2)) == []


def test_fit_crop_keeps_the_centre_and_pad_adds_black():
    frame = np.zeros((40, 80, 3), dtype=np.uint8)
    frame[:, :20] = (255, 0, 0)
    frame[:, 20:60] = (0, 255, 0)
    frame[:, 60:] = (0, 0, 255)
    crop = fit_frame(frame, 16, "crop")
    assert crop.shape == (16, 16, 3) and crop.dtype == np.uint8
    assert (crop[:, 2:14, 1] >= 250).all() and (crop[:, 2:14, 0::2] <= 5).all()  # LANCZOS rings a little
    pad = fit_frame(frame, 16, "pad")  # 80x40 -> 16x8, centred: rows 4..11
    assert pad.shape == (16, 16, 3)
    assert (pad[:4] == 0).all() and (pad[12:] == 0).all()
    assert pad[8, 1, 0] > 200 and pad[8, 8, 1] > 200 and pad[8, 14, 2] > 200


def test_split_by_source_keeps_sources_whole_and_is_seeded():
    sources = np.repeat([f"v{i}" for i in range(10)], 3)
    split, how = split_by_source(sources, 0.2, seed=1)
    assert how == "source"
    assert len(set(sources[split == 1])) == 2
    assert not set(sources[split == 1]) & set(sources[split == 0])
    np.testing.assert_array_equal(split, split_by_source(sources, 0.2, seed=1)[0])
    one, how = split_by_source(np.array(["a"] * 10), 0.2, seed=0)
    assert how == "time" and one.tolist() == [0] * 8 + [1] * 2


# --- importing ------------------------------------------------------------------------------------
def test_import_folder_of_videos_gifs_and_frame_folders(clips, tmp_path):
    out = tmp_path / "ds"
    ds = import_videos(clips, out, size=16, T=4, test_fraction=0.5, seed=0)
    assert isinstance(ds, SequenceDataset) and ds.frames.shape == (5 + 3 + 2, 4, 16, 16, 3)
    assert ds.frames.dtype == np.uint8
    source = ds.info["source"].tolist()
    assert source == ["lab/run1"] * 2 + ["walk.mp4"] * 5 + ["wave.gif"] * 3
    assert ds.info["start_frame"].tolist() == [0, 4] + [0, 4, 8, 12, 16] + [0, 4, 8]
    np.testing.assert_allclose(ds.info["start_time"][2:], [0, 0.4, 0.8, 1.2, 1.6, 0, 0.4, 0.8])
    assert np.isnan(ds.info["start_time"][:2]).all()  # frame folders have no frame rate
    for s in set(source):  # whole videos go to one side
        assert len(set(ds.split[ds.info["source"] == s].tolist())) == 1
    assert set(ds.split.tolist()) == {0, 1}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"] == {
        "files": 3, "used": 3, "skipped": 0, "short": 0, "truncated": 0, "duplicates": 0, "not_clips": 0,
        "frames": 43, "sequences": 10,
        "train": int((ds.split == 0).sum()), "test": int((ds.split == 1).sum()),
    }  # fmt: skip
    assert meta["fps"] == {"lab/run1": None, "walk.mp4": 10.0, "wave.gif": 10.0}
    assert (meta["size"], meta["T"], meta["stride"], meta["frame_step"], meta["fit"]) == (16, 4, 4, 1, "crop")
    # lossless PNG frames arrive exactly as fit_frame makes them, in name order
    expected = [fit_frame(f, 16) for f in moving_square(11, color=(0, 255, 0))]
    np.testing.assert_array_equal(ds.frames[1], np.stack(expected[4:8]))
    # the mp4's square is in the moving frames (lossy codec: compare loosely)
    mp4 = np.stack([fit_frame(f, 16) for f in moving_square(20)])[8:12]
    assert np.abs(ds.frames[4].astype(int) - mp4).mean() < 8
    reopened = SequenceDataset.open(out)
    np.testing.assert_array_equal(reopened.frames, ds.frames)


def test_stride_frame_step_and_single_file(clips, tmp_path):
    ds = import_videos(clips / "walk.mp4", tmp_path / "ds", size=8, T=4, stride=2, frame_step=2, fit="pad")
    # 20 frames -> 10 sampled -> sequences start at sampled 0, 2, 4, 6
    assert ds.frames.shape == (4, 4, 8, 8, 3)
    assert ds.info["start_frame"].tolist() == [0, 4, 8, 12]
    assert ds.info["source"].tolist() == ["walk.mp4"] * 4
    assert ds.meta["name"] == "walk" and ds.meta["split_by"] == "time"
    assert ds.split.tolist() == [0, 0, 0, 1]


def test_labels_from_csv(clips, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("file,action,person\nwalk.mp4,walk,ann\nwave.gif,wave,bob\nlab/run1,run,ann\n")
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    assert ds.label_values == {"action": ["run", "walk", "wave"], "person": ["ann", "bob"]}
    assert ds.labels["action"].tolist() == [0] * 2 + [1] * 5 + [2] * 3
    assert ds.labels["person"].tolist() == [0] * 7 + [1] * 3


def test_labels_csv_names_match_in_any_unicode_form(clips, tmp_path):
    nfd = unicodedata.normalize("NFD", "café.gif")  # as macOS writes an accented name
    (clips / "wave.gif").rename(clips / nfd)
    csv = tmp_path / "labels.csv"
    nfc = unicodedata.normalize("NFC", "café.gif")
    assert nfc != nfd
    csv.write_text(f"file,action\nwalk.mp4,walk\n{nfc},wave\nlab/run1,run\n", encoding="utf-8")
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    wave = ds.label_values["action"].index("wave")
    assert (ds.labels["action"][ds.info["source"] == nfd] == wave).all()
    assert (ds.info["source"] == nfd).sum() == 3


@pytest.mark.parametrize(
    "text,message",
    [
        ("file,action\nwalk.mp4,walk\n", "no row for 2 of the 3 input files: lab/run1, wave.gif"),
        ("name,action\nwalk.mp4,walk\n", "no 'file' column"),
        ("file\nwalk.mp4\nwave.gif\nlab/run1\n", "no label column"),
        ("file,action\nwalk.mp4,walk\nwave.gif,\nlab/run1,run\n", "column 'action' is empty for wave.gif"),
        ("file,action\nwalk.mp4,walk\n./walk.mp4,run\n", "line 3: 'walk.mp4' is listed twice"),
        ("file,action\nwalk.mp4,walk,fast\n", "line 2: more values than header columns"),
    ],
)
def test_bad_labels_csv_is_refused_before_any_work(clips, tmp_path, text, message):
    csv = tmp_path / "labels.csv"
    csv.write_text(text)
    with pytest.raises(DatasetError, match=message):
        import_videos(clips, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    assert list(tmp_path.iterdir()) == [clips, csv]


def test_bad_files_are_skipped_counted_and_reported(clips, tmp_path, capsys):
    (clips / "corrupt.mp4").write_bytes(b"not a video" * 100)
    (clips / "empty.avi").write_bytes(b"")
    broken = moving_square(9)
    write_png_folder(clips / "broken", broken)
    (clips / "broken" / "frame6.png").write_bytes(b"not a png")  # fails after six good frames
    write_gif(clips / "short.gif", moving_square(3))
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4)
    err = capsys.readouterr().err
    for name in ("corrupt.mp4", "empty.avi", "broken: frame6.png"):
        assert f"skipped {name}" in err
    assert "short.gif: 3 sampled frames" in err and "shorter than T=4" in err
    assert "3 of 7 files skipped" in err
    assert sorted(set(ds.info["source"].tolist())) == ["lab/run1", "walk.mp4", "wave.gif"]
    assert len(ds) == 10  # nothing of the clip that failed halfway is kept
    assert ds.meta["counts"]["skipped"] == 3 and ds.meta["counts"]["short"] == 1
    assert [s["source"] for s in ds.meta["skipped"]] == ["broken", "corrupt.mp4", "empty.avi"]
    assert ds.meta["short"] == [{"source": "short.gif", "frames": 3, "sampled": 3}]


def test_no_sequences_is_an_error_and_writes_nothing(tmp_path):
    root = tmp_path / "clips"
    root.mkdir()
    with pytest.raises(DatasetError, match="no clips in"):
        import_videos(root, tmp_path / "ds")
    (root / "bad.mp4").write_bytes(b"junk")
    write_gif(root / "tiny.gif", moving_square(2))
    with pytest.raises(DatasetError, match="no sequence of T=8 frames"):
        import_videos(root, tmp_path / "ds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips"]


def test_existing_output_needs_force_and_failures_leave_it_alone(clips, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    import_videos(clips, out, size=8, T=4)
    with pytest.raises(FileExistsError, match="--force"):
        import_videos(clips, out, size=8, T=2)

    def fail(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(video, "write_columns", fail)
    with pytest.raises(RuntimeError, match="disk gone"):
        import_videos(clips, out, size=8, T=2, force=True)
    assert SequenceDataset.open(out).T == 4  # the old dataset is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "ds"]  # no partial folder
    monkeypatch.undo()
    assert import_videos(clips, out, size=8, T=2, force=True).T == 2


def test_bad_arguments_are_refused(clips, tmp_path):
    with pytest.raises(ValueError, match="fit must be one of"):
        import_videos(clips, tmp_path / "ds", fit="stretch")
    with pytest.raises(ValueError, match="stride must be at least 1"):
        import_videos(clips, tmp_path / "ds", stride=0)
    with pytest.raises(DatasetError, match="is not a video"):
        import_videos(clips / "lab" / "run1" / "frame0.png", tmp_path / "ds")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        import_videos(tmp_path / "nowhere", tmp_path / "ds")


def test_open_dataset_gives_model_batches(clips, tmp_path):
    import_videos(clips, tmp_path / "ds", size=16, T=4)
    ds = open_dataset(tmp_path / "ds")
    x = ds.normalize(ds.get_batch([0, 1]))
    assert x.shape == (2, 4, 3, 16, 16) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.max()) > 0.5


def test_cli(clips, tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["data", "video", "--input", str(clips), "--out", str(out), "--size", "8", "--T", "4"]
    assert main(args + ["--stride", "2", "--frame-step", "1", "--fit", "pad"]) == 0
    ds = SequenceDataset.open(out)
    assert ds.frames.shape[1:] == (4, 8, 8, 3) and ds.meta["stride"] == 2 and ds.meta["fit"] == "pad"
    assert "sequences" in capsys.readouterr().out
    assert main(args) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0 and SequenceDataset.open(out).meta["stride"] == 4


# --- time: one stored frame per decoded frame, each with its own timestamp -----------------------
VFR_TIMES = [t / 10 for t in range(6)] + [2.6 + t / 10 for t in range(10)]  # a 2 s pause after frame 5


def ffmpeg(*args) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", *args], check=True)


@pytest.fixture(scope="module")
def vfr(tmp_path_factory):
    """The issue's clip: 16 frames of a moving square, 0.1 s apart but for a 2 s pause after frame 5
    (average 4.44 fps), as H.264 in mp4 (B-frames: decoded out of order), and a copy to be shown
    turned 90 degrees (a phone's display matrix). Returns (folder, the 16 original frames)."""
    folder = tmp_path_factory.mktemp("vfr")
    frames = moving_square(16)
    frames[:, :, :, 2] = np.arange(16)[:, None, None] * 15  # each frame its own blue level
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"f{t:02d}.png")
    pause = r"setpts=N/(10*TB)+gte(N\,6)*2/TB"
    ffmpeg("-framerate", "10", "-i", str(folder / "f%02d.png"), "-vf", pause, "-fps_mode", "passthrough",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "10", str(folder / "vfr.mp4"))  # fmt: skip
    ffmpeg("-display_rotation", "90", "-i", str(folder / "vfr.mp4"), "-c", "copy", str(folder / "turned.mp4"))
    return folder, frames


def nearest_original(stored: np.ndarray, originals: np.ndarray, size: int) -> list[int]:
    """For each stored frame, the original it is closest to (the codec is lossy)."""
    small = np.stack([fit_frame(f, size) for f in originals]).astype(int)
    return [int(np.abs(small - f.astype(int)).mean(axis=(1, 2, 3)).argmin()) for f in stored]


def test_variable_frame_rate_keeps_every_frame_once_with_its_time(vfr, tmp_path):
    folder, originals = vfr
    ds = import_videos(folder / "vfr.mp4", tmp_path / "ds", size=16, T=4, test_fraction=0)
    assert ds.frames.shape == (4, 4, 16, 16, 3) and ds.meta["counts"]["frames"] == 16
    assert nearest_original(ds.frames.reshape(-1, 16, 16, 3), originals, 16) == list(range(16))
    assert ds.info["start_frame"].tolist() == [0, 4, 8, 12]
    np.testing.assert_allclose(ds.info["frame_time"].ravel(), VFR_TIMES, atol=1e-3)
    np.testing.assert_allclose(ds.info["start_time"], [0.0, 0.4, 2.8, 3.2], atol=1e-3)
    assert ds.meta["fps"]["vfr.mp4"] == pytest.approx(16 / 3.6, rel=1e-3)  # the average, only reported
    assert ds.meta["resample_fps"] is None

    step = import_videos(folder / "vfr.mp4", tmp_path / "step", size=16, T=4, frame_step=2, test_fraction=0)
    assert step.info["start_frame"].tolist() == [0, 8]
    np.testing.assert_allclose(step.info["frame_time"].ravel(), VFR_TIMES[::2], atol=1e-3)


def test_resampling_to_a_fixed_rate_is_an_explicit_option(vfr, tmp_path):
    folder, originals = vfr
    ds = import_videos(folder / "vfr.mp4", tmp_path / "ds", size=16, T=4, fps=10, test_fraction=0)
    ticks = np.arange(36) / 10  # 0 .. 3.5 s
    shown = [max(i for i, t in enumerate(VFR_TIMES) if t <= tick + 1e-6) for tick in ticks]
    assert shown[5:26] == [5] * 21  # the pause: frame 5 is shown until 2.6 s
    assert ds.frames.shape == (9, 4, 16, 16, 3)
    np.testing.assert_allclose(ds.info["frame_time"].ravel(), ticks, atol=1e-3)
    assert ds.info["start_frame"].tolist() == shown[::4]
    assert nearest_original(ds.frames.reshape(-1, 16, 16, 3), originals, 16) == shown
    assert ds.meta["resample_fps"] == 10

    half = import_videos(folder / "vfr.mp4", tmp_path / "half", size=16, T=2, fps=2.5, test_fraction=0)
    np.testing.assert_allclose(half.info["frame_time"].ravel(), [0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8])
    assert half.info["start_frame"].tolist() == [0, 5, 5, 5]


def test_resampling_skips_frame_folders_they_have_no_times(clips, tmp_path, capsys):
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4, fps=5)
    assert "skipped lab/run1: frame 0 has no timestamp" in capsys.readouterr().err
    assert set(ds.info["source"].tolist()) == {"walk.mp4", "wave.gif"}
    np.testing.assert_allclose(ds.info["frame_time"][ds.info["source"] == "wave.gif"][0], [0, 0.2, 0.4, 0.6])
    with pytest.raises(ValueError, match="fps must be a positive number"):
        import_videos(clips, tmp_path / "bad", fps=0)


def test_a_turned_video_is_shown_upright_as_a_player_shows_it(vfr):
    folder, _ = vfr
    plain = [f for f, _ in decode_frames(Clip(folder / "vfr.mp4", "vfr.mp4", "video"))]
    turned = [f for f, _ in decode_frames(Clip(folder / "turned.mp4", "turned.mp4", "video"))]
    assert turned[0].shape == (W, H, 3) and len(turned) == 16
    np.testing.assert_array_equal(np.stack(turned), np.rot90(np.stack(plain), 1, axes=(1, 2)))
    reader = imageio_ffmpeg.read_frames(
        str(folder / "turned.mp4"), output_params=["-fps_mode", "passthrough"]
    )
    width, height = next(reader)["size"]
    player = np.frombuffer(next(reader), np.uint8).reshape(height, width, 3)  # ffmpeg turns it itself
    assert np.abs(player.astype(int) - turned[0]).mean() < 2


def test_gif_frames_keep_their_own_durations(tmp_path):
    frames = [Image.fromarray(f) for f in moving_square(5)]
    frames[0].save(
        tmp_path / "v.gif", save_all=True, append_images=frames[1:], duration=[100, 500, 100, 0, 100]
    )
    times = [t for _, t in decode_frames(Clip(tmp_path / "v.gif", "v.gif", "gif"))]
    np.testing.assert_allclose(times, [0, 0.1, 0.6, 0.7, 0.8])  # 0 ms is shown for 100 ms, as browsers do


# --- every file a player opens, as a player shows it (issue 27) -----------------------------------
def write_webp(path, frames, ms=100):
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms, loop=0, lossless=True)


def test_every_container_ffmpeg_reads_and_animated_webp_are_clips(tmp_path, capsys):
    root = tmp_path / "clips"
    root.mkdir()
    write_mp4(root / "walk.mp4", moving_square(20))
    # each file its own content (a white dot at its own place): identical frames would be one clip
    for k, (codec, fmt, name) in enumerate(
        [
            ("mpeg2video", "mpegts", "avchd.MTS"),
            ("mpeg2video", "mpeg", "disc.mpg"),
            ("libx264", "matroska", "noext"),
        ]
    ):
        dot = f"drawbox=x={4 * k}:y=0:w=4:h=4:color=white:t=fill"
        ffmpeg("-i", str(root / "walk.mp4"), "-vf", dot, "-c:v", codec, "-f", fmt, str(root / name))
    write_webp(root / "wave.webp", moving_square(12, color=(0, 200, 255)))
    (root / "notes.txt").write_text("shot on tuesday\n")
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(root / "voice.m4a"))
    csv = tmp_path / "labels.csv"
    csv.write_text("file,action\nwalk.mp4,walk\navchd.MTS,walk\ndisc.mpg,walk\nnoext,walk\nwave.webp,wave\n")
    ds = import_videos(root, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    err = capsys.readouterr().err
    assert sorted(set(ds.info["source"].tolist())) == [
        "avchd.MTS",
        "disc.mpg",
        "noext",
        "walk.mp4",
        "wave.webp",
    ]
    assert ds.meta["counts"]["files"] == 5 and ds.meta["counts"]["used"] == 5
    assert (ds.info["source"] == "wave.webp").sum() == 3
    assert ds.label_values["action"] == ["walk", "wave"]
    not_clips = {o["source"]: o["reason"] for o in ds.meta["not_clips"]}
    assert set(not_clips) == {"notes.txt", "voice.m4a"} and "audio only" in not_clips["voice.m4a"]
    assert "not read notes.txt" in err and "not read voice.m4a: audio only" in err


def test_labels_rows_of_files_not_imported_are_errors_or_listed_warnings(clips, tmp_path, capsys):
    (clips / "notes.txt").write_text("hello\n")
    csv = tmp_path / "labels.csv"
    rows = "file,action\nwalk.mp4,walk\nwave.gif,wave\nlab/run1,run\n"
    csv.write_text(rows + "gone.mp4,x\nnotes.txt,y\n")
    with pytest.raises(DatasetError, match=r"lists 2 files that are not imported: gone.mp4 \(not found"):
        import_videos(clips, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    assert not (tmp_path / "ds").exists()
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4, labels_csv=csv, labels_missing="warn")
    assert "notes.txt (neither a video" in capsys.readouterr().err
    assert sorted(set(ds.info["source"].tolist())) == ["lab/run1", "walk.mp4", "wave.gif"]
    # a labelled clip found but unreadable is not imported either
    (clips / "bad.mp4").write_bytes(b"junk" * 100)
    csv.write_text(rows + "bad.mp4,x\n")
    with pytest.raises(DatasetError, match=r"1 file that is not imported: bad.mp4 \(InvalidDataError"):
        import_videos(clips, tmp_path / "ds2", size=8, T=4, labels_csv=csv)
    assert not (tmp_path / "ds2").exists()
    args = ["data", "video", "--input", str(clips), "--out", str(tmp_path / "ds3"), "--size", "8", "--T", "4"]
    assert main(args + ["--labels", str(csv)]) == 2
    assert main(args + ["--labels", str(csv), "--labels-missing", "warn"]) == 0


def test_symlinked_folders_are_followed_once_and_a_loop_ends_the_walk(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_gif(elsewhere / "wave.gif", moving_square(8))
    root = tmp_path / "clips"
    root.mkdir()
    write_mp4(root / "walk.mp4", moving_square(8))
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "zlinked_again").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(root, target_is_directory=True)
    csv = tmp_path / "labels.csv"
    csv.write_text("file,action\nwalk.mp4,walk\nlinked/wave.gif,wave\n")
    ds = import_videos(root, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    assert sorted(set(ds.info["source"].tolist())) == ["linked/wave.gif", "walk.mp4"]
    reasons = {o["source"]: o["reason"] for o in ds.meta["not_clips"]}
    assert set(reasons) == {"linked/loop", "zlinked_again"}
    assert all("already read" in r for r in reasons.values())


def disc_frames(n: int, w: int, h: int, sar: float) -> np.ndarray:
    """(n, h, w, 3): a white disc that is round when each pixel is shown ``sar`` times as wide as high."""
    y, x = np.mgrid[0:h, 0:w]
    r = h / 3
    inside = ((x - w / 2) * sar) ** 2 + (y - h / 2) ** 2 <= r**2
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, inside] = 255
    return frames


def disc_extent(frame: np.ndarray) -> tuple[int, int]:
    bright = frame.mean(-1) > 128
    return int(bright.any(0).sum()), int(bright.any(1).sum())  # width, height


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_pixel_aspect_is_applied_before_crop_or_pad(tmp_path, fit):
    stored = tmp_path / "stored.mp4"
    write_mp4(stored, disc_frames(8, 176, 144, 64 / 45))  # PAL 16:9 shape: 64:45 pixels
    ffmpeg("-i", str(stored), "-vf", "setsar=64/45", "-c:v", "libx264", str(tmp_path / "pal.mp4"))
    ds = import_videos(tmp_path / "pal.mp4", tmp_path / "ds", size=32, T=4, fit=fit)
    w, h = disc_extent(ds.frames[0, 0])
    assert abs(w - h) <= 1, (w, h)  # round on screen, round here
    shown = ds.meta["display"]["pal.mp4"]
    assert shown["sample_aspect_ratio"] == "64:45" and shown["stored"] == [176, 144]
    assert shown["shown"] == [250, 144] and shown["rotation"] == 0


def test_colour_matrix_and_range_are_applied_and_recorded(tmp_path):
    frames = moving_square(8, color=(200, 60, 30))
    write_mp4(tmp_path / "rgb.mp4", frames)
    full = [
        "-vf",
        "scale=out_color_matrix=bt709:out_range=full",
        "-colorspace",
        "bt709",
        "-color_range",
        "pc",
    ]
    ffmpeg("-i", str(tmp_path / "rgb.mp4"), *full, "-c:v", "libx264", str(tmp_path / "full.mp4"))
    got = [f for f, _ in decode_frames(Clip(tmp_path / "full.mp4", "full.mp4", "video"))]
    square = got[0][H // 2 - 2 : H // 2 + 2, 2:6].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(square, [200, 60, 30], atol=8)
    shown: dict = {}
    list(decode_frames(Clip(tmp_path / "full.mp4", "full.mp4", "video"), shown))
    assert shown["color_range"] == "full (pc)" and shown["color_matrix"] == "bt709"


@pytest.mark.parametrize(
    "params,reason",
    [
        ("transfer=smpte2084:colorprim=bt2020:colormatrix=bt2020nc", "transfer curve PQ"),
        ("transfer=arib-std-b67:colorprim=bt2020:colormatrix=bt2020nc", "transfer curve HLG"),
        ("transfer=bt709:colorprim=bt2020:colormatrix=bt2020nc", "colour primaries bt2020"),
    ],
)
def test_hdr_or_wide_gamut_clips_are_refused_with_the_reason(clips, tmp_path, params, reason, capsys):
    ffmpeg("-i", str(clips / "walk.mp4"), "-c:v", "libx264", "-x264-params", params, str(clips / "hdr.mp4"))
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4)
    assert "hdr.mp4" not in ds.info["source"].tolist()
    (skipped,) = ds.meta["skipped"]
    assert skipped["source"] == "hdr.mp4" and reason in skipped["reason"] and "tonemap" in skipped["reason"]
    assert f"skipped hdr.mp4: {reason}" in capsys.readouterr().err


def test_a_truncated_download_is_reported_per_clip_and_can_be_skipped(clips, tmp_path, capsys):
    whole = tmp_path / "whole.mp4"
    write_mp4(whole, moving_square(64), fps=16)
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(tmp_path / "fast.mp4"))
    import av

    with av.open(str(tmp_path / "fast.mp4")) as container:  # cut where packet 38 of 64 starts
        starts = sorted(p.pos for p in container.demux(video=0) if p.pos is not None and p.size)
    data = (tmp_path / "fast.mp4").read_bytes()
    (clips / "cut.mp4").write_bytes(data[: starts[38]])
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4)
    (cut,) = ds.meta["truncated"]
    assert cut["source"] == "cut.mp4" and cut["declared_frames"] == 64 and cut["decoded_frames"] < 50
    assert f"cut.mp4 decoded to {cut['decoded_frames']} of the 64 frames" in capsys.readouterr().err
    assert "cut.mp4" in ds.info["source"].tolist() and ds.meta["counts"]["truncated"] == 1
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4, force=True, skip_truncated=True)
    assert "cut.mp4" not in ds.info["source"].tolist()
    assert [s["source"] for s in ds.meta["skipped"]] == ["cut.mp4"]
    assert ds.meta["truncated"][0]["source"] == "cut.mp4"


# --- the same clip twice (issue round 4, case 3) ---------------------------------------------------
@pytest.fixture
def twice(tmp_path):
    """A folder with a.mp4, b.gif and link.mp4, a symbolic link to a.mp4."""
    root = tmp_path / "clips"
    root.mkdir()
    write_mp4(root / "a.mp4", moving_square(16))
    write_gif(root / "b.gif", moving_square(8, color=(0, 200, 255)))
    (root / "link.mp4").symlink_to("a.mp4")
    return root


def test_a_clip_under_two_names_is_refused_when_its_labels_conflict(twice, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("file,action\na.mp4,walk\nb.gif,wave\nlink.mp4,run\n", encoding="utf-8")
    with pytest.raises(DatasetError) as e:
        import_videos(twice, tmp_path / "ds", size=8, T=4, labels_csv=csv, test_fraction=0.5)
    message = str(e.value)
    assert "a.mp4 and link.mp4 are the same clip (one file on disk" in message
    assert "different labels (action 'walk' vs 'run')" in message and "\n" not in message
    assert not (tmp_path / "ds").exists()


def test_a_clip_under_two_names_is_imported_once_and_never_in_both_splits(twice, tmp_path, capsys):
    os.link(twice / "a.mp4", twice / "hard.mp4")  # a hard link: the same file too
    csv = tmp_path / "labels.csv"
    csv.write_text("file,action\na.mp4,walk\nb.gif,wave\nlink.mp4,walk\nhard.mp4,walk\n", encoding="utf-8")
    for seed in range(4):  # whichever split the seed draws, the clip is on one side only
        ds = import_videos(
            twice, tmp_path / "ds", size=8, T=4, labels_csv=csv, test_fraction=0.5, seed=seed, force=True
        )
        assert sorted(set(ds.info["source"].tolist())) == ["a.mp4", "b.gif"]
        assert (ds.info["source"] == "a.mp4").sum() == 4
    err = capsys.readouterr().err
    assert "note: link.mp4 is the same clip as a.mp4 (one file on disk" in err and "imported once" in err
    assert ds.meta["duplicates"] == [
        {"source": "hard.mp4", "same_as": "a.mp4", "by": "path"},
        {"source": "link.mp4", "same_as": "a.mp4", "by": "path"},
    ]
    assert ds.meta["counts"]["files"] == 4 and ds.meta["counts"]["duplicates"] == 2
    assert ds.meta["counts"]["used"] == 2


def test_a_copy_or_a_reencode_to_identical_frames_is_the_same_clip(twice, tmp_path, capsys):
    av = pytest.importorskip("av")
    (twice / "link.mp4").unlink()
    shutil.copy(twice / "a.mp4", twice / "copy.mp4")  # byte for byte
    shown = [f for f, _ in decode_frames(Clip(twice / "a.mp4", "a.mp4", "video"))]
    write_png_folder(twice / "frames", shown)  # the decoded frames, as images
    with av.open(str(twice / "lossless.mkv"), "w") as container:  # the decoded frames, re-encoded
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "bgr0"
        for f in shown:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())
    csv = tmp_path / "labels.csv"
    rows = "file,action\na.mp4,walk\nb.gif,wave\ncopy.mp4,walk\nframes,walk\n"
    csv.write_text(rows + "lossless.mkv,run\n", encoding="utf-8")
    with pytest.raises(
        DatasetError, match=r"a.mp4 and lossless.mkv are the same clip \(their decoded frames"
    ):
        import_videos(twice, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    assert not (tmp_path / "ds").exists()
    csv.write_text(rows + "lossless.mkv,walk\n", encoding="utf-8")
    ds = import_videos(twice, tmp_path / "ds", size=8, T=4, labels_csv=csv, test_fraction=0.5)
    assert sorted(set(ds.info["source"].tolist())) == ["a.mp4", "b.gif"]
    assert ds.meta["duplicates"] == [
        {"source": name, "same_as": "a.mp4", "by": "frames"}
        for name in ("copy.mp4", "frames", "lossless.mkv")
    ]
    assert (
        "note: frames is the same clip as a.mp4 (their decoded frames are identical)"
        in capsys.readouterr().err
    )
    assert ds.meta["counts"]["frames"] == 16 + 8  # the copies' frames are not counted twice


@pytest.mark.parametrize(
    "header,message",
    [
        ("file,action,action", "names column 'action' more than once"),
        ("file, person ,action,person", "names column 'person' more than once"),
        ("file,file,action", "names column 'file' more than once"),
        ("file,action,", "header column 3 has no name"),
    ],
)
def test_a_labels_header_that_names_a_column_twice_is_refused(clips, tmp_path, header, message):
    csv = tmp_path / "labels.csv"
    rows = [",".join([name] * (header.count(",") + 1)) for name in ("walk.mp4", "wave.gif", "lab/run1")]
    csv.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")  # silently read before
    with pytest.raises(DatasetError, match=message) as e:
        import_videos(clips, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == [clips, csv]


def test_a_labels_csv_with_a_byte_order_mark_and_accents_reads_on_any_locale(clips, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("file,action\nwalk.mp4,marché\nwave.gif,wave\nlab/run1,run\n", encoding="utf-8-sig")
    ds = import_videos(clips, tmp_path / "ds", size=8, T=4, labels_csv=csv)
    assert ds.label_values["action"] == ["marché", "run", "wave"]
    assert SequenceDataset.open(tmp_path / "ds").label_values["action"][0] == "marché"


# --- transparency (issue round 4, case 4) ----------------------------------------------------------
def rgba_square(n: int) -> np.ndarray:
    """(n, H, W, 4): a transparent picture whose hidden colour is red, an opaque green square moving
    right and a half-transparent white band (alpha 128) at the bottom."""
    frames = np.zeros((n, H, W, 4), dtype=np.uint8)
    frames[..., 0] = 255  # what the alpha hides
    for t in range(n):
        frames[t, 8:24, 2 * t : 2 * t + 16] = (0, 255, 0, 255)
    frames[:, -6:, :] = (255, 255, 255, 128)
    return frames


def over_black(rgba: np.ndarray) -> np.ndarray:
    return np.rint(rgba[..., :3] * (rgba[..., 3:] / 255.0)).astype(np.uint8)


def write_with_pyav(path, frames, codec, pix_fmt, **options):
    """Encode RGBA frames with PyAV, or skip the test when this PyAV build has no such encoder."""
    av = pytest.importorskip("av")
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10, options=options)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgba")))
        container.mux(stream.encode())


@pytest.fixture
def transparent(tmp_path):
    """8 RGBA frames as a VP9 webm (yuva420p), a ProRes 4444 mov (yuva444p10le) and a folder of RGBA
    PNGs, and played backwards as PNG-in-mov (rgba, lossless: forwards it would be the PNGs' clip).
    Returns the folder and each clip's RGBA frames."""
    root = tmp_path / "clips"
    root.mkdir()
    frames = rgba_square(8)
    write_with_pyav(root / "vp9.webm", frames, "libvpx-vp9", "yuva420p", lossless="1")
    write_with_pyav(root / "prores.mov", frames, "prores_ks", "yuva444p10le", profile="4")
    write_with_pyav(root / "png.mov", frames[::-1], "png", "rgba")
    root.joinpath("pngs").mkdir()
    for t, f in enumerate(frames):
        Image.fromarray(f, "RGBA").save(root / "pngs" / f"f{t}.png")
    return root, {"vp9.webm": frames, "prores.mov": frames, "png.mov": frames[::-1], "pngs": frames}


def test_every_clip_with_alpha_is_composited_over_black_as_a_player_shows_it(transparent, tmp_path, capsys):
    root, frames_of = transparent
    for name, tolerance in (("png.mov", 0), ("pngs", 0), ("prores.mov", 3), ("vp9.webm", 3)):
        expected = over_black(frames_of[name])
        kind = "frames" if name == "pngs" else "video"
        files = tuple(sorted((root / name).iterdir())) if kind == "frames" else ()
        shown: dict = {}
        got = np.stack([f for f, _ in decode_frames(Clip(root / name, name, kind, files), shown)])
        assert got.shape == expected.shape, name
        hidden = got[:, :8, :, 0]  # the transparent top rows: black, never the red under them
        assert hidden.max() <= tolerance, (name, int(hidden.max()))
        # the chroma of yuva420p and ProRes' 10 bits blur the square's edges: compare away from them
        inner = (slice(None), slice(10, 22))
        assert np.abs(got[inner].astype(int) - expected[inner]).max() <= max(tolerance, 1) * 4, name
        np.testing.assert_allclose(got[:, -4:].astype(int), 128, atol=tolerance + 1)  # white at alpha 128
        assert shown["transparent_frames"] == 8, name
    ds = import_videos(root, tmp_path / "ds", size=16, T=4)
    alpha = ds.meta["alpha"]
    assert alpha["background"] == "black"
    assert {k: v["channel"] for k, v in alpha["composited"].items()} == {
        "png.mov": "rgba",
        "pngs": "RGBA",
        "prores.mov": "yuva444p12le",  # FFmpeg's ProRes decoder gives 12 bits
        "vp9.webm": "yuva420p",
    }
    assert "4 of 4 clips have an alpha channel, composited over black" in capsys.readouterr().err
    first = {s: ds.frames[ds.info["source"] == s][0].astype(int) for s in alpha["composited"]}
    for name in ("prores.mov", "vp9.webm"):  # the videos read as the PNG frames do
        assert np.abs(first[name] - first["pngs"]).mean() < 2, name
    last = ds.frames[ds.info["source"] == "png.mov"][-1].astype(int)[::-1]  # backwards
    np.testing.assert_array_equal(last, first["pngs"])


def test_an_alpha_channel_the_installed_ffmpeg_cannot_decode_is_refused(
    transparent, tmp_path, monkeypatch, capsys
):
    root, _ = transparent
    monkeypatch.setitem(video.LIBVPX_DECODERS, "vp9", "no-such-decoder")  # a PyAV without libvpx
    ds = import_videos(root, tmp_path / "ds", size=16, T=4)
    assert "vp9.webm" not in ds.info["source"].tolist()
    (skipped,) = ds.meta["skipped"]
    assert skipped["source"] == "vp9.webm"
    assert "an alpha channel (the WebM/Matroska track tag alpha_mode=1)" in skipped["reason"]
    assert "ffmpeg -c:v no-such-decoder -i IN -vf premultiply=inplace=1" in skipped["reason"]
    assert "skipped vp9.webm: an alpha channel" in capsys.readouterr().err


# --- cut files that declare a duration, not a frame count (issue round 4, case 9) ----------------
@pytest.mark.parametrize(
    "name,codec,declared",
    [("cut.mkv", "libx264", "for the video"), ("cut.webm", "libvpx-vp9", "for the video"),
     ("cut.flv", "libx264", "(its longest stream)")],
)  # fmt: skip
def test_a_clip_that_declares_a_duration_and_decodes_to_less_is_truncated(
    clips, tmp_path, capsys, name, codec, declared
):
    import av

    whole = tmp_path / f"whole{Path(name).suffix}"
    audio = ["-f", "lavfi", "-i", "sine=duration=4"]  # longer than the video: a whole file is not cut
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=48x32:rate=10:duration=3.2", *audio, "-c:v", codec, "-g", "4",
           str(whole))  # fmt: skip
    shown: dict = {}
    assert len(list(decode_frames(Clip(whole, whole.name, "video"), shown))) == 32
    assert "declared_frames" not in shown and shown["declared_seconds"] >= 3.2 - 1e-6
    with av.open(str(whole)) as container:  # cut where video packet 16 of 32 starts
        starts = sorted(p.pos for p in container.demux(video=0) if p.pos is not None and p.size)
    (clips / name).write_bytes(whole.read_bytes()[: starts[16]])
    (clips / whole.name).write_bytes(whole.read_bytes())
    ds = import_videos(clips, tmp_path / "ds", size=8, T=2)
    err = capsys.readouterr().err
    (cut,) = ds.meta["truncated"]  # the whole file is not
    assert cut["source"] == name and cut["decoded_frames"] <= 17 and cut["expected_frames"] >= 31
    assert cut["declared_seconds"] >= 3.2 - 1e-6 and cut["decoded_seconds"] <= 1.8
    assert (
        f"warning: {name} decoded to {cut['decoded_seconds']:.2f} s ({cut['decoded_frames']} frames) of the"
        in err
    )
    assert f"its container declares {declared}" in err and "the file is cut short" in err
    assert ds.meta["counts"]["truncated"] == 1 and (ds.info["source"] == whole.name).sum() == 16
    ds = import_videos(clips, tmp_path / "ds", size=8, T=2, force=True, skip_truncated=True)
    assert name not in ds.info["source"].tolist() and [s["source"] for s in ds.meta["skipped"]] == [name]
