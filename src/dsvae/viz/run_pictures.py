"""The pictures of a run folder: what `dsvae train` draws after training
(:func:`write_run_train_pictures`) and what `dsvae viz RUN` draws (:func:`visualize_run`), into
RUN/pictures under the names of :mod:`dsvae.viz.catalogue`.

Pictures read what earlier stages wrote (the model, the data, log.csv, metrics.json) and never
compute a metric: the latent map and the traversals need `dsvae eval RUN` first.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..data.base import SequenceDataset
from ..device import evaluating, resolve_device
from ..evaluate.records import MetricsRecord
from ..progress import progress
from ..run import TrainedRun
from .model_pictures import (
    fixed_part,
    importance_map,
    interpolate_f,
    swap_matrix,
    traversals,
    write_train_pictures,
)
from .plots import factor_scores_figure, latent_map_figure, plot_curves, save_figure
from .speech import voice_conversion


def run_latents(run: TrainedRun) -> tuple[dict | None, dict | None]:
    """The latent scores `dsvae eval` wrote into RUN/metrics.json (``latents``) and the metrics (None
    where absent). Pictures never fit a metric: without metrics.json, or with latent scores of other
    latents than the run's model's, a warning says to run `dsvae eval RUN` first and the latent
    pictures are left out."""
    run_dir, metrics = run.path, run.metrics
    if metrics is None:
        warnings.warn(
            f"no latent map or traversals: {run_dir} has no metrics.json yet; run `dsvae eval {run_dir}` "
            f"first, then `dsvae viz {run_dir}` again",
            stacklevel=3,
        )
        return None, None
    latents = MetricsRecord.from_dict(metrics).section("latents")  # any schema version
    if not (latents and latents.get("dci")):
        return None, metrics  # unlabelled, or nothing to fit: metrics.json's notes say why
    cfg = run.model.config
    if len(latents["latent_names"]) != cfg.f_dim + cfg.z_dim:
        warnings.warn(
            f"no latent map or traversals: the latent scores in {run_dir}/metrics.json are of "
            f"{len(latents['latent_names'])} latent dimensions, the model has {cfg.f_dim + cfg.z_dim}; "
            f"run `dsvae eval {run_dir}` again, then `dsvae viz {run_dir}`",
            stacklevel=3,
        )
        return None, metrics
    return latents, metrics


def latent_pictures(
    run: TrainedRun,
    test: SequenceDataset,
    out_dir: Path,
    k: int,
    seed: int,
    device: torch.device,
) -> dict[str, Path]:
    """The latent map (latent_map.png), the per-factor scores (factor_scores.png, where `dsvae eval`
    ran with a judge) and the traversals (traverse_<factor>.gif/.png; PNG of spectrograms for a vector
    run) of a labelled run, from what `dsvae eval` wrote in RUN/metrics.json (:func:`run_latents`)."""
    latents, metrics = run_latents(run)
    record = MetricsRecord.from_dict(metrics) if metrics else None
    paths: dict[str, Path] = {}
    if record and record.section("factors"):
        fig = factor_scores_figure(record.section("factors"), record.section("factor_kinds"))
        paths["factor_scores.png"] = save_figure(fig, out_dir / "factor_scores.png")
    if latents is None:
        return paths
    reg, R = importance_map(latents)
    title = f"latent map: importance of each dimension for each factor (DCI, {reg})"
    fig = latent_map_figure(np.asarray(R), latents["factors"], latents["latent_names"], title)
    paths["latent_map.png"] = save_figure(fig, out_dir / "latent_map.png")
    paths.update(traversals(run.model, test, out_dir, latents, k, seed, device))
    return paths


def visualize_run(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    n_rows: int = 4,
    n_cols: int = 4,
    k: int = 6,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log_scale: bool = True,
) -> dict[str, Path]:
    """Every picture of a run, from its test split, into ``out_dir`` (default RUN/pictures): the swap
    matrix (``n_rows`` x ``n_cols``), fixed f and fixed z with ``k`` samples each, f interpolated in
    ``k`` steps, reconstructions and swaps, and the training curves (see
    :data:`~dsvae.viz.catalogue.PICTURES`). A vector (speech) run gets the curves, spectrogram
    reconstructions and swaps, and the voice conversion examples of
    :func:`~dsvae.viz.speech.voice_conversion`. Returns file name -> path. Raises ValueError for a
    count below 1."""
    for name, value in (("n_rows", n_rows), ("n_cols", n_cols), ("k", k)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "pictures"
    device = resolve_device(str(device))
    run = TrainedRun(run_dir, device)
    model, dataset, test = run.model, run.dataset, _drawn(run)

    paths: dict[str, Path] = {}
    rows = run.log
    if rows:
        paths["curves.png"] = plot_curves(rows, out_dir / "curves.png", log_scale=log_scale)
    steps = [lambda: write_train_pictures(model, test, out_dir, device=device, seed=seed)]
    if model.config.is_video:
        steps += [
            lambda: swap_matrix(model, test, out_dir, n_rows, n_cols, seed, device),
            lambda: fixed_part(model, test, out_dir, "f", n_rows, k, seed, device),
            lambda: fixed_part(model, test, out_dir, "z", n_rows, k, seed, device),
            lambda: interpolate_f(model, test, out_dir, n_rows, k, seed, device),
        ]
    if dataset.labels:
        steps.append(lambda: latent_pictures(run, test, out_dir, k, seed, device))
    with evaluating(model):
        for step in progress(steps, desc="pictures", unit="picture", leave=False):
            paths.update(step())
    if not model.config.is_video:
        paths.update(_voice_conversion(run, out_dir, device))
    return paths


def _drawn(run: TrainedRun) -> SequenceDataset:
    """The sequences to draw of a run (its dataset already checked to fit the model): the test split,
    or for a dataset without one the training split (which the labels then say)."""
    return run.test if len(run.test) else run.train


def write_run_train_pictures(
    run_dir: str | Path, device: str | torch.device = "cpu", seed: int = 0
) -> dict[str, Path]:
    """The pictures of a training that ended, drawn from the run folder into RUN/pictures: the
    reconstructions and swaps of :func:`~dsvae.viz.model_pictures.write_train_pictures`. ``dsvae
    train`` calls it after training (unless ``--no-pictures``); the training loop itself draws
    nothing. Returns file name -> path."""
    run = TrainedRun(run_dir, resolve_device(str(device)))
    return write_train_pictures(run.model, _drawn(run), run.path / "pictures", device=run.device, seed=seed)


def _voice_conversion(run: TrainedRun, out_dir: Path, device: torch.device) -> dict[str, Path]:
    """The voice conversion examples (:func:`~dsvae.viz.speech.voice_conversion`) in ``out_dir``/voice,
    where the run's data is speech (recordings with speakers); otherwise a warning says why there
    are none."""
    try:
        return {
            f"voice/{name}": path
            for name, path in voice_conversion(run, out_dir / "voice", device=device).items()
        }
    except ValueError as e:  # vector data that is not speech recordings: nothing to convert
        warnings.warn(f"no voice conversion examples for {run.path}: {e}", stacklevel=3)
        return {}
