"""Our own files, damaged (issue 27, point 4): the sha256 of every model and checkpoint file is
recorded at save time and checked on load; unreadable or mismatched files are one line naming the
file and what the run has left; atomic writes flush file and folder to disk."""

import json
import os
import shutil
from pathlib import Path

import pytest

import dsvae._io as io_mod
from conftest import moving_squares, tiny_train_config
from dsvae import DSVAE
from dsvae._io import DamagedFileError, atomic_dir, atomic_write_text
from dsvae.cli import main
from dsvae.run import load_model
from dsvae.run.checkpoint import CheckpointError
from dsvae.train import train


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("damaged")
    moving_squares().save(base / "squares")
    train(tiny_train_config(base / "squares", epochs=1, seed=3), base / "run")
    return base / "run"


@pytest.fixture
def run(finished_run, tmp_path) -> Path:
    shutil.copytree(finished_run.parent / "squares", tmp_path / "squares")
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    opts = json.loads((copy / "train.json").read_text())  # the copy trained on the copied data
    opts.update(data=str(tmp_path / "squares"), data_path=str(tmp_path / "squares"))
    (copy / "train.json").write_text(json.dumps(opts))
    return copy


def zero_last_third(path: Path) -> None:
    data = bytearray(path.read_bytes())
    cut = len(data) * 2 // 3
    data[cut:] = bytes(len(data) - cut)
    path.write_bytes(bytes(data))


def test_every_model_and_checkpoint_file_is_checksummed(run):
    for folder, names in (
        (run / "model", ["config.json", "model.safetensors"]),
        (
            run / "checkpoints" / "last",
            ["config.json", "model.safetensors", "state.safetensors", "state.json"],
        ),
    ):
        recorded = json.loads((folder / "checksums.json").read_text())["sha256"]
        assert sorted(recorded) == sorted(names)
        assert all(recorded[n] == io_mod.sha256_file(folder / n) for n in names)


def test_a_zeroed_model_is_refused_naming_the_file_and_the_last_good_checkpoint(run, capsys):
    zero_last_third(run / "model" / "model.safetensors")
    with pytest.raises(DamagedFileError) as e:
        load_model(run)
    message = str(e.value)
    assert f"{run / 'model' / 'model.safetensors'} is damaged" in message
    assert f"last good checkpoint is {run / 'checkpoints' / 'last'} (step 6)" in message
    assert main(["eval", str(run), "--judge", "none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.safetensors is damaged" in err[0] and "DSVAE.load(" in err[0]
    # the command it gives restores the model
    good = DSVAE.load(run / "checkpoints" / "last")
    good.save(run / "model")
    load_model(run)


def test_a_truncated_model_file_is_one_line_naming_it(run):
    path = run / "model" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    (run / "model" / "checksums.json").unlink()  # as a model saved before checksums were recorded
    with pytest.raises(DamagedFileError, match=rf"{path} is unreadable \(truncated or damaged\?\)"):
        DSVAE.load(run / "model")


def test_a_config_that_no_longer_matches_the_weights_is_one_line_naming_both(run):
    config = run / "model" / "config.json"
    doc = json.loads(config.read_text())
    doc["z_dim"] += 1
    config.write_text(json.dumps(doc))
    with pytest.raises(DamagedFileError, match=rf"{config} is damaged: its sha256 differs"):
        DSVAE.load(run / "model")
    (run / "model" / "checksums.json").unlink()
    with pytest.raises(
        DamagedFileError, match=rf"{config} does not match .*model.safetensors \(RuntimeError"
    ):
        DSVAE.load(run / "model")
    config.write_text("{not json")
    with pytest.raises(DamagedFileError, match=rf"{config} is unreadable"):
        DSVAE.load(run / "model")


def test_a_damaged_checkpoint_is_not_resumed(run, capsys):
    zero_last_third(run / "checkpoints" / "last" / "state.safetensors")
    with pytest.raises(CheckpointError, match=r"state.safetensors is damaged.*no good one left"):
        train(tiny_train_config(run.parent / "squares", epochs=2, seed=3), run, resume=True)
    zero_last_third(run / "model" / "model.safetensors")
    with pytest.raises(DamagedFileError, match=r"the last checkpoint .* is damaged too"):
        load_model(run)


def test_atomic_writes_flush_the_file_and_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_text(tmp_path / "a.json", "{}")
    assert any(str(s).startswith(str(tmp_path / ".a.json.")) for s in synced)  # the file, before the rename
    assert str(tmp_path) in map(str, synced)  # the folder, after
    synced.clear()
    with atomic_dir(tmp_path / "ds") as tmp:
        (tmp / "frames.npy").write_bytes(b"x")
    assert any(str(s).endswith("frames.npy") for s in synced) and str(tmp_path) in map(str, synced)
