"""Codes of sequences and what they hold: posterior means, DCI and leakage probes for one run.

Video and speech runs both come here: :func:`encode_means` gives every sequence's codes, and
:func:`latent_scores` turns training and test codes with their labels into DCI (of f, of
time-averaged z and of the two side by side: the latent map) and the probe table. The latent
dimensions of the joint code are named ``f0 .. f{F-1}, z0 .. z{Z-1}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..data.base import SequenceDataset
from ..data.parts import LabelParts
from ..device import evaluating
from ..model import DSVAE
from ..progress import Stopwatch
from .dci import REGRESSORS, dci
from .probes import probe_table

# the codes DCI is computed for, per regressor: boosted trees on hundreds of dimensions take minutes on
# a CPU, so they fit the joint code (the latent map) only; the linear model fits all three
CODES = {"gbt": ("f+z",), "linear": ("f", "z", "f+z")}


@torch.no_grad()
def encode_means(
    model: DSVAE, ds: SequenceDataset, batch_size: int = 256, device: str | torch.device = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means of every sequence of ``ds``: f (N, f_dim) and z (N, T, z_dim), float32, with
    the model in eval mode (its mode restored after: :func:`dsvae.device.evaluating`)."""
    fs, zs = [], []
    with evaluating(model):
        for pos in ds.batches(batch_size):
            enc = model.encode(ds.model_batch(pos, device))
            fs.append(enc.f.float().cpu().numpy())
            zs.append(enc.z.float().cpu().numpy())
    return np.concatenate(fs), np.concatenate(zs)


def latent_names(f_dim: int, z_dim: int) -> list[str]:
    """Names of the joint code's dimensions: f0 .. f{f_dim-1}, then z0 .. z{z_dim-1}."""
    return [f"f{i}" for i in range(f_dim)] + [f"z{i}" for i in range(z_dim)]


def latent_scores(
    train_codes: Mapping[str, np.ndarray],
    train_labels: Mapping[str, np.ndarray],
    test_codes: Mapping[str, np.ndarray],
    test_labels: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    ceilings: Mapping[str, float] | None = None,
    regressors: Sequence[str] = REGRESSORS,
    seed: int = 0,
    watch: Stopwatch | None = None,
    parts: Mapping[str, LabelParts] | None = None,
    part_ceilings: Mapping[str, Mapping[str, float]] | None = None,
) -> dict:
    """DCI and probes of codes ``{"f": (N, f_dim), "z": (N, z_dim)}`` (z averaged over time) against
    every label present in both splits with at least two classes in training.

    Returns ``{"factors": [names], "latent_names": [f0.., z0..], "dci": {regressor: {code:
    :func:`dsvae.evaluate.dci.dci`}}, "probes": :func:`dsvae.evaluate.probes.probe_table`,
    "skipped": {label: why}}``, the codes of each regressor those of :data:`CODES` ("f+z" is f and
    z side by side, the latent map). ``parts``: labels split into parts (:mod:`dsvae.data.parts`),
    whose parts get probes of their own (``probes[label]["parts"]``; DCI is of the labels alone), with
    ``part_ceilings`` {label: {part: accuracy}}. ``watch`` gets the seconds of each regressor's DCI
    and of the probes."""
    watch = watch or Stopwatch()
    names, skipped = [], {}
    for name in test_labels:
        if name not in train_labels:
            skipped[name] = "not in the training split"
        elif len(np.unique(train_labels[name])) < 2:
            skipped[name] = "one class only in the training split"
        elif not np.isin(test_labels[name], train_labels[name]).all():
            skipped[name] = "test classes that never occur in training (an open set)"
        else:
            names.append(name)
    tr = {**train_codes, "f+z": np.concatenate([train_codes["f"], train_codes["z"]], axis=1)}
    te = {**test_codes, "f+z": np.concatenate([test_codes["f"], test_codes["z"]], axis=1)}
    out: dict = {
        "factors": names,
        "latent_names": latent_names(train_codes["f"].shape[1], train_codes["z"].shape[1]),
        "dci": None,
        "probes": {},
        "skipped": skipped,
    }
    if not names:
        return out
    ytr = {k: np.asarray(train_labels[k]) for k in names}
    yte = {k: np.asarray(test_labels[k]) for k in names}
    out["dci"] = {}
    for reg in regressors:
        with watch.part(f"DCI ({reg})"):
            out["dci"][reg] = {c: dci(tr[c], ytr, te[c], yte, reg, seed) for c in CODES[reg]}
    with watch.part("probes"):
        out["probes"] = probe_table(
            train_codes,
            ytr,
            test_codes,
            yte,
            {k: kinds[k] for k in names if k in kinds},
            ceilings,
            seed,
            parts=parts,
            part_ceilings=part_ceilings,
        )
    return out


__all__ = ["CODES", "encode_means", "latent_names", "latent_scores"]
