"""Open a run folder written by ``dsvae train`` (layout in docs/CONTRACTS.md)."""

from __future__ import annotations

import csv
import json
import os
import time
import warnings
from pathlib import Path

import torch

from ._io import atomic_write_text, recover_dir
from .data import BUILT, DEFAULT_DATA_ROOT, GENERATED, DatasetError, SequenceDataset, open_dataset
from .data.base import data_checksums
from .model import DSVAE

LOG_COLUMNS = ("epoch", "split", "loss", "recon", "kl_f", "kl_z", "seq_per_s", "wall_s")
# what `dsvae train` writes before its first checkpoint, and what training and later commands add
RUN_SETUP = ("config.json", "train.json", "recipe.toml", "env.json", "log.csv", "tensorboard", "checkpoints")
RUN_OUTPUTS = (
    "log.csv",
    "tensorboard",
    "checkpoints",
    "model",
    "pictures",
    "metrics.json",
    "metrics.md",
    "report.html",
    "recipe.toml",
)


def model_dir(run_dir: str | Path) -> Path:
    """The final model of a run, else its last checkpoint; a clear error when it has neither."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run folder at {run_dir}")
    for candidate in (run_dir / "model", recover_dir(run_dir / "checkpoints" / "last")):
        if (candidate / "model.safetensors").exists():
            return candidate
    raise FileNotFoundError(
        f"{run_dir} holds no model: neither model/ nor checkpoints/last/ with model.safetensors. "
        "Is it a dsvae run folder? Train one with `dsvae train --out DIR`."
    )


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


def load_model(run_dir: str | Path, map_location: str | torch.device = "cpu") -> DSVAE:
    model = DSVAE.load(model_dir(run_dir), map_location=map_location)
    model.eval()
    return model


def read_train_options(run_dir: str | Path) -> dict:
    """RUN/train.json: the :class:`~dsvae.train.TrainConfig` fields plus where the data was
    (:data:`DATA_LOCATION`)."""
    path = Path(run_dir) / "train.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run folder lacks its training options")
    return json.loads(path.read_text())


# train.json entries beside the TrainConfig fields: the working directory of the command that
# recorded "data", the data folder it resolved to (absolute; null for generated data) and the earlier
# places of a data folder that moved (:func:`relocate_data`)
DATA_LOCATION = ("cwd", "data_path", "data_history")


def data_location(spec: str | Path) -> dict:
    """The :data:`DATA_LOCATION` entries a run records for ``--data spec`` given in this working
    directory (no history)."""
    spec = str(spec)
    if spec in GENERATED:
        path = None
    elif spec in BUILT:
        path = DEFAULT_DATA_ROOT / spec
    else:
        path = Path(spec)
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
    path = DEFAULT_DATA_ROOT / data if data in BUILT else Path(data)
    return str(path if path.is_absolute() else Path(opts.get("cwd", ".")) / path)


def open_run_dataset(run_dir: str | Path) -> SequenceDataset:
    """The dataset the run trained on (same source, same seed for generated data), checked against
    the checksums the run recorded (:func:`check_run_data`).

    Raises :class:`DatasetError` if the data is not where the run recorded it (the message says how to
    point the run at its new place) or differs from what the run trained on."""
    opts = read_train_options(run_dir)
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
    run_dir = Path(run_dir)
    opts = read_train_options(run_dir)
    spec = str(data)
    dataset = open_dataset(spec, seed=int(opts.get("data_seed", 0)))
    check_run_data(run_dir, dataset, None if spec in GENERATED else spec)
    new = {"data": spec, **data_location(spec)}
    if new["data_path"] != opts.get("data_path") or (new["data_path"] is None and spec != opts.get("data")):
        before = {k: opts.get(k) for k in ("data", "cwd", "data_path")}
        history = [*opts.get("data_history", []), {**before, "until": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]
        atomic_write_text(
            run_dir / "train.json", json.dumps({**opts, **new, "data_history": history}, indent=2)
        )
    return dataset


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
    recorded = (json.loads(env_path.read_text()).get("data_checksums") if env_path.exists() else None) or {}
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


def read_log(run_dir: str | Path) -> list[dict]:
    """Rows of RUN/log.csv with numbers parsed (epoch int, the rest float, split str)."""
    path = Path(run_dir) / "log.csv"
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            parsed = {}
            for k, v in row.items():
                if k == "split":
                    parsed[k] = v
                elif k == "epoch":
                    parsed[k] = int(v)
                else:
                    parsed[k] = float(v) if v not in ("", None) else float("nan")
            rows.append(parsed)
    return rows
