"""Full or read-only disks (issue 27, point 5): every command ends with one line saying what could
not be written, where, what is intact and the command that continues; nothing partial is left.
The disk errors are simulated (the writer raises ENOSPC / EROFS / EACCES)."""

import errno
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dsvae._io as io_mod
from conftest import moving_squares
from dsvae.cli import main
from dsvae.data.base import FramesWriter


@pytest.fixture
def squares(tmp_path) -> Path:
    path = tmp_path / "squares"
    moving_squares().save(path)
    return path


def train_args(data, run, epochs=2):
    return ["train", "--data", str(data), "--out", str(run), "--preset", "tiny", "--epochs", str(epochs)]


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*partial*"))


def test_a_disk_that_fills_while_checkpointing_is_one_line_with_the_step_kept(
    squares, tmp_path, monkeypatch, capsys
):
    run = tmp_path / "run"
    real = io_mod._write
    seen = []

    def write(path, data):
        if path.name == "state.safetensors":
            seen.append(path)
            if len(seen) > 1:  # the first checkpoint fits, the second does not
                raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(io_mod, "_write", write)
    args = train_args(squares, run) + [
        "--batch-size",
        "10",
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--no-pictures",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    step = json.loads((run / "checkpoints" / "last" / "state.json").read_text())["state"]["step"]
    assert step > 0
    assert f"cannot write {run / 'checkpoints' / 'last' / 'state.safetensors'}: the disk is full" in err
    assert f"the last checkpoint {run / 'checkpoints' / 'last'} (step {step}) is intact" in err
    assert err.endswith(f"then: dsvae train --resume --out {run}")
    assert partials(run) == []
    monkeypatch.undo()
    assert main(["train", "--resume", "--out", str(run)]) == 0  # the command it gives continues
    assert (run / "model" / "model.safetensors").exists()


def test_a_dataset_build_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    frames = [Image.fromarray(np.full((16, 16, 3), 20 * i, np.uint8)) for i in range(8)]
    frames[0].save(clips / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    out = tmp_path / "ds"

    def full(self, item):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FramesWriter, "append", full)
    args = ["data", "video", "--input", str(clips), "--out", str(out), "--size", "8", "--T", "4"]
    assert main(args) == 2
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dsvae data")]
    assert f"cannot write {out}: the disk is full" in err
    assert "nothing partial is left" in err and f"{out} is as it was" in err
    assert err.endswith("then: dsvae " + " ".join(args))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips"]


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_a_read_only_folder_is_one_line(tmp_path, monkeypatch, capsys, code):
    clips = tmp_path / "clips"
    clips.mkdir()
    frames = [Image.fromarray(np.full((16, 16, 3), 20 * i, np.uint8)) for i in range(8)]
    frames[0].save(clips / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    out = tmp_path / "ro" / "ds"

    def mkdtemp(prefix="", dir=None):
        raise OSError(code, "Read-only file system" if code == errno.EROFS else "Permission denied", str(dir))

    monkeypatch.setattr(io_mod.tempfile, "mkdtemp", mkdtemp)
    args = ["data", "video", "--input", str(clips), "--out", str(out), "--size", "8", "--T", "4"]
    assert main(args) == 2
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("dsvae data")]
    assert f"cannot write {out.parent}: the folder is read-only or not writable by you" in err
    assert f"Make {out.parent} writable" in err and err.endswith("then: dsvae " + " ".join(args))


def test_a_full_disk_while_saving_a_model_names_the_file(tmp_path, monkeypatch):
    from dsvae import DSVAE
    from dsvae.config import DSVAEConfig

    model = DSVAE(DSVAEConfig.preset("tiny"))  # 34 thousand weights: the default widths hold 52 million
    model.save(tmp_path / "m")
    before = (tmp_path / "m" / "model.safetensors").read_bytes()

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io_mod, "_write", full)
    with pytest.raises(OSError) as e:
        io_mod.atomic_write_bytes(tmp_path / "m" / "model.safetensors", b"new")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "m" / "model.safetensors")
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "checksums.json",
        "config.json",
        "model.safetensors",
    ]
