"""Interrupted dataset builds: SIGTERM and Ctrl-C end `dsvae data ...` with one line and leave
nothing behind; partial folders of builds that died are removed by the next build."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsvae._io import atomic_dir

pytest.importorskip("soundfile")


def wait_for_reader(fifo: Path, proc: subprocess.Popen, timeout: float = 600.0) -> int:
    """Block until ``proc`` opens the FIFO for reading (it then waits for data inside the build);
    returns the writing end, to close after the signal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"the build never opened {fifo}")


def video_input(tmp_path: Path) -> tuple[list[str], Path]:
    """A frame folder whose second frame is a FIFO: the build blocks there, its work folder made."""
    clip = tmp_path / "clips" / "clip"
    clip.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(clip / "f0.png")
    os.mkfifo(clip / "f1.png")
    return ["video", "--input", str(tmp_path / "clips"), "--T", "2", "--size", "8"], clip / "f1.png"


def fsdd_input(tmp_path: Path) -> tuple[list[str], Path]:
    import soundfile as sf

    folder = tmp_path / "recordings"
    folder.mkdir()
    sf.write(folder / "0_ann_5.wav", np.zeros(800, np.float32), 8000)
    os.mkfifo(folder / "0_ann_6.wav")
    return ["fsdd", "--root", str(folder)], folder / "0_ann_6.wav"


@pytest.mark.parametrize(
    "make,signum",
    [(video_input, signal.SIGTERM), (video_input, signal.SIGINT), (fsdd_input, signal.SIGTERM)],
    ids=["video-SIGTERM", "video-SIGINT", "fsdd-SIGTERM"],
)
def test_a_signal_ends_the_build_with_one_line_and_leaves_nothing(tmp_path, make, signum, dsvae_process):
    args, fifo = make(tmp_path)
    out = tmp_path / "data" / "ds"
    proc = dsvae_process(["data", *args, "--out", str(out)])
    fd = wait_for_reader(fifo, proc)
    proc.send_signal(signum)
    # The kernel may hand a process's signal to any of its threads (torch's and BLAS's workers
    # too): the main thread's read of the FIFO is then not interrupted, and Python runs the handler
    # once that read returns. A real file's read returns; the FIFO's returns when its writer closes,
    # after the signal is in (a build that ignored the signal would go on and fail otherwise).
    time.sleep(0.5)
    os.close(fd)
    _, err = proc.communicate(timeout=600)  # a guard against a hang, not a timing
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last == f"dsvae data {args[0]}: interrupted ({name}); nothing was written; {out} is as it was"
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no partial folder


def test_partial_folders_of_dead_builds_are_removed_by_the_next_build(tmp_path, capsys):
    out = tmp_path / "ds"
    dead = tmp_path / ".ds.partial-999999999-abc"  # a pid no process has
    legacy = tmp_path / ".ds.partial-x1y2"  # older versions named no process
    live = tmp_path / f".ds.partial-{os.getppid()}-def"  # a build still running
    other = tmp_path / ".other.partial-999999999-abc"  # another dataset's
    for folder in (dead, legacy, live, other):
        folder.mkdir()
        (folder / "frames.npy").write_bytes(b"\0" * 4096)
    with atomic_dir(out) as tmp:
        (tmp / "meta.json").write_text("{}")
    err = capsys.readouterr().err
    assert not dead.exists() and not legacy.exists() and live.exists() and other.exists()
    assert f"removed {dead}" in err and f"removed {legacy}" in err and "left by an interrupted build" in err
    assert f"{live} belongs to a build still running (pid {os.getppid()}); left alone" in err
    assert (out / "meta.json").is_file()
