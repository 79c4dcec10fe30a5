"""Reading a run while it trains (bug report "real-world inputs, round 4", case 10): `dsvae eval` /
`dsvae viz` opened against a run that checkpoints every step failed now and then with a false
"model.safetensors is damaged", "a run without a checkpoint yet" or a raw FileNotFoundError, and a
reader putting back ``.last.old`` inside the writer's swap of ``checkpoints/last`` crashed the
training ("Directory not empty"). A reader changes nothing in the run folder, and reads the old or
the new checkpoint whole."""

import json
import os
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch

import dsvae._io as io_mod
from dsvae import DSVAE
from dsvae._io import DamagedFileError
from dsvae.config import DSVAEConfig
from dsvae.run import load_model, model_dir, read_log
from dsvae.run.checkpoint import describe_last_checkpoint, save_checkpoint

SWAPS = 25
SWAP_PAUSE_S = 0.03  # between the writer's two renames: checkpoints/last is missing meanwhile
READ_PAUSE_S = 0.01  # before the reader hashes each file it checks
STEP_PAUSE_S = 0.03  # the training steps between two checkpoints (the disk's flushes took this before)


def new_run(tmp_path: Path) -> tuple[Path, DSVAE, torch.optim.Optimizer]:
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.json").write_text(json.dumps({"epochs": 1}), encoding="utf-8")
    model = DSVAE(DSVAEConfig.preset("tiny"))
    opt = torch.optim.Adam(model.parameters())
    with torch.no_grad():
        next(iter(model.parameters())).fill_(0)  # the step of the checkpoint (see below)
    save_checkpoint(run, model, opt, 0, 0, 0)
    return run, model, opt


def test_a_reader_sees_whole_checkpoints_while_training_swaps_them(tmp_path, monkeypatch):
    run, model, opt = new_run(tmp_path)
    first = next(iter(model.parameters()))
    real_replace = os.replace

    def slow_swap(src, dst, *args, **kw):
        real_replace(src, dst, *args, **kw)
        if Path(dst).name == ".last.old":  # the writer's first rename: make its window wide
            time.sleep(SWAP_PAUSE_S)

    monkeypatch.setattr(os, "replace", slow_swap)
    real_sha256 = io_mod.sha256_file
    reader = threading.current_thread()

    def slow_read(path):  # the reader checks each file slowly: swaps happen between its reads
        if threading.current_thread() is reader:
            time.sleep(READ_PAUSE_S)
        return real_sha256(path)

    monkeypatch.setattr(io_mod, "sha256_file", slow_read)
    writer_errors: list[BaseException] = []
    reads, steps, last = 0, set(), [0]

    def writer() -> None:
        # at least SWAPS saves, and on until the reader has read 5 times across 2 saves, so that a
        # loaded machine (a slow reader) cannot end the test before it has raced anything
        try:
            step = 0
            while step < SWAPS or (reads < 5 or len(steps) < 2) and step < 40 * SWAPS:
                step += 1
                with torch.no_grad():
                    first.fill_(step)  # each checkpoint's weights say which step they are
                save_checkpoint(run, model, opt, 0, step, step)
                last[0] = step
                time.sleep(STEP_PAUSE_S)
        except BaseException as e:  # noqa: BLE001 - the test reports whatever ended the writer
            writer_errors.append(e)

    thread = threading.Thread(target=writer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "has not finished training": every read of a checkpoint
        thread.start()
        while thread.is_alive():
            loaded = load_model(run)  # raises on a false "damaged" / "no checkpoint yet"
            value = next(iter(loaded.parameters())).flatten()
            assert bool((value == value[0]).all()), "a checkpoint mixed from two saves"
            steps.add(int(value[0]))
            reads += 1
        thread.join()
    assert writer_errors == [], f"the writer crashed: {writer_errors[0]!r}"
    assert reads >= 5 and len(steps) >= 2, (reads, steps)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last"]
    assert f"step {last[0]}" in describe_last_checkpoint(run)


def test_a_swap_interrupted_between_its_renames_is_read_where_it_is(tmp_path):
    """Training killed between the two renames: a reader opens ``.last.old`` in place and leaves
    the folder as it is (the next ``dsvae train --resume``, which holds the run, puts it back)."""
    run, _, _ = new_run(tmp_path)
    os.replace(run / "checkpoints" / "last", run / "checkpoints" / ".last.old")
    with pytest.warns(UserWarning, match="has not finished training"):
        assert model_dir(run) == run / "checkpoints" / ".last.old"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_model(run)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [".last.old"]


def test_real_damage_is_still_reported_at_once(tmp_path, monkeypatch):
    run, _, _ = new_run(tmp_path)
    pauses = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    weights = run / "checkpoints" / "last" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-16:] = bytes(16)
    weights.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DamagedFileError, match="model.safetensors is damaged"):
            load_model(run)
    assert pauses == []  # nothing changed under the read: it is not tried again


def test_a_log_row_being_appended_is_left_out(tmp_path):
    (tmp_path / "log.csv").write_text(
        "epoch,split,loss,recon,kl_f,kl_z,seq_per_s,wall_s\r\n1,train,5,4,0.5,0.5,10,1.00\r\n1,test,4.",
        encoding="utf-8",
    )
    assert [r["split"] for r in read_log(tmp_path)] == ["train"]
