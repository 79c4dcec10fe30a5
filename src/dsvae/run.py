"""Open a run folder written by ``dsvae train`` (layout in docs/CONTRACTS.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from ._io import recover_dir
from .data import BUILT, GENERATED, DatasetError, SequenceDataset, open_dataset
from .model import DSVAE

LOG_COLUMNS = ("epoch", "split", "loss", "recon", "kl_f", "kl_z", "seq_per_s", "wall_s")


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


def load_model(run_dir: str | Path, map_location: str | torch.device = "cpu") -> DSVAE:
    model = DSVAE.load(model_dir(run_dir), map_location=map_location)
    model.eval()
    return model


def read_train_options(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "train.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run folder lacks its training options")
    return json.loads(path.read_text())


def open_run_dataset(run_dir: str | Path) -> SequenceDataset:
    """The dataset the run trained on (same source, same seed for generated data), checked against
    the checksums the run recorded (:func:`check_run_data`)."""
    opts = read_train_options(run_dir)
    data = opts.get("data", "synthetic")
    path = Path(data)
    if not path.is_absolute() and data not in (*GENERATED, *BUILT):
        # relative paths are recorded as given; resolve them against the recorded working directory
        cwd = Path(opts.get("cwd", "."))
        path = path if path.exists() else cwd / path
        data = str(path)
    dataset = open_dataset(data, seed=int(opts.get("data_seed", 0)))
    check_run_data(run_dir, dataset)
    return dataset


def check_run_data(run_dir: str | Path, dataset: SequenceDataset) -> None:
    """Refuse ``dataset`` if the run recorded the checksums of the data it trained on
    (``env.json``, ``data_checksums``) and the dataset's own differ: scores, pictures or a resumed
    training on other data would be silently wrong. Data without checksums is not checked."""
    env_path = Path(run_dir) / "env.json"
    recorded = json.loads(env_path.read_text()).get("data_checksums") if env_path.exists() else None
    now = dataset.meta.get("checksums")
    if recorded and now and recorded != now:
        name = dataset.meta.get("name", "the dataset")
        raise DatasetError(
            f"{run_dir} was trained on other data than {name} holds now: the run recorded the "
            f"checksums {recorded}, the data has {now}. Restore the data the run used (same source and "
            f'version, same --data-seed), or point the "data" entry of {Path(run_dir) / "train.json"} '
            "at it."
        )


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
