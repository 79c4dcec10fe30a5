import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import dsvae.train as train_mod
from conftest import moving_squares, tiny_train_config
from dsvae import DSVAE
from dsvae.cli import main as cli_main
from dsvae.config import DSVAEConfig
from dsvae.data import DatasetError, SequenceDataset
from dsvae.options import TrainConfig
from dsvae.run import RunBusyError, load_model, open_run_dataset, read_log
from dsvae.run.checkpoint import load_checkpoint
from dsvae.train import TrainingDiverged, train


def tiny_tc(data: Path, **kw) -> TrainConfig:
    return tiny_train_config(data, **{"seed": 3, "log_every": 1, **kw})


def weights(path: Path) -> dict:
    return load_file(str(path / "model.safetensors"))


def checkpoint_state(run: Path) -> dict:
    """epoch, step_in_epoch, step of the run's last checkpoint (plain values of state.json)."""
    return json.loads((run / "checkpoints" / "last" / "state.json").read_text())["state"]


def test_run_folder_contents(tiny_dataset_dir, tmp_path):
    res = train(tiny_tc(tiny_dataset_dir), tmp_path / "run")
    run = tmp_path / "run"
    for name in (
        "config.json",
        "train.json",
        "env.json",
        "log.csv",
        "model/model.safetensors",
        "checkpoints/last/model.safetensors",
        "checkpoints/last/state.json",
        "checkpoints/last/state.safetensors",
    ):
        assert (run / name).exists(), name
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 3 and env["torch"] == torch.__version__ and "git_revision" in env
    rows = read_log(run)
    assert [(r["epoch"], r["split"]) for r in rows] == [(1, "train"), (1, "test"), (2, "train"), (2, "test")]
    assert res.test["loss"] == pytest.approx(rows[-1]["loss"], rel=1e-4)
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert isinstance(load_model(run), DSVAE)
    # the same seed gives the same weights
    train(tiny_tc(tiny_dataset_dir), tmp_path / "again")
    a, b = weights(run / "model"), weights(tmp_path / "again" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_refuses_to_overwrite_a_run(tiny_dataset_dir, tmp_path):
    train(tiny_tc(tiny_dataset_dir, epochs=1), tmp_path / "run")
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_tc(tiny_dataset_dir, epochs=1), tmp_path / "run")


class Killed(Exception):
    pass


def test_killed_mid_epoch_and_resumed_ends_with_the_same_weights(tiny_dataset_dir, tmp_path, monkeypatch):
    # 60 training sequences / batch 10 = 6 steps per epoch; checkpoints every 2 steps
    tc = tiny_tc(tiny_dataset_dir, epochs=3, checkpoint_every=2)
    train(tc, tmp_path / "whole")

    real = train_mod.make_optimizer
    calls = {"n": 0}

    def dying_optimizer(model, tc, device):
        opt = real(model, tc, device)
        step = opt.step

        def step_or_die(*a, **k):
            calls["n"] += 1
            if calls["n"] == 10:  # mid-epoch 2, after the checkpoint at step 8
                raise Killed()
            return step(*a, **k)

        opt.step = step_or_die
        return opt

    monkeypatch.setattr(train_mod, "make_optimizer", dying_optimizer)
    with pytest.raises(Killed):
        train(tc, tmp_path / "killed")
    monkeypatch.setattr(train_mod, "make_optimizer", real)
    assert not (tmp_path / "killed" / "model").exists()
    state = checkpoint_state(tmp_path / "killed")
    assert (state["epoch"], state["step_in_epoch"], state["step"]) == (1, 2, 8)

    res = train(tc, tmp_path / "killed", resume=True)
    assert res.steps == 18
    a, b = weights(tmp_path / "whole" / "model"), weights(tmp_path / "killed" / "model")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in read_log(tmp_path / "killed")] == [1, 1, 2, 2, 3, 3]


def test_max_steps_then_resume(tiny_dataset_dir, tmp_path):
    tc = tiny_tc(tiny_dataset_dir, epochs=2)
    train(tc, tmp_path / "whole")
    res = train(tiny_tc(tiny_dataset_dir, epochs=2, max_steps=4), tmp_path / "part")
    assert res.steps == 4 and not (tmp_path / "part" / "model").exists()
    train(tc, tmp_path / "part", resume=True)
    a, b = weights(tmp_path / "whole" / "model"), weights(tmp_path / "part" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_dataset_dir, tmp_path, monkeypatch):
    real = train_mod.make_optimizer

    def poisoning_optimizer(model, tc, device):
        opt = real(model, tc, device)
        step, calls = opt.step, {"n": 0}

        def step_then_poison(*a, **k):
            out = step(*a, **k)
            calls["n"] += 1
            if calls["n"] == 8:  # in epoch 2
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))
            return out

        opt.step = step_then_poison
        return opt

    monkeypatch.setattr(train_mod, "make_optimizer", poisoning_optimizer)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(tiny_tc(tiny_dataset_dir, epochs=3), tmp_path / "run")
    last = weights(tmp_path / "run" / "checkpoints" / "last")
    assert all(torch.isfinite(v).all() for v in last.values())
    assert checkpoint_state(tmp_path / "run")["epoch"] == 1


def test_data_that_does_not_fit_the_model_is_refused(tiny_dataset_dir, tmp_path):
    with pytest.raises(ValueError, match="do not match"):
        train(tiny_tc(tiny_dataset_dir, model_overrides={"T": 6}), tmp_path / "run")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_match_the_single_process_run(tiny_dataset_dir, tmp_path):
    """2 gloo processes on the same global batch = one process that runs the two halves of each
    batch with each rank's RNG stream and averages their gradients (what DDP computes). On CPU
    BatchNorm statistics are per process (SyncBatchNorm is CUDA only), which the reference follows."""
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        "-m",
        "dsvae.cli",
        "train",
        "--data",
        str(tiny_dataset_dir),
        "--preset",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--lr",
        "1e-3",
        "--seed",
        "3",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--no-channels-last",
        "--no-pictures",
        "--out",
        str(run),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp_loss = read_log(run)[0]["loss"]

    tc = tiny_tc(tiny_dataset_dir, epochs=1)
    ds = SequenceDataset.open(tiny_dataset_dir).subset("train")
    states = []
    for r in range(2):
        train_mod.seed_everything(tc.seed + r)
        model = DSVAE(train_mod.model_config_for(ds, "tiny", {}))
        states.append(torch.get_rng_state())
        if r == 0:
            ref = model
    opt = train_mod.make_optimizer(ref, tc, torch.device("cpu"))
    losses = []
    for pos in ds.batches(10, shuffle=True, seed=tc.seed, epoch=0, drop_last=True):
        opt.zero_grad(set_to_none=True)
        buffers = {k: v.clone() for k, v in ref.named_buffers()}
        step_loss = 0.0
        for r in (1, 0):  # rank 0 last: its BatchNorm running statistics are the ones DDP keeps
            if r == 0:
                for k, v in ref.named_buffers():
                    v.copy_(buffers[k])
            torch.set_rng_state(states[r])
            out = ref(ds.normalize(ds.get_batch(pos[r::2])))
            (out.loss / 2).backward()
            states[r] = torch.get_rng_state()
            step_loss += out.loss.item() / 2
        opt.step()
        losses.append(step_loss)
    assert ddp_loss == pytest.approx(np.mean(losses), rel=1e-4)
    got = weights(run / "model")
    want = ref.state_dict()
    for k in got:
        # Adam steps are ~lr = 1e-3 whatever the gradient's size: 1e-4 allows reduction-order noise only
        assert torch.allclose(got[k], want[k], atol=1e-4), k


def test_cli_train_writes_a_run(tiny_dataset_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli_main(
        [
            "train",
            "--data",
            str(tiny_dataset_dir),
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--batch-size",
            "10",
            "--precision",
            "fp32",
            "--no-pictures",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert "test loss" in capsys.readouterr().out
    rc = cli_main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert rc == 2 and "not 'synthetic'" in capsys.readouterr().err


def test_a_run_refuses_data_that_changed_since_it_trained(tmp_path):
    data = tmp_path / "squares"
    ds = moving_squares()
    ds.meta["checksums"] = {"frames_sha256": "one"}
    ds.save(data)
    arrays = SequenceDataset.open(data).meta["array_sha256"]  # recorded by save
    run = tmp_path / "run"
    train(tiny_tc(data, max_steps=2, pictures=False), run)
    recorded = {"frames_sha256": "one", "arrays": arrays}
    assert json.loads((run / "env.json").read_text())["data_checksums"] == recorded
    assert len(open_run_dataset(run)) == len(ds)  # the same data: accepted

    other = moving_squares(seed=1)
    other.meta["checksums"] = {"frames_sha256": "two"}
    other.save(data, force=True)
    with pytest.raises(DatasetError, match="trained on other data"):
        open_run_dataset(run)  # what eval, viz and report open
    with pytest.raises(DatasetError, match="trained on other data"):
        train(tiny_tc(data, max_steps=4, pictures=False), run, resume=True)
    # the refused resume left the run's record alone
    assert json.loads((run / "env.json").read_text())["data_checksums"] == recorded

    # the same arrays without the source's own checksum: checked by the arrays' alone, accepted
    plain = moving_squares()
    plain.meta.pop("checksums", None)
    plain.save(data, force=True)
    assert len(open_run_dataset(run)) == len(plain)


def test_resume_gives_the_moments_their_parameters_layout(tiny_dataset_dir, tmp_path):
    """Checkpoints store tensors contiguous; a channels_last model's conv weights are not. CUDA's
    fused Adam refused the loaded moments ("same dtype, device, and layout") on the first step after
    resuming the paper preset on an H200; the loaded state must take each parameter's strides."""
    train(tiny_tc(tiny_dataset_dir, epochs=2, max_steps=3, channels_last=True), tmp_path / "run")
    cfg = DSVAEConfig.load(tmp_path / "run" / "config.json")
    model = DSVAE(cfg).to(memory_format=torch.channels_last)
    opt = train_mod.make_optimizer(model, tiny_tc(tiny_dataset_dir), torch.device("cpu"))
    load_checkpoint(tmp_path / "run", model, opt, torch.device("cpu"))
    conv = [p for p in model.parameters() if p.dim() == 4]
    assert conv and any(not p.is_contiguous() for p in conv)
    for p in model.parameters():
        for k in ("exp_avg", "exp_avg_sq"):
            assert opt.state[p][k].stride() == p.stride(), k
    train(tiny_tc(tiny_dataset_dir, epochs=2, channels_last=True), tmp_path / "whole")
    train(tiny_tc(tiny_dataset_dir, epochs=2, channels_last=True), tmp_path / "run", resume=True)
    a, b = weights(tmp_path / "whole" / "model"), weights(tmp_path / "run" / "model")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("z_dim=abc", "z_dim must be a whole number, got 'abc'"),
        ("z_dim=1.5", "z_dim must be a whole number, got 1.5"),
        ("q_z=3", "q_z must be a string, got 3"),
        ("conv_channels=a,b", "conv_channels must be whole numbers separated by commas"),
        ("zz_dim=3", "unknown DSVAEConfig field 'zz_dim'"),
    ],
)
def test_cli_set_with_a_bad_value_is_a_clear_error(tiny_dataset_dir, tmp_path, capsys, setting, message):
    """`--set z_dim=abc` ended in a TypeError traceback from the config's checks."""
    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_dataset_dir), "--preset", "tiny", "--set", setting, "--out", str(out)]
    assert cli_main(args) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_config_accepts_what_json_and_set_give():
    cfg = DSVAEConfig.preset("tiny", recon_scale=4, conv_channels=[8, 16], mlp_hidden=16, f_dim=3)
    assert cfg.recon_scale == 4.0 and isinstance(cfg.recon_scale, float)
    assert cfg.conv_channels == (8, 16) and cfg.mlp_hidden == (16,)
    assert DSVAEConfig.from_dict(cfg.to_dict()) == cfg


def test_a_second_train_into_a_busy_run_folder_is_refused(tiny_dataset_dir, tmp_path):
    """`dsvae train --resume` (or --force) while the first process still trained into the folder ran
    both at once, interleaving their checkpoints and log.csv; the folder is now locked while in use."""
    run = tmp_path / "run"
    train(tiny_tc(tiny_dataset_dir, epochs=2, max_steps=2), run)
    holder = subprocess.Popen(  # another process holding the run, as a running `dsvae train` does
        [
            sys.executable,
            "-c",
            "import sys, time; from dsvae.run import lock_run_dir; "
            "lock_run_dir(__import__('pathlib').Path(sys.argv[1]), []); print('locked', flush=True); "
            "time.sleep(60)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = (run / "log.csv").read_text()
        for kw in ({"resume": True}, {"force": True}):
            with pytest.raises(RunBusyError, match="another dsvae train"):
                train(tiny_tc(tiny_dataset_dir, epochs=2), run, **kw)
        assert (run / "log.csv").read_text() == before  # nothing touched
    finally:
        holder.kill()
        holder.wait()
    res = train(tiny_tc(tiny_dataset_dir, epochs=2), run, resume=True)  # free again: resumes
    assert res.steps > 2


def test_dsvae_help_and_every_subcommand_help(capsys):
    """`dsvae --help` crashed in argparse on the '%' of a subcommand's help text."""
    with pytest.raises(SystemExit) as e:
        cli_main(["--help"])
    assert e.value.code == 0 and "compare" in capsys.readouterr().out
    for sub in ("data", "train", "judge", "eval", "bench", "viz", "report", "compare"):
        with pytest.raises(SystemExit) as e:
            cli_main([sub, "--help"])
        assert e.value.code == 0, sub


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_train_says_how_to_resume_and_resumes(
    tiny_dataset_dir, tmp_path, signum, dsvae_process
):
    """Ctrl-C printed a KeyboardInterrupt traceback and no hint; SIGTERM ended it without a word."""
    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_dataset_dir), "--preset", "tiny", "--batch-size", "10"]
    args += ["--device", "cpu", "--precision", "fp32", "--no-pictures", "--out", str(out)]
    proc = dsvae_process([*args, "--epochs", "500"])
    deadline = time.monotonic() + 600  # a guard against a hang, not a timing
    while not (out / "checkpoints" / "last" / "state.json").exists() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=600)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last == (
        f"dsvae train: interrupted ({name}); the run keeps its last checkpoint; continue with: "
        f"dsvae train --resume --out {out}"
    )
    done = checkpoint_state(out)["epoch"]
    assert cli_main(["train", "--resume", "--out", str(out), "--epochs", str(done + 1)]) == 0
    assert (out / "model" / "model.safetensors").exists()


def test_a_run_stopped_at_an_epoch_end_says_so(tiny_dataset_dir, tmp_path, capsys):
    """--max-minutes (or --max-steps) ending a run at an epoch boundary printed "done: N epochs"."""
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(tiny_dataset_dir),
        "--preset",
        "tiny",
        "--batch-size",
        "10",
        "--epochs",
        "3",
    ]
    args += ["--device", "cpu", "--precision", "fp32", "--no-pictures", "--out", str(out)]
    steps_per_epoch = len(SequenceDataset.open(tiny_dataset_dir).subset("train")) // 10
    assert cli_main([*args, "--max-steps", str(steps_per_epoch)]) == 0
    text = capsys.readouterr().out
    assert f"stopped after {steps_per_epoch} steps, 1 of 3 epochs" in text and "done:" not in text
    assert not (out / "model").exists()


# --- inputs round 4: a diverged run, options out of range, no temporary folder, --no-pictures ---------


def one_step_epochs(tmp_path: Path) -> Path:
    """A dataset folder whose training split is one batch of 20: an epoch is a single step."""
    frames = np.random.default_rng(0).integers(0, 255, (24, 4, 16, 16, 3), dtype=np.uint8)
    split = np.array([0] * 20 + [1] * 4, np.int8)
    path = tmp_path / "one-step"
    SequenceDataset.from_arrays(
        frames, labels={}, label_values={}, info={}, meta={"name": "one-step"}, split=split
    ).save(path)
    return path


def test_a_run_that_diverges_in_its_only_step_fails_and_saves_nothing(tmp_path, capsys):
    data, run = one_step_epochs(tmp_path), tmp_path / "run"
    common = ["--preset", "tiny", "--batch-size", "20", "--precision", "fp32", "--no-progress"]
    assert (
        cli_main(["train", "--data", str(data), "--lr", "1e3", "--epochs", "1", "--out", str(run), *common])
        == 3
    )
    err = capsys.readouterr().err
    assert "non-finite" in err and "no checkpoint was written" in err
    assert not (run / "model").exists() and not (run / "checkpoints").exists()
    rows = read_log(run) if (run / "log.csv").exists() else []
    assert all(np.isfinite(r["loss"]) for r in rows)  # nothing non-finite logged as a result
    # the advice works as written: go on with a lower learning rate, recorded in train.json
    advice = err.split("train.json): ")[1].split()
    assert advice[:5] == ["dsvae", "train", "--resume", "--out", str(run)] and advice[5] == "--resume-lr"
    assert float(advice[6]) == pytest.approx(100.0)
    assert cli_main([*advice[1:5], "--resume-lr", "1e-3", "--no-progress"]) == 0
    recorded = json.loads((run / "train.json").read_text())
    assert recorded["lr"] == pytest.approx(1e-3)
    assert recorded["lr_changes"] == [{"step": 0, "was": 1000.0, "lr": 0.001}]
    assert (run / "model" / "model.safetensors").exists()


def test_a_divergence_mid_run_keeps_the_last_finite_checkpoint_and_resumes_with_a_lower_lr(
    tiny_dataset_dir, tmp_path, monkeypatch, capsys
):
    run = tmp_path / "run"
    real = train_mod.make_optimizer

    def blows_up_in_epoch_2(model, tc, device):  # a step of epoch 2 leaves infinite weights
        opt, calls = real(model, tc, device), {"n": 0}
        step = opt.step

        def step_then_blow(*a, **k):
            out = step(*a, **k)
            calls["n"] += 1
            if calls["n"] == 7 and tc.lr > 1e-3:
                with torch.no_grad():
                    next(model.parameters()).fill_(float("inf"))
            return out

        opt.step = step_then_blow
        return opt

    monkeypatch.setattr(train_mod, "make_optimizer", blows_up_in_epoch_2)
    advice = r"last good checkpoint .* \(step 6, finite\).*--resume-lr 0.0002"
    with pytest.raises(TrainingDiverged, match=advice):
        train(tiny_tc(tiny_dataset_dir, epochs=3, lr=2e-3, log_every=100), run)
    assert checkpoint_state(run)["step"] == 6 and not (run / "model").exists()
    assert all(torch.isfinite(v).all() for v in weights(run / "checkpoints" / "last").values())
    assert cli_main(["train", "--resume", "--out", str(run), "--lr", "2e-4"]) == 2  # a plain --lr: refused
    assert "--lr 0.0002 (the run recorded 0.002)" in capsys.readouterr().err
    res = train(tiny_tc(tiny_dataset_dir, epochs=3), run, resume=True, resume_lr=2e-4)
    assert res.epochs_done == 3
    assert json.loads((run / "train.json").read_text())["lr_changes"] == [
        {"step": 6, "was": 2e-3, "lr": 2e-4}
    ]


def test_resume_lr_needs_resume(tiny_dataset_dir, tmp_path):
    with pytest.raises(ValueError, match="--resume-lr .*add --resume"):
        train(tiny_tc(tiny_dataset_dir), tmp_path / "run", resume_lr=1e-4)


def test_eval_and_viz_refuse_a_model_with_non_finite_weights(tiny_dataset_dir, tmp_path, capsys):
    from safetensors.torch import save_file

    from dsvae._io import write_checksums

    run = tmp_path / "run"
    train(tiny_tc(tiny_dataset_dir, epochs=1), run)
    w = weights(run / "model")
    name = next(k for k, v in w.items() if v.is_floating_point())
    w[name] = torch.full_like(w[name], float("nan"))
    save_file(w, str(run / "model" / "model.safetensors"))  # as an earlier dsvae saved a diverged run
    write_checksums(run / "model", ["config.json", "model.safetensors"])
    for command in (["eval", str(run), "--seeds", "1", "--judge", "none"], ["viz", str(run)]):
        assert cli_main(command) == 2
        assert "non-finite weights" in capsys.readouterr().err
    assert not (run / "metrics.json").exists()


@pytest.mark.parametrize(
    "flag, value, says",
    [
        ("--grad-clip", "-1", "grad_clip must be >= 0"),
        ("--kl-warmup-steps", "-100", "kl_warmup_steps must be >= 0"),
        ("--epochs", "0", "epochs must be >= 1"),
        ("--lr", "nan", "lr must be > 0"),
        ("--betas", "0.9,1.5", "each of betas must be in [0, 1)"),
        ("--log-every", "0", "log_every must be >= 1"),
    ],
)
def test_options_out_of_range_are_refused_by_name_on_the_command_line(tmp_path, capsys, flag, value, says):
    assert cli_main(["train", "--preset", "tiny", flag, value, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert says in err and flag in err and not (tmp_path / "r").exists()


def test_options_out_of_range_are_refused_through_the_api(tmp_path):
    with pytest.raises(ValueError, match=r"grad_clip \(--grad-clip\) = -1.0 is out of range"):
        TrainConfig(grad_clip=-1.0)
    with pytest.raises(ValueError, match="sample_predict_negatives must be in \\(0, 1\\]"):
        TrainConfig(method="spyl", method_options={"sample_predict_negatives": 0.0})
    with pytest.raises(ValueError, match="contrastive_tau .* must be > 0"):
        TrainConfig(method="cdsvae", method_options={"contrastive_tau": 0})
    with pytest.raises(ValueError, match="every width of conv_channels must be positive"):
        DSVAEConfig.preset("tiny", conv_channels=(8, -16))
    assert TrainConfig(kl_warmup_steps=0, grad_clip=0.0, max_minutes=0.0).epochs == 10  # the bounds


def test_without_a_writable_temporary_folder_each_command_says_what_to_set(tmp_path, capsys, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "_candidate_tempdir_list", lambda: [str(tmp_path / "read-only")])
    for command in (
        ["train", "--preset", "tiny", "--out", str(tmp_path / "runs" / "r")],
        ["viz", str(tmp_path / "r")],
    ):
        assert cli_main(command) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no writable temporary folder" in err
        assert f"export TMPDIR={tmp_path}" in err and "MPLCONFIGDIR=" in err


def test_a_finished_run_without_pictures_does_not_say_stopped(tiny_dataset_dir, tmp_path, capsys):
    args = ["train", "--data", str(tiny_dataset_dir), "--preset", "tiny", "--epochs", "1"]
    args += ["--batch-size", "10", "--precision", "fp32", "--no-progress", "--no-pictures"]
    assert cli_main([*args, "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "done: 1 epochs" in out and "stopped after" not in out
    assert cli_main([*args, "--epochs", "2", "--max-steps", "3", "--out", str(tmp_path / "part")]) == 0
    assert "stopped after 3 steps" in capsys.readouterr().out
