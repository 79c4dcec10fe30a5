"""The training schedule's switches: the learning-rate decay at the end, gradient clipping and the
wall-time budget."""

import math

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_train_config
from dsvae.options import TrainConfig
from dsvae.run import read_log
from dsvae.train import learning_rate, train


def test_learning_rate_is_constant_then_a_half_cosine_to_zero():
    tc = TrainConfig(lr=1e-3, lr_decay_steps=10)
    lrs = [learning_rate(tc, s, 30) for s in range(30)]
    assert lrs[:20] == [1e-3] * 20
    tail = lrs[20:]
    assert all(a > b for a, b in zip(tail, tail[1:]))  # strictly decreasing
    assert tail[0] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi / 11)))
    assert 0 < tail[-1] < 0.03e-3  # the last step still learns, barely
    assert learning_rate(TrainConfig(lr=1e-3), 29, 30) == 1e-3  # no decay by default


def _weights(run):
    return load_file(str(run / "model" / "model.safetensors"))


def test_decay_and_clipping_change_training_and_resume_exactly(tiny_dataset_dir, tmp_path):
    base = dict(seed=1, log_every=1)
    train(tiny_train_config(tiny_dataset_dir, **base), tmp_path / "plain")
    sched = dict(base, lr_decay_steps=8, grad_clip=1.0)
    train(tiny_train_config(tiny_dataset_dir, **sched), tmp_path / "sched")
    a, b = _weights(tmp_path / "plain"), _weights(tmp_path / "sched")
    assert any(not torch.equal(a[k], b[k]) for k in a)
    # stopped and resumed half-way, the schedule (a function of the step) continues where it was
    train(tiny_train_config(tiny_dataset_dir, max_steps=5, **sched), tmp_path / "resumed")
    train(tiny_train_config(tiny_dataset_dir, **sched), tmp_path / "resumed", resume=True)
    c = _weights(tmp_path / "resumed")
    assert all(torch.equal(b[k], c[k]) for k in b)


def test_max_minutes_stops_with_a_checkpoint(tiny_dataset_dir, tmp_path):
    res = train(tiny_train_config(tiny_dataset_dir, epochs=50, max_minutes=1e-9), tmp_path / "run")
    assert res.steps == 1 and res.epochs_done == 0
    assert (tmp_path / "run" / "checkpoints" / "last").is_dir()
    assert not (tmp_path / "run" / "model").exists()
    assert read_log(tmp_path / "run") == []


def test_cli_resume_without_epochs_keeps_the_recorded_schedule(tiny_dataset_dir, tmp_path):
    from dsvae.cli import main

    out = str(tmp_path / "run")
    common = ["--data", str(tiny_dataset_dir), "--preset", "tiny", "--batch-size", "10", "--out", out]
    common += ["--precision", "fp32", "--device", "cpu", "--no-pictures"]
    assert main(["train", "--epochs", "3", "--lr-decay-steps", "6", "--max-steps", "4"] + common) == 0
    assert main(["train", "--resume"] + common) == 0
    rows = read_log(tmp_path / "run")
    assert max(r["epoch"] for r in rows) == 3  # not the command line's default of 10


def test_a_resumed_epoch_reports_the_rate_of_the_steps_it_ran(tiny_dataset_dir, tmp_path, monkeypatch):
    """seq/s of an epoch resumed mid-way counts only the steps run after the resume (it counted the
    whole epoch's sequences over the time of the rest, inflating the rate). A fake clock that
    advances one second per optimizer step makes every rate exactly the batch size."""
    import dsvae.train

    clock = [0.0]
    step = torch.optim.Adam.step

    def timed_step(self, *args, **kwargs):
        clock[0] += 1.0
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", timed_step)
    monkeypatch.setattr(dsvae.train.time, "perf_counter", lambda: clock[0])
    train(tiny_train_config(tiny_dataset_dir, epochs=1), tmp_path / "full")
    train(tiny_train_config(tiny_dataset_dir, epochs=1, max_steps=2), tmp_path / "resumed")
    train(tiny_train_config(tiny_dataset_dir, epochs=1), tmp_path / "resumed", resume=True)
    for run in ("full", "resumed"):
        (row,) = [r for r in read_log(tmp_path / run) if r["split"] == "train"]
        assert row["seq_per_s"] == 10.0, run  # batch_size sequences per (fake) second
