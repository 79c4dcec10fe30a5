"""The run being trained: a run folder opened for training (:class:`TrainingRun`): the options it
trains with (a resumed run's from its record, read once, with the changes it may take:
:mod:`dsvae.run.request`), its lock, the clearing of an earlier start and the records written before
the first step (config.json, train.json, recipe.toml, env.json). :func:`dsvae.train.train` runs the
loop inside it; later stages read the folder through :class:`dsvae.run.trained.TrainedRun`."""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .._io import atomic_write_text, remove_stale_temporaries
from ..config import DSVAEConfig
from ..data import SequenceDataset, open_dataset
from ..device import cpu_info
from ..methods import method_source
from ..options import TrainConfig
from .data import data_location, open_run_dataset, relocated, run_data_checksums
from .files import clear_run_outputs, is_failed_start
from .records import DATA_LOCATION, environment, read_train_options, write_env, write_train_record
from .request import TrainRequest


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
    it recorded with the changes it may take, ``changes`` saying which), where its data is, its
    recipe, and whether it starts from step 0 (``fresh``: a new run, one started over with --force,
    or a start that failed before its first checkpoint). Holds the folder's lock until :meth:`close`."""

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
    # a resumed run: its RUN/train.json as read once, and the options it changes ("epochs: 1 -> 2")
    record: dict | None = None
    changes: list[str] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        asked: TrainConfig | TrainRequest,
        run_dir: str | Path,
        resume: bool = False,
        force: bool = False,
        recipe: dict | None = None,
        is_main: bool = True,
        resume_lr: float | None = None,
    ) -> TrainingRun:
        """Open ``run_dir`` to train what was ``asked`` (a TrainConfig: of it, on resume, only what
        a resumed run may change; a :class:`~dsvae.run.request.TrainRequest`: the given options over
        a recipe's, and on resume a ``data`` given points the run at its data's new place). Never
        train over an existing run unless resuming it (or ``force``); a folder that holds nothing
        but a start that failed before its first checkpoint is no run yet. ``recipe``
        (:meth:`dsvae.recipes.Recipe.record`) of a new run, where ``asked`` is a TrainConfig.
        ``resume_lr``: a resumed run continues with this learning rate from its checkpoint's step
        on, recorded in train.json (``lr_changes``; after a divergence, the way on from the last
        finite checkpoint).

        Raises FileExistsError, FileNotFoundError (resume without train.json), :class:`RunBusyError`,
        ValueError for options a resumed run may not change
        (:func:`~dsvae.run.request.resumed_config`) or a ``resume_lr`` without resume or out of
        range, DatasetError for relocated data that is not the run's."""
        run_dir = Path(run_dir)
        failed_start = is_failed_start(run_dir)
        tc = asked
        if isinstance(asked, TrainRequest) and not resume:
            tc, loaded = asked.new_config()
            recipe = loaded.record() if loaded is not None and recipe is None else recipe
        location = data_location(tc.data) if not resume else {}
        run = cls(run_dir, tc, resume, not resume or failed_start, location, recipe, is_main)
        try:
            if is_main:
                run._claim(force or failed_start)
            if resume:
                run._resume(asked)
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

    def _claim(self, may_replace: bool) -> None:
        """Refuse a folder that holds a run (unless resuming it or ``may_replace``) and lock it
        where it exists. Raises FileExistsError, FileNotFoundError, RunBusyError."""
        path = self.path
        if path.exists() and any(path.iterdir()) and not (self.resume or may_replace):
            raise FileExistsError(
                f"{path} already holds a run; pass --resume to continue it or --force to start over"
            )
        if self.resume and not (path / "train.json").exists():
            raise FileNotFoundError(f"cannot resume: {path}/train.json not found")
        if path.is_dir():
            lock_run_dir(path, self.locks)

    def _resume(self, asked: TrainConfig | TrainRequest) -> None:
        """Read RUN/train.json (the one time a resumed training reads it): the recorded data place,
        recipe and options, with what may change; relocate the data where a request names it."""
        record = read_train_options(self.path)
        if not isinstance(asked, TrainRequest):
            asked = TrainRequest.resuming_with(asked)
        elif asked.given.get("data") is not None:
            _, record = relocated(self.path, record, asked.given["data"])
        self.record = record
        self.location = {k: v for k, v in record.items() if k in DATA_LOCATION}
        self.recipe = record.get("recipe")
        self.tc, self.changes = asked.resumed_config(record, self.path)
        self.lr_changes = list(record.get("lr_changes", []))
        self.recorded_method_source = record.get("method_source")

    def dataset(self) -> SequenceDataset:
        """The data to train on: a resumed run reopens its data where it recorded it (not from this
        directory), checked against its checksums; a new one opens ``tc.data``."""
        if self.resume:
            return open_run_dataset(self.path, self.record)
        return open_dataset(self.tc.data, seed=self.tc.data_seed)

    def start(self, cfg: DSVAEConfig, dataset: SequenceDataset, at_step: int = 0, **env) -> None:
        """Before the first step (main process only; ``at_step``: the step it starts from): clear
        what a fresh start replaces, create and lock the folder, and write config.json, train.json
        (options, data place, recipe, learning-rate changes), recipe.toml and env.json (the
        environment, ``env``, and the data's checksums, checked whenever the run's data is reopened:
        :func:`dsvae.run.data.check_run_data`)."""
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
        write_train_record(self.path, record)
        record_env = {**environment(self.tc.seed), **env}
        # the kernel kind decides the bits of a run: runs compare bit for bit only on one kind
        record_env["cpu"] = cpu_info().to_dict()
        record_env["data_checksums"] = run_data_checksums(dataset, self.location.get("data_path"))
        write_env(self.path, record_env)

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
