"""A trained run as the stages after training read it (eval, viz, report, compare): :class:`TrainedRun`."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from ..config import DSVAEConfig
from ..data import SequenceDataset
from ..methods import upgrade_train_record
from ..model import DSVAE
from .data import check_model_fits, open_run_dataset
from .records import read_log, read_metrics, read_train_options
from .weights import load_model


class TrainedRun:
    """A run folder as the stages after training read it; each part is read when first asked for,
    then kept:

    - :attr:`model`: the final model, else the last checkpoint with a warning that the run has not
      finished (:func:`load_model`: checksums checked), in eval mode on ``device``;
    - :attr:`dataset`: the data it trained on (:func:`open_run_dataset`: checked against the run's
      checksums), checked once to fit the model (:func:`check_model_fits`); :attr:`test` its test
      split (possibly empty), :attr:`train` its training split;
    - :attr:`metrics`: RUN/metrics.json (:func:`read_metrics`; None before `dsvae eval`);
      :attr:`config`: RUN/config.json without loading weights; :attr:`options`: RUN/train.json;
      :attr:`log`: the rows of RUN/log.csv; :meth:`record`: any JSON record of the folder.

    Errors are those of the functions named (FileNotFoundError for a folder that is no run, a
    DatasetError for data that is gone, differs or does not fit, DamagedFileError)."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        self.path = Path(path)
        self.device = device

    @classmethod
    def of(cls, run: str | Path | TrainedRun, device: str | torch.device = "cpu") -> TrainedRun:
        """``run`` itself if it is a TrainedRun already (one opening shared by the stages of a
        command), else the run folder at that path."""
        return run if isinstance(run, TrainedRun) else cls(run, device)

    @functools.cached_property
    def model(self) -> DSVAE:
        return load_model(self.path, map_location=self.device)

    @functools.cached_property
    def dataset(self) -> SequenceDataset:
        dataset = open_run_dataset(self.path)
        check_model_fits(self.model.config, dataset)
        return dataset

    @functools.cached_property
    def test(self) -> SequenceDataset:
        return self.dataset.subset("test")

    @functools.cached_property
    def train(self) -> SequenceDataset:
        return self.dataset.subset("train")

    @functools.cached_property
    def metrics(self) -> dict | None:
        return read_metrics(self.path)

    @functools.cached_property
    def config(self) -> DSVAEConfig:
        return DSVAEConfig.load(self.path / "config.json")

    @functools.cached_property
    def options(self) -> dict:
        return read_train_options(self.path)

    @functools.cached_property
    def log(self) -> list[dict]:
        return read_log(self.path)

    def record(self, name: str) -> dict:
        """RUN/``name`` (config.json, train.json, env.json, ...) as a dict; {} where the file is
        missing, unreadable or not a JSON object (a run copied without it). train.json as this
        dsvae reads it (:func:`read_train_options`)."""
        try:
            doc = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict):
            return {}
        return upgrade_train_record(doc) if name == "train.json" else doc

    def __repr__(self) -> str:
        return f"TrainedRun({str(self.path)!r})"
