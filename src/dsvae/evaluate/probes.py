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

**Parts of a split label** (:mod:`dsvae.data.parts`; Sprites' motion = 3 * action + direction) get
probes of their own, fitted on the part's classes, with the label's kind. They are not read off the
label's probe (its prediction mapped to the part), because a probe measures how much of its target
a code holds, and the label's probe is fitted to read the whole label: where a code holds one part
and little of the other (DBSE's f: the direction, not the action), the most probable label is a guess
over the other part, and the part of that guess is not the most probable part (that sums p(label)
over the other part's values). Read off the label's probe, a part would be measured through the
part the code lacks. The judge is the other way round: a fixed instrument that reads the label
from a video, right on real data, so the part of its reading is the part it sees
(:mod:`dsvae.evaluate.protocols`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ..data.parts import LabelParts
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
    parts: Mapping[str, LabelParts] | None = None,
    part_ceilings: Mapping[str, Mapping[str, float]] | None = None,
) -> dict:
    """Every probe of every label from every latent: ``{label: {"kind": static|dynamic, "chance",
    "ceiling", "from_f": {"linear", "mlp"}, "from_z": {...}, "leak": {"latent": "f"|"z",
    "linear", "mlp", "linear_fraction", "mlp_fraction"}}}``, and for a label split into ``parts``
    (:mod:`dsvae.data.parts`) the same row per part, ``"parts": {part: row}`` (the label's kind,
    the part's chance, ceiling from ``part_ceilings`` {label: {part: accuracy}}).

    ``train_codes``/``test_codes``: {"f": (N, f_dim), "z": (N, z_dim)} (z averaged over time);
    ``kinds``: label -> "static" (belongs in f, so z leaks it) or "dynamic" (belongs in z, so f
    leaks it); ``ceilings``: label -> the accuracy a leak is measured against (the judge's on real
    test data); without one, the probe's accuracy from the latent that should hold the label."""
    names = [n for n in test_labels if n in kinds and n in train_labels]
    split = {n: parts[n] for n in names if n in (parts or {})}
    # what is probed: (label, None) or (label, part) -> (training classes, test classes)
    targets = {(n, None): (np.asarray(train_labels[n]), np.asarray(test_labels[n])) for n in names}
    for n, label_parts in split.items():
        tr, te = label_parts.split(train_labels[n]), label_parts.split(test_labels[n])
        targets.update(((n, q), (tr[q], te[q])) for q in label_parts.parts)
    jobs = [(target, latent, kind) for target in targets for latent in ("f", "z") for kind in PROBES]

    def fit(job: tuple[tuple[str, str | None], str, str]) -> float:
        target, latent, kind = job
        ytr, yte = targets[target]
        return probe_accuracy(train_codes[latent], ytr, test_codes[latent], yte, kind, seed)

    accuracy = dict(zip(jobs, fit_in_parallel(fit, jobs)))

    def row(target: tuple[str, str | None], ceiling: float | None) -> dict:
        of_target = {(latent, probe): acc for (t, latent, probe), acc in accuracy.items() if t == target}
        return _probe_row(of_target, targets[target][1], kinds[target[0]], ceiling)

    out = {}
    for name in names:
        out[name] = row((name, None), (ceilings or {}).get(name))
        if name in split:
            own = (part_ceilings or {}).get(name) or {}
            out[name]["parts"] = {q: row((name, q), own.get(q)) for q in split[name].parts}
    return out


def _probe_row(
    accuracy: Mapping[tuple[str, str], float], test_y: np.ndarray, kind: str, ceiling: float | None
) -> dict:
    """One row of :func:`probe_table` from its probes' ``accuracy`` {(latent, probe): accuracy}, the
    held-out classes ``test_y`` (chance: the most common), the label's ``kind`` and ``ceiling``."""
    row: dict = {"kind": kind, "chance": chance_accuracy(test_y)}
    for latent in ("f", "z"):
        row[f"from_{latent}"] = {probe: accuracy[latent, probe] for probe in PROBES}
    home, leak = ("f", "z") if kind == "static" else ("z", "f")
    if ceiling is None:
        ceiling = max(row[f"from_{home}"].values())
    row["ceiling"] = float(ceiling)
    row["leak"] = {"latent": leak}
    for probe in PROBES:
        acc = row[f"from_{leak}"][probe]
        row["leak"][probe] = acc
        row["leak"][f"{probe}_fraction"] = fraction_of_ceiling(acc, row["chance"], ceiling)
    return row


__all__ = ["PROBES", "chance_accuracy", "fraction_of_ceiling", "probe_accuracy", "probe_table"]
