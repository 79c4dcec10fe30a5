"""The run folder as training writes it: its options (:class:`TrainConfig`, RUN/train.json), the rules
of resuming it (:func:`resumed_config`), its lock, the clearing of an earlier start and the records
written before the first step (config.json, train.json, recipe.toml, env.json). :class:`TrainingRun`
is that life in one object; :func:`dsvae.train.train` runs the loop inside it. Later stages read
the folder through :mod:`dsvae.run` (layout in docs/CONTRACTS.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_write_text, remove_stale_temporaries
from .config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ConfigBase, DSVAEConfig, Range, option
from .data import SequenceDataset, open_dataset
from .data.sources import data_help
from .device import PRECISIONS, cpu_info
from .methods import Method, MethodError, make_method, method_ref, method_source, with_source
from .run import (
    DATA_LOCATION,
    RUN_OUTPUTS,
    data_location,
    is_failed_start,
    open_run_dataset,
    read_train_options,
    run_data_checksums,
)


@dataclass
class TrainConfig(ConfigBase):
    """Every training option of a run: what ``dsvae train`` and a recipe set, recorded in
    RUN/train.json. The command line's options are generated from these fields (cli.py); kinds and
    ranges are checked where a TrainConfig is made (:class:`~dsvae.config.ConfigBase`), and the
    method's options against its dataclass (:mod:`dsvae.methods`)."""

    WHAT = "training option"

    data: str = option("synthetic", data_help())
    preset: str = option("cpu", "model preset: paper, cpu, sprites, tiny, speech (dsvae.config.PRESETS)")
    model_overrides: dict = option({}, "DSVAEConfig fields over the preset, e.g. {'z_dim': 8}")
    epochs: int = option(10, "epochs in all", AT_LEAST_ONE)
    batch_size: int = option(
        25, "the global batch; under DDP each of the W processes takes batch_size / W", AT_LEAST_ONE
    )
    lr: float = option(2e-4, "Adam learning rate", POSITIVE)
    betas: tuple[float, float] = option(
        (0.9, 0.999), "Adam betas, as B1,B2", Range(0, 1, high_open=True), metavar="B1,B2"
    )
    kl_warmup_steps: int = option(
        0,
        "linear warm-up of the KL weight from 0 to 1 over this many steps (0: the plain ELBO)",
        NON_NEGATIVE,
    )
    lr_decay_steps: int = option(
        0, "decay the learning rate to 0 (half cosine) over the last N steps (0: constant)", NON_NEGATIVE
    )
    grad_clip: float = option(
        0.0, "clip the global gradient norm to this value (0: no clipping)", NON_NEGATIVE
    )
    method: str = option(
        "dsvae",
        "the method: dsvae, cdsvae, dbse, spyl (dsvae methods lists them with their options), an "
        "installed package's (entry point dsvae.methods), module:Class or path/to/file.py:Class",
    )
    method_options: dict = option({}, "the method's options, e.g. {'contrastive_f': 10.0}")
    seed: int = option(
        0, "seed of the model's initialisation, the batches and the sampled latents", NON_NEGATIVE
    )
    data_seed: int = option(0, "seed of generated data (synthetic)", NON_NEGATIVE)
    precision: str = option(
        "auto", "bf16 autocast or fp32; auto uses bf16 where the hardware has it", choices=PRECISIONS
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:1, ...")
    channels_last: bool | None = option(
        None, "channels_last convolutions (default: where measured faster, dsvae.device)"
    )
    compile: bool = option(False, "torch.compile the model")
    log_every: int = option(10, "steps between host synchronisations (progress bar, NaN check)", AT_LEAST_ONE)
    checkpoint_every: int = option(
        0, "also checkpoint every N steps inside an epoch (0: at epoch ends only)", NON_NEGATIVE
    )
    max_steps: int = option(
        0, "stop (checkpointed) after this many steps in all (0: run the epochs)", NON_NEGATIVE
    )
    max_minutes: float = option(
        0.0,
        "stop (checkpointed) after this many minutes of this invocation (0: none); continue with --resume",
        NON_NEGATIVE,
    )
    pictures: bool = option(
        True, "after training, draw the reconstructions and swaps into RUN/pictures (dsvae viz: the rest)"
    )
    progress: bool = option(True, "show progress bars")

    def validate(self) -> None:
        """The method exists and its options are its dataclass's (filled in with its defaults,
        so that RUN/train.json records every option the run trained with). Raises ValueError
        (:class:`~dsvae.methods.MethodError`)."""
        self.method = method_ref(self.method)
        self.method_options = self.method_instance().options.to_dict()

    def method_instance(self, source: dict | None = None) -> Method:
        """The method with its options (:func:`dsvae.methods.make_method`; ``source``: the run's
        record of where it came from, for the message when it cannot be imported)."""
        return make_method(self.method, self.method_options, source)

    @classmethod
    def from_record(cls, record: dict) -> TrainConfig:
        """The TrainConfig of RUN/train.json (without its extra entries, :data:`RUN_RECORD_EXTRA`);
        a run trained before methods had names has its flat options read as the method they made
        (:func:`dsvae.run.read_train_options` does that)."""
        try:
            return cls.from_dict({k: v for k, v in record.items() if k not in RUN_RECORD_EXTRA})
        except MethodError as e:  # the method's package is gone: say which one the run had
            raise with_source(e, record.get("method_source")) from None


# what a resumed run may change: its length and the machine it runs on; everything else would make
# it another run than the one it continues
MAY_CHANGE_ON_RESUME = (
    "epochs",
    "max_steps",
    "max_minutes",
    "device",
    "progress",
    "pictures",
    "log_every",
    "checkpoint_every",
)
# train.json entries beside the TrainConfig fields: where the data is, the recipe of the run, where its
# method came from, and the learning rates a resumed run changed to on purpose (--resume-lr)
RUN_RECORD_EXTRA = (*DATA_LOCATION, "recipe", "method_source", "lr_changes")


def resumed_config(run_dir: str | Path, changes: dict) -> tuple[TrainConfig, list[str]]:
    """The TrainConfig a run recorded in RUN/train.json, with ``changes`` (TrainConfig fields) applied
    where a resumed run may change them (:data:`MAY_CHANGE_ON_RESUME`). Returns the config and one
    line per option changed ("epochs: 16 -> 20").

    Raises ValueError naming every other option of ``changes`` whose value differs from the recorded
    one (with that value): continuing a run with another learning rate, batch or model would silently
    train something else. ``data`` is not compared (a moved data folder is relocated and checked by
    its checksums, :func:`dsvae.run.relocate_data`)."""
    recorded = TrainConfig.from_record(read_train_options(run_dir))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    applied, refused = [], []
    for key, value in changes.items():
        if key not in fields:
            raise ValueError(f"unknown training option {key!r}")
        old = getattr(recorded, key)
        if key == "method_options":  # an option the method lacks: the closest names, not a difference
            value = make_method(recorded.method, value).options.to_dict()
        if key == "data" or _same(value, old):
            continue
        if key in MAY_CHANGE_ON_RESUME:
            setattr(recorded, key, value)
            applied.append(f"{key}: {_shown(old)} -> {_shown(value)}")
        else:
            flag = {"model_overrides": "--set", "method_options": "--method-option"}.get(
                key, "--" + key.replace("_", "-")
            )
            refused.append(f"{flag} {_shown(value)} (the run recorded {_shown(old)})")
    if refused:
        raise ValueError(
            f"{run_dir} was trained with other options, and a resumed run continues with the ones it "
            "recorded: " + "; ".join(refused) + ". Drop them to continue the run as it was, or train a "
            "new run into another --out (or start this one over with --force). Only "
            + ", ".join(f"--{k.replace('_', '-')}" for k in MAY_CHANGE_ON_RESUME)
            + " may change on --resume (and the learning rate on purpose, recorded in train.json, "
            "with --resume-lr LR: the way on after a diverged run)."
        )
    return recorded, applied


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _shown(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={_shown(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def environment(seed: int) -> dict:
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        rev = None
    from . import __version__

    env = {
        "dsvae": __version__,
        "git_revision": rev,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "seed": seed,
        "command": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return env


def clear_run_outputs(run_dir: Path) -> None:
    """Remove what an earlier start left in a run folder (log, checkpoints, model, pictures, metrics:
    :data:`~dsvae.run.RUN_OUTPUTS`) before a fresh start writes its own, so nothing of the two
    mixes; other files are left alone, and so is a folder that is no run (no train.json)."""
    if not (run_dir / "train.json").exists():
        return
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


class RunBusyError(FileExistsError):
    """Another process is training into the same run folder right now."""


def lock_run_dir(run_dir: Path, locks: list[int]) -> None:
    """Hold an exclusive advisory lock (flock) on the folder ``run_dir`` until the descriptor put in
    ``locks`` is closed (:meth:`TrainingRun.close`) or the process ends, so that a second ``dsvae
    train`` into it (a ``--resume`` or ``--force`` while the first still runs) is refused instead of
    interleaving two runs' checkpoints and logs.
    No-op where fcntl is missing (Windows). Raises :class:`RunBusyError`."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunBusyError(
            f"{run_dir} is being written by another dsvae train right now; wait for it to end (or stop "
            "it) before resuming or replacing this run, or train into another --out"
        ) from None
    locks.append(fd)


@dataclass
class TrainingRun:
    """A run folder opened for training (:meth:`open`): the options it trains with (on resume, those
    it recorded with the changes it may take), where its data is, its recipe, and whether it starts
    from step 0 (``fresh``: a new run, one started over with --force, or a start that failed before
    its first checkpoint). Holds the folder's lock until :meth:`close`."""

    path: Path
    tc: TrainConfig
    resume: bool
    fresh: bool
    location: dict
    recipe: dict | None
    is_main: bool
    locks: list[int] = field(default_factory=list)
    # the learning rates the run changed to on resume (--resume-lr), and this start's change if any
    lr_changes: list[dict] = field(default_factory=list)
    lr_change: dict | None = None
    recorded_method_source: dict | None = None

    @classmethod
    def open(
        cls,
        tc: TrainConfig,
        run_dir: str | Path,
        resume: bool = False,
        force: bool = False,
        recipe: dict | None = None,
        is_main: bool = True,
        resume_lr: float | None = None,
    ) -> TrainingRun:
        """Never train over an existing run unless resuming it (or ``force``); a folder that holds
        nothing but a start that failed before its first checkpoint is no run yet. ``resume_lr``: a
        resumed run continues with this learning rate from its checkpoint's step on, recorded in
        train.json (``lr_changes``; after a divergence, the way on from the last finite checkpoint).
        Raises FileExistsError, FileNotFoundError (resume without train.json), :class:`RunBusyError`,
        and ValueError for options a resumed run may not change (:func:`resumed_config`) or a
        ``resume_lr`` without resume or out of range."""
        run_dir = Path(run_dir)
        failed_start = is_failed_start(run_dir)
        run = cls(run_dir, tc, resume, not resume or failed_start, data_location(tc.data), recipe, is_main)
        try:
            if is_main:
                if run_dir.exists() and any(run_dir.iterdir()) and not (resume or force or failed_start):
                    raise FileExistsError(
                        f"{run_dir} already holds a run; pass --resume to continue it or --force to start "
                        "over"
                    )
                if resume and not (run_dir / "train.json").exists():
                    raise FileNotFoundError(f"cannot resume: {run_dir}/train.json not found")
                if run_dir.is_dir():
                    lock_run_dir(run_dir, run.locks)
            if resume:  # the recorded data place, recipe and options, with what may change
                recorded = read_train_options(run_dir)
                run.location = {k: v for k, v in recorded.items() if k in DATA_LOCATION}
                run.recipe = recorded.get("recipe")
                # epochs 0: as recorded (the command line left --epochs out)
                changes = {
                    k: getattr(tc, k) for k in MAY_CHANGE_ON_RESUME if not (k == "epochs" and not tc.epochs)
                }
                run.tc, _ = resumed_config(run_dir, changes)
                run.lr_changes = list(recorded.get("lr_changes", []))
                run.recorded_method_source = recorded.get("method_source")
            if resume_lr is not None:
                if not resume:
                    raise ValueError("--resume-lr changes the learning rate of a resumed run: add --resume")
                if resume_lr != run.tc.lr:
                    run.lr_change = {"was": run.tc.lr, "lr": resume_lr}
                    run.tc = dataclasses.replace(run.tc, lr=resume_lr)  # range-checked there
        except BaseException:
            run.close()
            raise
        return run

    def dataset(self) -> SequenceDataset:
        """The data to train on: a resumed run reopens its data where it recorded it (not from this
        directory), checked against its checksums; a new one opens ``tc.data``."""
        if self.resume:
            return open_run_dataset(self.path)
        return open_dataset(self.tc.data, seed=self.tc.data_seed)

    def start(self, cfg: DSVAEConfig, dataset: SequenceDataset, at_step: int = 0, **env) -> None:
        """Before the first step (main process only; ``at_step``: the step it starts from): clear
        what a fresh start replaces, create and lock the folder, and write config.json, train.json
        (options, data place, recipe, learning-rate changes), recipe.toml and env.json (the
        environment, ``env``, and the data's checksums, checked whenever the run's data is reopened:
        :func:`dsvae.run.check_run_data`)."""
        if not self.is_main:
            return
        if self.fresh:
            clear_run_outputs(self.path)  # of the failed start, or of the run --force starts over
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.locks:
            lock_run_dir(self.path, self.locks)
        remove_stale_temporaries(self.path)  # of writers killed in an earlier start, with a note
        cfg.save(self.path / "config.json")
        record = {**self.tc.to_dict(), **self.location, "method_source": self._method_source()}
        if self.lr_change is not None:
            self.lr_changes.append({"step": at_step, **self.lr_change})
            self.lr_change = None
        if self.lr_changes:
            record["lr_changes"] = self.lr_changes
        if self.recipe is not None:
            record["recipe"] = {k: self.recipe[k] for k in ("name", "sha256", "source")}
            if "text" in self.recipe:
                atomic_write_text(self.path / "recipe.toml", self.recipe["text"])
        atomic_write_text(self.path / "train.json", json.dumps(record, indent=2))
        record_env = {**environment(self.tc.seed), **env}
        # the kernel kind decides the bits of a run: runs compare bit for bit only on one kind
        record_env["cpu"] = cpu_info().to_dict()
        record_env["data_checksums"] = run_data_checksums(dataset, self.location.get("data_path"))
        atomic_write_text(self.path / "env.json", json.dumps(record_env, indent=2, default=str))

    def _method_source(self) -> dict:
        """Where the run's method comes from now (:func:`dsvae.methods.method_source`); on resume, a
        package version or file that differs from the one the run recorded is said (the run goes on
        with the method as it is now)."""
        source = method_source(self.tc.method)
        before = self.recorded_method_source
        if before:
            changed = [k for k in ("package", "version", "sha256") if before.get(k) != source.get(k)]
            if changed:
                warnings.warn(
                    f"{self.path}: the method {self.tc.method} changed since the run recorded it ("
                    + ", ".join(f"{k} {before.get(k)} -> {source.get(k)}" for k in changed)
                    + "); the run goes on with it as it is now",
                    stacklevel=2,
                )
        return source

    def close(self) -> None:
        """Release the folder's lock."""
        while self.locks:
            os.close(self.locks.pop())

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "MAY_CHANGE_ON_RESUME",
    "RunBusyError",
    "TrainConfig",
    "TrainingRun",
    "clear_run_outputs",
    "environment",
    "lock_run_dir",
    "resumed_config",
]
