"""A run's data: where the run recorded it (RUN/train.json: ``data``, ``cwd``, ``data_path``), its
reopening checked against the checksums the run recorded (RUN/env.json), pointing a run at data that
moved, and the one check that a model reads a dataset's sequences (:func:`check_model_fits`)."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from ..config import DSVAEConfig
from ..data import (
    DEFAULT_DATA_ROOT,  # noqa: F401  (where built sources live; tests point it elsewhere)
    GENERATED,
    DatasetError,
    SequenceDataset,
    built_folder,
    open_dataset,
)
from ..data.base import data_checksums
from .records import read_env, read_train_options, write_train_record


def data_location(spec: str | Path) -> dict:
    """The :data:`~dsvae.run.records.DATA_LOCATION` entries a run records for ``--data spec`` given
    in this working directory (no history)."""
    spec = str(spec)
    if spec in GENERATED:
        path = None
    else:  # a built source (sprites, fsdd, a user's) lives in $DSVAE_DATA/NAME
        path = built_folder(spec) or Path(spec)
    return {"cwd": os.getcwd(), "data_path": None if path is None else str(path.resolve())}


def run_data_spec(opts: dict) -> str:
    """What to open for a run whose train.json holds ``opts``: a generated name as it is, else the
    folder the run recorded (``data_path``), else (runs written before it was recorded) ``data``
    resolved against the recorded working directory, never against the current one."""
    data = str(opts.get("data", "synthetic"))
    if data in GENERATED:
        return data
    if opts.get("data_path"):
        return str(opts["data_path"])
    path = built_folder(data) or Path(data)
    return str(path if path.is_absolute() else Path(opts.get("cwd", ".")) / path)


def open_run_dataset(run_dir: str | Path, record: dict | None = None) -> SequenceDataset:
    """The dataset the run trained on (same source, same seed for generated data), checked against
    the checksums the run recorded (:func:`check_run_data`). ``record``: RUN/train.json where the
    caller has read it already (a resumed training), else it is read here.

    Raises :class:`DatasetError` if the data is not where the run recorded it (the message says how to
    point the run at its new place) or differs from what the run trained on."""
    opts = read_train_options(run_dir) if record is None else record
    spec = run_data_spec(opts)
    if spec not in GENERATED and not Path(spec).exists():
        where = f"{opts.get('data')!r} (from {opts['cwd']})" if opts.get("cwd") else repr(opts.get("data"))
        raise DatasetError(
            f"the data of {run_dir} is gone: it trained on {where}, and {spec} does not exist now. If "
            "the folder moved, point the run at its new place with --data NEW (dsvae train --resume "
            f"--out {run_dir} --data NEW, or dsvae eval / viz / report {run_dir} --data NEW); NEW is "
            "checked against the checksums the run recorded."
        )
    dataset = open_dataset(spec, seed=int(opts.get("data_seed", 0)))
    check_run_data(run_dir, dataset, None if spec in GENERATED else spec)
    return dataset


def relocate_data(run_dir: str | Path, data: str | Path) -> SequenceDataset:
    """Point a run at its data in a new place (a folder that moved, another machine's copy): open
    ``data`` (``--data`` syntax, relative to the current directory), check it against the checksums
    the run recorded (:func:`check_run_data`), then record the new place in RUN/train.json
    (atomically; ``data``, ``cwd`` and ``data_path`` replaced, the old ones appended to
    ``data_history``). Returns the dataset. Later commands on the run find the data there.

    Raises :class:`DatasetError` if ``data`` does not exist or holds other data than the run trained
    on (train.json is then left as it was); FileNotFoundError if ``run_dir`` has no train.json."""
    return relocated(run_dir, read_train_options(run_dir), data)[0]


def relocated(run_dir: str | Path, record: dict, data: str | Path) -> tuple[SequenceDataset, dict]:
    """:func:`relocate_data` of a run whose RUN/train.json ``record`` the caller has read; returns
    the dataset and the record as it is now (written where the place changed)."""
    run_dir = Path(run_dir)
    spec = str(data)
    dataset = open_dataset(spec, seed=int(record.get("data_seed", 0)))
    check_run_data(run_dir, dataset, None if spec in GENERATED else spec)
    new = {"data": spec, **data_location(spec)}
    if new["data_path"] != record.get("data_path") or (
        new["data_path"] is None and spec != record.get("data")
    ):
        before = {k: record.get(k) for k in ("data", "cwd", "data_path")}
        history = [*record.get("data_history", []), {**before, "until": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]
        record = {**record, **new, "data_history": history}
        write_train_record(run_dir, record)
    return dataset, record


def check_run_data(run_dir: str | Path, dataset: SequenceDataset, folder: str | Path | None = None) -> None:
    """Refuse ``dataset`` if it is not the data the run trained on: the checksums the run recorded
    (``env.json``, ``data_checksums``: the source's own and, under ``"arrays"``, the sha256 of every
    stored array) must equal the data's (:func:`~dsvae.data.base.data_checksums`). Scores, pictures
    or a resumed training on other data would be silently wrong.

    ``folder``: where the dataset was opened from (None: generated), for the messages. A folder built
    before dsvae recorded array checksums gets them computed (one read of the frames) with a
    warning; a run that recorded none (trained before dsvae did) cannot be checked, with a warning.

    Raises :class:`DatasetError` naming what differs."""
    env_path = Path(run_dir) / "env.json"
    recorded = read_env(run_dir).get("data_checksums") or {}
    name = f"{dataset.meta.get('name', 'the dataset')}" + (f" ({folder})" if folder else "")
    current = dict(dataset.meta.get("checksums") or {})
    if "arrays" in recorded:
        current["arrays"] = run_data_checksums(dataset, folder)["arrays"]
    common = [k for k in recorded if k in current]
    if not common:
        warnings.warn(
            f"{run_dir} recorded no checksums of the data it trained on (a run of an earlier dsvae), so "
            f"nothing checks that {name} is that data",
            stacklevel=2,
        )
        return
    differ = [k for k in common if recorded[k] != current[k]]
    if not differ:
        return
    parts = []
    for k in differ:
        if k == "arrays" and isinstance(recorded[k], dict):
            arrays = [
                a for a in sorted({*recorded[k], *current[k]}) if recorded[k].get(a) != current[k].get(a)
            ]
            parts.append(f"the stored {', '.join(arrays)}")
        else:
            parts.append(f"checksum {k!r}")
    raise DatasetError(
        f"{run_dir} was trained on other data than {name} holds now ({'; '.join(parts)} differ from "
        f"what the run recorded in {env_path}). Restore the data the run used (same source and version, "
        "same --data-seed; a folder re-imported or rebuilt from other files is other data), or point "
        "the run at a copy of it with --data PATH."
    )


def run_data_checksums(dataset: SequenceDataset, folder: str | Path | None = None) -> dict:
    """:func:`~dsvae.data.base.data_checksums`, with a warning when ``folder`` (where the dataset was
    opened from) was built before dsvae recorded the checksums of its arrays: they are computed now
    (one read of its frames) and, until the folder is rebuilt, on every later check."""
    if folder is not None and not dataset.meta.get("array_sha256"):
        warnings.warn(
            f"{folder} was built before dsvae recorded the checksums of its arrays in meta.json; they "
            "are computed now (one read of the frames), and again each time. Rebuild it with the "
            "`dsvae data` command that made it, or write a copy that records them: "
            f"python -c \"from dsvae.data import SequenceDataset; SequenceDataset.open('{folder}')"
            ".save('NEW_FOLDER')\"",
            stacklevel=3,
        )
    return data_checksums(dataset)


# what to do when a trained run's model does not read its data (the message of check_model_fits)
READ_WITH_ITS_DATA = (
    "Open the run with the data it trained on (--data PATH points a run at a copy that moved), or "
    "train a model for this data (dsvae train --data ...)."
)


def check_model_fits(cfg: DSVAEConfig, dataset: SequenceDataset, advice: str = READ_WITH_ITS_DATA) -> None:
    """The one check that a model reads the sequences of ``dataset``: the same kind of frames (video
    ``(C, H, W)`` or vectors ``(D,)``), the same frames per sequence ``T`` and the same frame shape.
    ``cfg``: the model's :class:`~dsvae.config.DSVAEConfig`. ``advice``: what to do, ending the
    message (default: for a trained run opened with other data).

    Raises :class:`DatasetError` (a ValueError) naming each of the three that differs, with the
    model's and the data's values."""
    kind = "video" if cfg.is_video else "vector"
    differ = []
    if kind != dataset.kind:
        differ.append(f"the kind of frames (model: {kind}, data: {dataset.kind})")
    if cfg.T != dataset.T:
        differ.append(f"T, the frames per sequence (model: {cfg.T}, data: {dataset.T})")
    if tuple(cfg.frame_shape) != tuple(dataset.frame_shape):
        axes = (" (C, H, W)" if cfg.is_video else " (D,)") if kind == dataset.kind else ""
        differ.append(
            f"the frame shape{axes} (model: {tuple(cfg.frame_shape)}, data: {tuple(dataset.frame_shape)})"
        )
    if differ:
        name = dataset.meta.get("name", "the dataset")
        what = "; ".join(differ)
        raise DatasetError(
            f"the model does not fit the data {name} (its frames do not match): {what}. {advice}".rstrip()
        )
