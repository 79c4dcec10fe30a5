"""The one list of a run folder's files (layout in docs/CONTRACTS.md): each with what it holds, the
function that writes it and the one that reads it, and whether a start writes it before its first
checkpoint (:data:`RUN_SETUP`) or a fresh start clears it (:data:`RUN_OUTPUTS`).

The lowest module of :mod:`dsvae.run`: it imports nothing of dsvae, so every reader and writer can
name its file from here. Readers and writers are named as dotted paths, not imported: a test checks
that each one exists."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFile:
    """One file or folder of a run: its ``name`` inside RUN, what it holds, who writes and who reads
    it (dotted names of functions or classes), ``setup``: written by a start before its first
    checkpoint; ``output``: what a fresh start (a new run, --force, a failed start) clears."""

    name: str
    holds: str
    writer: str
    reader: str
    setup: bool = False
    output: bool = False


FILES: tuple[RunFile, ...] = (
    RunFile(
        "config.json",
        "the model's DSVAEConfig, resolved",
        "dsvae.run.training.TrainingRun.start",
        "dsvae.run.trained.TrainedRun.config",
        setup=True,
    ),
    RunFile(
        "train.json",
        "the training options (TrainConfig), the data's place, recipe, method source, learning-rate changes",
        "dsvae.run.training.TrainingRun.start",
        "dsvae.run.records.read_train_options",
        setup=True,
    ),
    RunFile(
        "recipe.toml",
        "the text of the recipe the run was trained from",
        "dsvae.run.training.TrainingRun.start",
        "dsvae.evaluate.compare.run_recipe",
        setup=True,
        output=True,
    ),
    RunFile(
        "env.json",
        "versions, seed, git revision, host, command line, the data's checksums",
        "dsvae.run.training.TrainingRun.start",
        "dsvae.run.data.check_run_data",
        setup=True,
    ),
    RunFile(
        "log.csv",
        "one row per epoch and split: the ELBO terms, speed, time (LOG_COLUMNS)",
        "dsvae.train.Logger.row",
        "dsvae.run.records.read_log",
        setup=True,
        output=True,
    ),
    RunFile(
        "objective.csv",
        "the method's terms per epoch and split",
        "dsvae.train.Logger.row",
        "dsvae.run.records.read_log",
        setup=True,
        output=True,
    ),
    RunFile(
        "tensorboard",
        "TensorBoard events (where tensorboard is installed)",
        "dsvae.train.Logger",
        "tensorboard",
        setup=True,
        output=True,
    ),
    RunFile(
        "checkpoints",
        "checkpoints/last: model, optimizer, RNG, epoch and step (CHECKPOINT_FILES)",
        "dsvae.run.checkpoint.save_checkpoint",
        "dsvae.run.checkpoint.load_checkpoint",
        setup=True,
        output=True,
    ),
    RunFile(
        "model",
        "the final model (config.json, model.safetensors, checksums.json)",
        "dsvae.model.DSVAE.save",
        "dsvae.run.weights.load_model",
        output=True,
    ),
    RunFile(
        "pictures", "the pictures of dsvae train and dsvae viz", "dsvae.viz", "dsvae.report", output=True
    ),
    RunFile(
        "metrics.json",
        "the scores of dsvae eval (sections of dsvae.evaluate.records)",
        "dsvae.run.records.write_metrics",
        "dsvae.run.records.read_metrics",
        output=True,
    ),
    RunFile(
        "metrics.md",
        "those scores as tables, stamped with the sha256 of metrics.json",
        "dsvae.run.records.write_metrics",
        "dsvae.run.records.read_metrics_markdown",
        output=True,
    ),
    RunFile("report.html", "the page of dsvae report", "dsvae.report.build_report", "a browser", output=True),
)

# what `dsvae train` writes before its first checkpoint, and what a fresh start clears
RUN_SETUP = tuple(f.name for f in FILES if f.setup)
RUN_OUTPUTS = tuple(f.name for f in FILES if f.output)
# RUN/log.csv's columns; a checkpoint folder's files, each checked against its checksums.json
# (the ELBO's terms, elbo.ELBO_TERMS, spelled here so that this module imports nothing of dsvae:
# tests/test_run.py checks the two agree)
LOG_COLUMNS = ("epoch", "split", "loss", "recon", "kl_f", "kl_z", "seq_per_s", "wall_s")
CHECKPOINT_FILES = ("config.json", "model.safetensors", "state.safetensors", "state.json")
# where a run keeps its checkpoints and its final model
LAST_CHECKPOINT = Path("checkpoints") / "last"
FINAL_MODEL = "model"


def is_failed_start(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds nothing but what `dsvae train` writes before its first checkpoint
    (:data:`RUN_SETUP`): a start that failed (an error, Ctrl-C, a kill) before anything could be
    resumed. Such a folder does not block training into it again."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    names = {p.name for p in run_dir.iterdir()}
    if not names or not names <= set(RUN_SETUP):
        return False
    checkpoints = run_dir / "checkpoints"
    kept = [checkpoints / "last", checkpoints / ".last.old"]  # (.old: a swap interrupted, recover_dir)
    return not any((d / f).exists() for d in kept for f in ("model.safetensors", "state.json", "state.pt"))


def clear_run_outputs(run_dir: Path) -> None:
    """Remove what an earlier start left in a run folder (:data:`RUN_OUTPUTS`: log, checkpoints,
    model, pictures, metrics) before a fresh start writes its own, so nothing of the two mixes;
    other files are left alone, and so is a folder that is no run (no train.json)."""
    if not (run_dir / "train.json").exists():
        return
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
