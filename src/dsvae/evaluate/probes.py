"""Probes: how much of a label a code holds, read by a small classifier trained on other sequences.

A probe is trained on the training sequences' codes and scored on held-out (test) codes. Two probes:
``linear`` (multinomial logistic regression on standardized codes) and ``mlp`` (one hidden layer of
64 ReLU units, Adam; early stopping from 1000 training codes on), both scikit-learn's. Leakage
probes read a label from the latent that should *not* hold it (a dynamic label from f, a static one
from z); their accuracy is also given as the fraction of the way from chance to a ceiling,
``(accuracy - chance) / (ceiling - chance)`` (0: no leak, 1: as readable as the ceiling), where the
ceiling is the judge's accuracy on real test sequences (video) or, without a judge (speech), the
probe's accuracy from the latent that should hold the label. Chance is the frequency of the most
common held-out class. Speech and video runs share this code.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from .dci import chance_accuracy, fit_in_parallel, require_sklearn

PROBES = ("linear", "mlp")


def probe_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    kind: str = "linear",
    seed: int = 0,
) -> float:
    """Accuracy on ``test_x`` (M, K) of a probe of ``kind`` trained on ``train_x`` (N, K),
    ``train_y`` (N,) class indices. Codes are standardized with the training statistics; both
    probes are deterministic for a given ``seed``. A single training class gives the constant
    predictor."""
    require_sklearn()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind not in PROBES:
        raise ValueError(f"kind must be one of {PROBES}, got {kind!r}")
    xtr, xte = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    ytr, yte = np.asarray(train_y), np.asarray(test_y)
    if xtr.ndim != 2 or xte.ndim != 2 or xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"train_x and test_x must be (N, K) with the same K, got {xtr.shape} and {xte.shape}"
        )
    if len(xtr) != len(ytr) or len(xte) != len(yte) or len(xtr) == 0 or len(xte) == 0:
        raise ValueError("train/test codes and labels must be non-empty and of equal length")
    if not np.issubdtype(ytr.dtype, np.integer) or ytr.min() < 0 or yte.min() < 0:
        raise ValueError("labels must be class indices >= 0")
    if len(np.unique(ytr)) < 2:
        return float((yte == ytr[0]).mean())
    if kind == "linear":
        clf = LogisticRegression(C=1.0, max_iter=2000)
    else:
        clf = MLPClassifier(
            hidden_layer_sizes=(64,),
            max_iter=500,
            early_stopping=len(xtr) >= 1000,
            random_state=seed,
        )
    with warnings.catch_warnings():  # a probe that has not converged is still a probe: its accuracy says so
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_pipeline(StandardScaler(), clf).fit(xtr, ytr)
    return float((model.predict(xte) == yte).mean())


def fraction_of_ceiling(accuracy: float, chance: float, ceiling: float | None) -> float | None:
    """``(accuracy - chance) / (ceiling - chance)``: 0 at chance, 1 at the ceiling; None where the
    ceiling does not lie above chance (nothing to measure against)."""
    if ceiling is None or ceiling - chance <= 1e-9:
        return None
    return float((accuracy - chance) / (ceiling - chance))


def probe_table(
    train_codes: Mapping[str, np.ndarray],
    train_labels: Mapping[str, np.ndarray],
    test_codes: Mapping[str, np.ndarray],
    test_labels: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    ceilings: Mapping[str, float] | None = None,
    seed: int = 0,
) -> dict:
    """Every probe of every label from every latent: ``{label: {"kind": static|dynamic, "chance",
    "ceiling", "from_f": {"linear", "mlp"}, "from_z": {...}, "leak": {"latent": "f"|"z",
    "linear", "mlp", "linear_fraction", "mlp_fraction"}}}``.

    ``train_codes``/``test_codes``: {"f": (N, f_dim), "z": (N, z_dim)} (z averaged over time);
    ``kinds``: label -> "static" (belongs in f, so z leaks it) or "dynamic" (belongs in z, so f
    leaks it); ``ceilings``: label -> the accuracy a leak is measured against (the judge's on real
    test data); without one, the probe's accuracy from the latent that should hold the label."""
    names = [n for n in test_labels if n in kinds and n in train_labels]
    jobs = [(name, latent, kind) for name in names for latent in ("f", "z") for kind in PROBES]

    def fit(job: tuple[str, str, str]) -> float:
        name, latent, kind = job
        ytr, yte = np.asarray(train_labels[name]), np.asarray(test_labels[name])
        return probe_accuracy(train_codes[latent], ytr, test_codes[latent], yte, kind, seed)

    accuracy = dict(zip(jobs, fit_in_parallel(fit, jobs)))
    out = {}
    for name in names:
        yte = np.asarray(test_labels[name])
        row: dict = {"kind": kinds[name], "chance": chance_accuracy(yte)}
        for latent in ("f", "z"):
            row[f"from_{latent}"] = {kind: accuracy[name, latent, kind] for kind in PROBES}
        home, leak = ("f", "z") if kinds[name] == "static" else ("z", "f")
        ceiling = (ceilings or {}).get(name)
        if ceiling is None:
            ceiling = max(row[f"from_{home}"].values())
        row["ceiling"] = float(ceiling)
        row["leak"] = {"latent": leak}
        for kind in PROBES:
            acc = row[f"from_{leak}"][kind]
            row["leak"][kind] = acc
            row["leak"][f"{kind}_fraction"] = fraction_of_ceiling(acc, row["chance"], ceiling)
        out[name] = row
    return out


__all__ = ["PROBES", "chance_accuracy", "fraction_of_ceiling", "probe_accuracy", "probe_table"]
