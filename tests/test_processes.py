"""--processes N: data-parallel training in N processes on one CPU (DDP on gloo, started by PyTorch's
elastic launcher as torchrun does). Deterministic per process count, resumed exactly (every rank's
random draws are kept), errors raised in the caller as they were raised in a process."""

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_train_config
from dsvae.launch import _raised, run_processes, threads_per_process
from dsvae.train import train


def weights(run):
    return load_file(str(run / "model" / "model.safetensors"))


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_processes_train_deterministically_and_resume_exactly(tiny_dataset_dir, tmp_path):
    tc = tiny_train_config(tiny_dataset_dir, processes=2, epochs=2)
    whole = train(tc, tmp_path / "whole")
    assert whole.epochs_done == 2 and whole.steps > 4
    env = json.loads((tmp_path / "whole" / "env.json").read_text())
    assert env["world_size"] == 2 and env["torch_threads"] == threads_per_process(2)
    assert json.loads((tmp_path / "whole" / "train.json").read_text())["processes"] == 2
    # stopped mid-epoch 1, then resumed: the same bits as the uninterrupted run
    part = train(tiny_train_config(tiny_dataset_dir, processes=2, epochs=2, max_steps=3), tmp_path / "part")
    assert part.steps == 3 and not (tmp_path / "part" / "model").exists()
    train(tc, tmp_path / "part", resume=True)
    assert same(weights(tmp_path / "whole"), weights(tmp_path / "part"))
    # and one process trains other numbers (the batch norms see half the batch each under DDP)
    train(tiny_train_config(tiny_dataset_dir, epochs=2), tmp_path / "one")
    assert not same(weights(tmp_path / "whole"), weights(tmp_path / "one"))


def test_the_batch_must_share_out_over_the_processes(tiny_dataset_dir):
    with pytest.raises(ValueError, match="does not share out over --processes 4"):
        tiny_train_config(tiny_dataset_dir, processes=4, batch_size=10)


def test_a_resumed_run_keeps_its_process_count(tiny_dataset_dir, tmp_path, capsys):
    from dsvae.cli import main

    train(tiny_train_config(tiny_dataset_dir, max_steps=1), tmp_path / "r")
    assert main(["train", "--resume", "--out", str(tmp_path / "r"), "--processes", "2"]) == 2
    assert "--processes 2 (the run recorded 1)" in capsys.readouterr().err


def _raises_in_rank_1(kind):
    import os

    if os.environ["RANK"] == "1":
        raise kind("rank 1 says what is wrong")
    return "rank 0 ran"


def test_a_process_error_keeps_its_class_and_message(tmp_path):
    with pytest.raises(FileExistsError, match="rank 1 says what is wrong"):
        run_processes(2, _raises_in_rank_1, (FileExistsError,))
    # a class the caller does not name comes back as RuntimeError with its name (nothing unpickled)
    record = {"type": "ZeroDivisionError", "message": "rank 1 says", "traceback": ""}
    (tmp_path / "error-1.json").write_text(json.dumps(record))
    e = _raised(tmp_path, errors=())
    assert isinstance(e, RuntimeError) and str(e) == "ZeroDivisionError: rank 1 says"
    assert "without a Python error" in str(_raised(tmp_path / "none", errors=()))


def test_a_folder_that_holds_a_run_is_refused_before_any_process_starts(tiny_dataset_dir, tmp_path):
    train(tiny_train_config(tiny_dataset_dir, max_steps=1), tmp_path / "r")
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(tiny_train_config(tiny_dataset_dir, processes=2), tmp_path / "r")


def test_bench_parallel_times_one_thread_every_core_and_the_processes(capsys):
    from dsvae.cli import main

    assert main(["bench", "--preset", "tiny", "--parallel", "2", "--batch-size", "4", "--steps", "1",
                 "--warmup", "0", "--json"]) == 0  # fmt: skip
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    names = [p["path"] for p in row["paths"]]
    assert names[0] == "1 process x 1 thread" and names[2].startswith("2 processes x")
    assert all(p["seq_per_s"] > 0 for p in row["paths"]) and row["paths"][0]["speedup"] == 1.0
    assert main(["bench", "--preset", "tiny", "--parallel", "2", "--batch-size", "5"]) == 2
    assert "--batch-size 5 does not share out over 2 processes" in capsys.readouterr().err
