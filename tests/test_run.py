"""A run stays tied to its data and loads nothing that can run code (issue 16, points 3, 5 and 6):
relative data found from any directory, moved data pointed at with --data, checksums of every
dataset folder's arrays, batches too small for BatchNorm refused before anything is written, failed
starts that do not block a rerun, and checkpoints read without pickle."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import dsvae.train as train_mod
from conftest import moving_squares, tiny_train_config
from dsvae import DSVAE, DSVAEConfig
from dsvae.cli import main as cli_main
from dsvae.data import DatasetError, SequenceDataset, open_dataset
from dsvae.data.base import array_sha256, arrays_sha256, atomic_dataset_dir, write_columns
from dsvae.run import is_failed_start, open_run_dataset, read_log, read_train_options, relocate_data
from dsvae.run.checkpoint import CheckpointError, _from_plain
from dsvae.train import check_batch_norm_batch, train


def tiny_tc(data, **kw):
    return tiny_train_config(data, **{"seed": 3, "log_every": 1, **kw})


def weights(path: Path) -> dict:
    return load_file(str(path / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture
def squares(tmp_path) -> Path:
    path = tmp_path / "squares"
    moving_squares().save(path)
    return path


# --- 3. a run finds its data, and only its data ------------------------------------------------------


def test_resume_from_another_directory_opens_the_relative_data_it_recorded(tmp_path, monkeypatch, capsys):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    moving_squares().save(project / "squares")
    monkeypatch.chdir(project)
    train(tiny_tc("squares", epochs=2, max_steps=3), "run")  # relative --data, relative --out
    monkeypatch.chdir(elsewhere)
    args = ["train", "--resume", "--out", str(project / "run"), "--epochs", "2", "--no-pictures"]
    assert cli_main(args) == 0, capsys.readouterr().err
    assert (project / "run" / "model" / "model.safetensors").exists()
    opts = read_train_options(project / "run")
    assert (opts["data"], opts["cwd"]) == ("squares", str(project))  # still as recorded
    assert len(open_run_dataset(project / "run")) == 80


def test_moved_data_is_pointed_at_with_data_and_other_data_is_refused(squares, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(tiny_tc(squares, epochs=2, max_steps=3), run)
    moved = tmp_path / "moved" / "squares"
    moved.parent.mkdir()
    shutil.move(squares, moved)
    with pytest.raises(DatasetError, match="--data NEW"):
        open_run_dataset(run)

    # other data at the new place: refused, train.json untouched
    other = tmp_path / "other"
    moving_squares(seed=1).save(other)
    before = (run / "train.json").read_text()
    for cmd in (["viz", str(run)], ["eval", str(run)], ["report", str(run)]):
        assert cli_main([*cmd, "--data", str(other)]) == 2
    with pytest.raises(DatasetError, match="trained on other data"):
        relocate_data(run, other)
    assert (run / "train.json").read_text() == before

    # the same data, moved: viz points the run at it, and later commands find it there
    monkeypatch.chdir(moved.parent)
    assert cli_main(["viz", str(run), "--data", "squares", "--rows", "1", "--cols", "1", "--k", "1"]) == 0
    monkeypatch.chdir(tmp_path)
    opts = read_train_options(run)
    assert (opts["data"], opts["data_path"]) == ("squares", str(moved))
    assert [h["data_path"] for h in opts["data_history"]] == [str(squares)]
    assert len(open_run_dataset(run)) == 80

    # and resume: to a copy somewhere else, which becomes the run's data
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    args = ["train", "--resume", "--out", str(run), "--data", str(copy), "--epochs", "2", "--no-pictures"]
    assert cli_main(args) == 0
    opts = read_train_options(run)
    assert opts["data_path"] == str(copy) and len(opts["data_history"]) == 2
    assert read_log(run)[-1]["epoch"] == 2


def _stored_sha256(array: np.ndarray) -> str:
    a = np.ascontiguousarray(array)
    return hashlib.sha256(f"{a.dtype.str} {a.shape}\n".encode() + a.tobytes()).hexdigest()


def test_array_sha256_streams_and_covers_dtype_and_shape():
    a = np.random.default_rng(0).integers(0, 255, (37, 4, 8, 8, 3), dtype=np.uint8)
    assert array_sha256(a) == _stored_sha256(a)
    assert array_sha256(a, chunk_bytes=1000) == array_sha256(a)  # chunks of 1 row
    assert array_sha256(a.reshape(37, 8, 4, 8, 3)) != array_sha256(a)
    assert array_sha256(a.astype(np.int16)) != array_sha256(a)


def test_every_writer_records_the_checksums_of_the_stored_arrays(tmp_path):
    ds = moving_squares()
    saved = SequenceDataset.open(ds.save(tmp_path / "saved"))
    sums = saved.meta["array_sha256"]
    assert sums["frames"] == _stored_sha256(np.load(tmp_path / "saved" / "frames.npy"))
    assert sums == arrays_sha256(ds.frames, ds.labels, ds.label_values, ds.info, ds.split)

    # a streaming writer (frames.npy written in pieces, then write_columns): the same checksums
    with atomic_dataset_dir(tmp_path / "streamed") as tmp:
        frames = np.lib.format.open_memmap(
            tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=ds.frames.shape
        )
        for i in range(0, len(ds.frames), 7):
            frames[i : i + 7] = ds.frames[i : i + 7]
        frames.flush()
        del frames
        write_columns(tmp, ds.labels, ds.label_values, ds.split, ds.info, ds.meta, ds.frames.shape, "uint8")
    assert SequenceDataset.open(tmp_path / "streamed").meta["array_sha256"] == sums

    # every array counts: a label's value names, an info column, the split
    renamed = moving_squares()
    renamed.label_values["colour"] = ["r", "g", "b"]
    for changed, part in (
        (renamed, "labels"),
        (moving_squares().subset(np.arange(80)), None),
    ):
        other = SequenceDataset.open(changed.save(tmp_path / f"other-{part}"))
        if part:
            assert other.meta["array_sha256"][part] != sums[part]
        else:
            assert other.meta["array_sha256"] == sums
    resplit = moving_squares()
    resplit.split = 1 - resplit.split
    assert (
        SequenceDataset.open(resplit.save(tmp_path / "resplit")).meta["array_sha256"]["split"]
        != sums["split"]
    )


def _png_clip(folder: Path, colour) -> None:
    folder.mkdir(parents=True)
    for t in range(8):
        frame = np.full((16, 16, 3), 40, np.uint8)
        frame[6:10, t : t + 4] = colour
        Image.fromarray(frame).save(folder / f"frame{t}.png")


def test_a_reimported_video_folder_is_refused_by_the_run(tmp_path):
    from dsvae.data.video import import_videos

    clips = tmp_path / "clips"
    for k in range(4):
        _png_clip(clips / f"clip{k}", (255, 60 * k, 0))
    data = tmp_path / "videos"
    ds = import_videos(clips, data, size=16, T=4, stride=1, test_fraction=0.25)
    assert set(ds.meta["array_sha256"]) == {"frames", "labels", "info", "split"}
    run = tmp_path / "run"
    train(tiny_tc(data, batch_size=4, max_steps=2), run)
    assert json.loads((run / "env.json").read_text())["data_checksums"]["arrays"] == ds.meta["array_sha256"]

    shutil.rmtree(clips / "clip3")
    _png_clip(clips / "clip3", (0, 0, 255))  # one clip re-recorded, the same folder re-imported
    import_videos(clips, data, size=16, T=4, stride=1, test_fraction=0.25, force=True)
    with pytest.raises(DatasetError, match="the stored frames differ"):
        open_run_dataset(run)
    assert cli_main(["viz", str(run)]) == 2


def test_a_speech_folder_records_checksums(tmp_path):
    from dsvae.data.speech import build_fsdd
    from test_speech import write_fsdd_folder

    ds = build_fsdd(write_fsdd_folder(tmp_path / "rec", indices=(1, 5)), tmp_path / "fsdd")
    assert ds.meta["array_sha256"]["frames"] == _stored_sha256(np.load(tmp_path / "fsdd" / "frames.npy"))


def test_generated_data_is_checked_too(tmp_path):
    run = tmp_path / "run"
    tc = tiny_tc("synthetic", batch_size=64, max_steps=1)
    train(tc, run)
    recorded = json.loads((run / "env.json").read_text())["data_checksums"]
    assert set(recorded) == {"frames_sha256", "arrays"}
    env = json.loads((run / "env.json").read_text())
    env["data_checksums"]["arrays"]["labels"] = "0" * 64
    (run / "env.json").write_text(json.dumps(env))
    with pytest.raises(DatasetError, match="the stored labels differ"):
        open_run_dataset(run)


def _strip_array_checksums(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    del meta["array_sha256"]
    (folder / "meta.json").write_text(json.dumps(meta))


def test_folders_and_runs_from_before_checksums(squares, tmp_path):
    _strip_array_checksums(squares)  # a folder built by an earlier dsvae
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="built before dsvae recorded the checksums"):
        train(tiny_tc(squares, max_steps=1), run)
    recorded = json.loads((run / "env.json").read_text())["data_checksums"]["arrays"]
    assert recorded == SequenceDataset.open(moving_squares().save(tmp_path / "fresh")).meta["array_sha256"]

    moving_squares(seed=1).save(squares, force=True)
    _strip_array_checksums(squares)  # other data, again without checksums: computed, and refused
    with pytest.warns(UserWarning, match="built before"), pytest.raises(DatasetError, match="other data"):
        open_run_dataset(run)

    # a run of an earlier dsvae recorded nothing: opened, with a warning that nothing checks it
    env = json.loads((run / "env.json").read_text())
    env["data_checksums"] = None
    (run / "env.json").write_text(json.dumps(env))
    with pytest.warns(UserWarning, match="recorded no checksums"):
        assert len(open_run_dataset(run)) == 80


# --- 5a. batches too small for BatchNorm; failed starts ----------------------------------------------


def test_a_batch_of_one_frame_is_refused_before_anything_is_written(tmp_path):
    data = tmp_path / "t1"
    moving_squares(T=1).save(data)
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="BatchNorm 1 frame in each step.*--batch-size 2"):
        train(tiny_tc(data, batch_size=1), run)
    assert not run.exists()
    assert (
        cli_main(["train", "--data", str(data), "--preset", "tiny", "--batch-size", "1", "--out", str(run)])
        == 2
    )
    assert not run.exists()
    train(tiny_tc(data, batch_size=2, max_steps=2), run)  # 2 frames per step: trains
    assert is_failed_start(run) is False


def test_the_batch_rule_covers_ddp_and_matches_the_model():
    check_batch_norm_batch(1, 2)
    check_batch_norm_batch(2, 1)
    with pytest.raises(ValueError, match=r"each of the 4 processes \(4 / 4\).*--batch-size 8"):
        check_batch_norm_batch(4, 1, world=4)  # gloo: BatchNorm per process
    check_batch_norm_batch(4, 1, world=4, sync=True)  # SyncBatchNorm pools the batch
    with pytest.raises(ValueError, match="at least 1"):
        check_batch_norm_batch(0, 8)
    # the rule is the model's: one sequence of 2 frames trains, one frame does not (video and vectors)
    for cfg in (DSVAEConfig.preset("tiny", T=2), DSVAEConfig.preset("speech", T=2, frame_dim=6)):
        DSVAE(cfg).train()(torch.rand(1, 2, *cfg.frame_shape))
        one = cfg.replace(T=1)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            DSVAE(one).train()(torch.rand(1, 1, *one.frame_shape))


class Crash(Exception):
    pass


def test_a_failed_start_does_not_block_a_rerun(squares, tmp_path, monkeypatch):
    real = train_mod.make_optimizer

    def crashing(model, tc, device):
        opt = real(model, tc, device)

        def step(*a, **k):
            raise Crash()

        opt.step = step
        return opt

    run = tmp_path / "run"
    monkeypatch.setattr(train_mod, "make_optimizer", crashing)
    with pytest.raises(Crash):
        train(tiny_tc(squares, epochs=1), run)
    monkeypatch.setattr(train_mod, "make_optimizer", real)
    assert is_failed_start(run) and (run / "train.json").exists()
    train(tiny_tc(squares, epochs=1), run)  # no --force needed
    assert [r["epoch"] for r in read_log(run)] == [1, 1]
    assert not is_failed_start(run)
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny_tc(squares, epochs=1), run)  # a run with a checkpoint still blocks

    # --resume of a failed start begins at step 0, with the recorded options
    monkeypatch.setattr(train_mod, "make_optimizer", crashing)
    with pytest.raises(Crash):
        train(tiny_tc(squares, epochs=1), tmp_path / "again")
    monkeypatch.setattr(train_mod, "make_optimizer", real)
    train(tiny_tc(squares, epochs=1), tmp_path / "again", resume=True)
    assert same_weights(run / "model", tmp_path / "again" / "model")

    # a folder with files of its own is no failed start
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert not is_failed_start(tmp_path / "mine")


def test_force_starts_over_without_mixing_the_old_log(squares, tmp_path):
    run = tmp_path / "run"
    train(tiny_tc(squares, epochs=1), run)
    (run / "metrics.json").write_text("{}")
    train(tiny_tc(squares, epochs=1, max_steps=2), run, force=True)
    assert read_log(run) == [] and not (run / "model").exists() and not (run / "metrics.json").exists()


# --- 6. checkpoints that cannot run code --------------------------------------------------------------


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _old_format(run: Path, payload=None) -> None:
    """Turn the run's checkpoint into the state.pt of an earlier dsvae (same content), or a pickle
    that runs code when loaded."""
    last = run / "checkpoints" / "last"
    tensors = load_file(str(last / "state.safetensors"))
    state = _from_plain(json.loads((last / "state.json").read_text())["state"], tensors)
    rng = state["rng"]
    np_state = ("MT19937", rng["numpy"]["keys"].numpy().astype(np.uint32), rng["numpy"]["pos"], 0, 0.0)
    py_state = (rng["python"]["version"], tuple(rng["python"]["internal"].tolist()), None)
    old = {**state, "rng": {"torch": rng["torch"], "numpy": np_state, "python": py_state}}
    if payload is not None:
        old["rng"]["extra"] = payload
    torch.save(old, last / "state.pt")
    (last / "state.json").unlink()
    (last / "state.safetensors").unlink()


def test_a_malicious_state_pt_is_not_run(squares, tmp_path):
    run = tmp_path / "run"
    train(tiny_tc(squares, epochs=2, max_steps=2), run)
    marker = tmp_path / "ran.txt"
    _old_format(run, Payload(marker))
    with pytest.raises(CheckpointError, match="earlier dsvae.*does not read it"):
        train(tiny_tc(squares, epochs=2), run, resume=True)
    assert not marker.exists()
    assert (run / "checkpoints" / "last" / "state.pt").exists()  # left as it was


def test_an_old_checkpoint_is_refused_with_what_to_do(squares, tmp_path, capsys):
    train(tiny_tc(squares, epochs=2, max_steps=4), tmp_path / "part")
    _old_format(tmp_path / "part")
    args = ["train", "--resume", "--out", str(tmp_path / "part"), "--epochs", "2", "--no-pictures"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "earlier dsvae" in err and "--force" in err


def test_a_damaged_checkpoint_is_a_clear_error(squares, tmp_path):
    run = tmp_path / "run"
    train(tiny_tc(squares, epochs=2, max_steps=2), run)
    (run / "checkpoints" / "last" / "state.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="damaged"):
        train(tiny_tc(squares, epochs=2), run, resume=True)


def test_data_of_a_built_name_resolves_against_the_recorded_directory(tmp_path, monkeypatch):
    import dsvae.data as data_mod
    import dsvae.run.data as run_mod

    project = tmp_path / "project"
    moving_squares().save(project / "data" / "sprites")
    monkeypatch.setattr(data_mod, "DEFAULT_DATA_ROOT", Path("data"))
    monkeypatch.setattr(run_mod, "DEFAULT_DATA_ROOT", Path("data"))
    monkeypatch.chdir(project)
    assert len(open_dataset("sprites")) == 80
    run = tmp_path / "run"
    train(tiny_tc("sprites", max_steps=1), run)
    monkeypatch.chdir(tmp_path)
    assert read_train_options(run)["data_path"] == str(project / "data" / "sprites")
    assert len(open_run_dataset(run)) == 80


# --- the run folder as later stages read it: one fit check, one opening ----------------------------------


def test_one_fit_check_says_what_differs_and_what_to_do():
    import dataclasses

    from dsvae.run import check_model_fits
    from dsvae.train import model_config_for

    ds = moving_squares()  # T = 4 frames of 3 x 16 x 16
    cfg = model_config_for(ds, "tiny", {})
    check_model_fits(cfg, ds)
    with pytest.raises(
        DatasetError, match=r"T, the frames per sequence \(model: 5, data: 4\)\. Open the run"
    ):
        check_model_fits(dataclasses.replace(cfg, T=5), ds)
    with pytest.raises(
        ValueError, match=r"frame shape \(C, H, W\) \(model: \(3, 32, 32\), data: \(3, 16, 16\)"
    ):
        model_config_for(ds, "tiny", {"frame_size": 32})  # training's check is the same one
    with pytest.raises(ValueError, match="Drop the overrides"):
        model_config_for(ds, "tiny", {"T": 6})
    vectors = SequenceDataset.from_arrays(np.zeros((8, 4, 6), np.float32), meta={"name": "vec"})
    with pytest.raises(
        DatasetError,
        match=r"does not fit the data vec \(its frames do not match\): the kind of frames \(model: video",
    ):
        check_model_fits(cfg, vectors)


def test_trained_run_opens_model_data_and_records_once(squares, tmp_path):
    from dsvae.run import TrainedRun

    train(tiny_tc(squares, epochs=1), tmp_path / "run")
    run = TrainedRun(tmp_path / "run")
    assert TrainedRun.of(run) is run and TrainedRun.of(tmp_path / "run").path == run.path
    assert isinstance(run.model, DSVAE) and not run.model.training
    assert run.model is run.model  # read once, then kept
    assert len(run.test) + len(run.train) == len(run.dataset) == 80 and len(run.test) > 0
    assert run.metrics is None and run.config.T == 4 and run.options["epochs"] == 1
    assert [r["split"] for r in run.log] == ["train", "test"]
    assert run.record("env.json")["data_checksums"] and run.record("nothing.json") == {}
    with pytest.raises(FileNotFoundError, match="no run folder"):
        _ = TrainedRun(tmp_path / "none").model


# --- the one list of the run folder's files -------------------------------------------------------------


def test_every_file_of_the_run_folder_is_listed_once_with_a_reader_and_writer_that_exist():
    import importlib

    from dsvae.run.files import FILES, RUN_OUTPUTS, RUN_SETUP

    contracts = (Path(__file__).resolve().parents[1] / "docs" / "CONTRACTS.md").read_text()
    names = [f.name for f in FILES]
    assert len(names) == len(set(names))
    assert {"config.json", "train.json", "log.csv", "checkpoints"} <= set(RUN_SETUP)
    assert {"model", "metrics.json", "report.html"} <= set(RUN_OUTPUTS) and "train.json" not in RUN_OUTPUTS
    for f in FILES:
        assert f"RUN/{f.name}" in contracts, f.name
        for ref in (f.writer, f.reader):
            if not ref.startswith("dsvae."):
                continue
            parts = ref.split(".")
            for cut in range(len(parts), 1, -1):  # the longest importable module, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
                break
            else:
                raise AssertionError(ref)


def test_the_log_columns_are_the_elbo_terms():
    from dsvae.elbo import ELBO_TERMS
    from dsvae.run.files import LOG_COLUMNS

    assert LOG_COLUMNS == ("epoch", "split", *ELBO_TERMS, "seq_per_s", "wall_s")
