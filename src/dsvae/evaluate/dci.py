"""DCI: disentanglement, completeness and informativeness of a code against labelled factors.

Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled Representations"
(ICLR 2018), section 3. For every factor j a regressor predicts the factor from the whole code c
(D dimensions); R_ij >= 0 is the importance of code dimension i for factor j (R is D x K).

- P_ij = R_ij / sum_k R_ik, the probability that dimension i is important for factor j;
  D_i = 1 - H_K(P_i.) with H_K(P_i.) = -sum_j P_ij log_K P_ij                        (eq. 1)
  and D = sum_i rho_i D_i with rho_i = sum_j R_ij / sum_ij R_ij, the relative importance of i.
- P~_ij = R_ij / sum_k R_kj; C_j = 1 - H_D(P~_.j), H_D(P~_.j) = -sum_i P~_ij log_D P~_ij  (eq. 2)
  (we give C_j per factor and their mean, the paper's C).
- I_j: how well the regressor predicts factor j on held-out codes (sec. 3 (iii)). Our factors are
  classes, so I_j is the held-out classification accuracy, beside its chance level (the frequency
  of the most common held-out class).

The regressors are scikit-learn's: the paper's gradient-boosted trees and, as the linear model, a
multinomial logistic regression (L2, C = 1) on standardized codes, importance |weight| summed over
the classes (the paper's lasso, for class labels). Everything here is a pure function of arrays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

REGRESSORS = ("gbt", "linear")


def require_sklearn():
    """Import scikit-learn or say how to install it."""
    try:
        import sklearn
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "DCI, the latent map and the leakage probes use scikit-learn: pip install scikit-learn "
            '(or pip install -e ".[eval]")'
        ) from e
    return sklearn


def disentanglement(R: np.ndarray) -> tuple[float, np.ndarray]:
    """D (overall) and D_i (D,) of an importance matrix ``R`` (D codes x K factors), eq. 1 of
    Eastwood & Williams (2018): D_i = 1 - H_K(P_i.), D = sum_i rho_i D_i. A code with one factor
    (K = 1) is trivially disentangled (D_i = 1). Dimensions of zero importance get D_i = 0 and
    weight rho_i = 0."""
    R = _check_importance(R)
    n_codes, k = R.shape
    row = R.sum(axis=1)
    P = R / np.where(row > 0, row, 1.0)[:, None]
    d_i = np.zeros(n_codes) if k > 1 else np.ones(n_codes)
    if k > 1:
        d_i = 1.0 - _entropy(P, base=k)
        d_i[row == 0] = 0.0
    rho = row / R.sum() if R.sum() > 0 else np.zeros(n_codes)
    return float((rho * d_i).sum()), d_i


def completeness(R: np.ndarray) -> tuple[float, np.ndarray]:
    """C (the mean over factors) and C_j (K,) of an importance matrix ``R`` (D codes x K factors),
    eq. 2 of Eastwood & Williams (2018): C_j = 1 - H_D(P~_.j). A one-dimensional code is complete
    (C_j = 1); a factor no dimension is important for gets C_j = 0."""
    R = _check_importance(R)
    n_codes = R.shape[0]
    col = R.sum(axis=0)
    P = (R / np.where(col > 0, col, 1.0)[None, :]).T  # (K, D)
    c_j = 1.0 - _entropy(P, base=n_codes) if n_codes > 1 else np.ones(R.shape[1])
    c_j = np.where(col > 0, c_j, 0.0)
    return float(c_j.mean()), c_j


def chance_accuracy(labels: np.ndarray) -> float:
    """The accuracy of always answering the most common class of ``labels`` (N,)."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"labels must be a non-empty (N,) array, got shape {y.shape}")
    return float(np.bincount(y).max() / len(y))


def importance_matrix(
    train_codes: np.ndarray,
    train_factors: Mapping[str, np.ndarray],
    test_codes: np.ndarray,
    test_factors: Mapping[str, np.ndarray],
    regressor: str = "gbt",
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, float], dict[str, float]]:
    """Fit one classifier per factor on ``train_codes`` (N, D) -> the importance matrix R (D, K,
    columns in the order of ``train_factors``), the held-out accuracy I_j and its chance level (the
    held-out majority-class frequency) per factor.

    ``regressor="gbt"``: ``sklearn.ensemble.GradientBoostingClassifier`` (50 trees of depth 3,
    seeded), R_ij its impurity-based ``feature_importances_`` (each column sums to 1), as in the
    paper. ``"linear"``: ``LogisticRegression`` on codes standardized with the training statistics,
    R_ij = sum over classes of |w_ci| (the weight of dimension i for class c)."""
    require_sklearn()
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if regressor not in REGRESSORS:
        raise ValueError(f"regressor must be one of {REGRESSORS}, got {regressor!r}")
    xtr, xte = _check_codes(train_codes), _check_codes(test_codes)
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train and test codes differ in width: {xtr.shape[1]} and {xte.shape[1]}")
    if list(train_factors) != list(test_factors) or not train_factors:
        raise ValueError("train and test factors must name the same labels, in the same order")
    scaler = StandardScaler().fit(xtr)
    xtr, xte = scaler.transform(xtr), scaler.transform(xte)
    for name in train_factors:
        if len(train_factors[name]) != len(xtr) or len(test_factors[name]) != len(xte):
            raise ValueError(f"factor {name!r}: one label per code needed")

    def fit(name: str) -> tuple[np.ndarray, float]:
        """The importance column of one factor and its held-out accuracy."""
        ytr, yte = np.asarray(train_factors[name]), np.asarray(test_factors[name])
        if len(np.unique(ytr)) < 2:  # nothing to learn: the constant predictor, no important dimension
            return np.zeros(xtr.shape[1]), float((yte == ytr[0]).mean())
        if regressor == "gbt":
            clf = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=seed).fit(xtr, ytr)
            column = np.maximum(clf.feature_importances_, 0.0)  # float error gives -1e-17
        else:
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(xtr, ytr)
            column = np.abs(clf.coef_).sum(axis=0)
        return column, float((clf.predict(xte) == yte).mean())

    names = list(train_factors)
    # the factors with the most classes first: boosting grows one tree per class and stage, so the
    # longest fits start first and the threads finish together
    order = sorted(names, key=lambda n: -len(np.unique(train_factors[n])))
    fitted = dict(zip(order, fit_in_parallel(fit, order)))
    fitted = [fitted[name] for name in names]
    R = np.stack([column for column, _ in fitted], axis=1)
    informativeness = {name: acc for name, (_, acc) in zip(names, fitted)}
    chance = {name: chance_accuracy(np.asarray(test_factors[name])) for name in names}
    return R, informativeness, chance


def fit_in_parallel(fit, items: list) -> list:
    """``[fit(item) for item in items]``, the items in threads, one per CPU core (joblib): the
    classifiers of different factors or probes are independent and seeded, so the results are
    those of the loop; scikit-learn's tree building and BLAS release the GIL, so the threads run
    side by side. The order of the results is that of ``items``."""
    from joblib import Parallel, delayed

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    jobs = max(1, min(len(items), cores))
    if jobs == 1:
        return [fit(item) for item in items]
    return Parallel(n_jobs=jobs, prefer="threads")(delayed(fit)(item) for item in items)


def dci(
    train_codes: np.ndarray,
    train_factors: Mapping[str, np.ndarray],
    test_codes: np.ndarray,
    test_factors: Mapping[str, np.ndarray],
    regressor: str = "gbt",
    seed: int = 0,
) -> dict:
    """Disentanglement, completeness and informativeness of a code (Eastwood & Williams 2018):
    ``{"regressor", "importance": R (D x K) as nested lists, "factors": [names], "D", "D_i",
    "C", "C_j": {name: C_j}, "I": mean held-out accuracy, "I_j": {name: acc}, "chance":
    {name: majority-class frequency}}``. See :func:`importance_matrix` for the regressors."""
    R, info, chance = importance_matrix(
        train_codes, train_factors, test_codes, test_factors, regressor=regressor, seed=seed
    )
    d, d_i = disentanglement(R)
    c, c_j = completeness(R)
    names = list(train_factors)
    return {
        "regressor": regressor,
        "factors": names,
        "importance": R.tolist(),
        "D": d,
        "D_i": d_i.tolist(),
        "C": c,
        "C_j": dict(zip(names, c_j.tolist())),
        "I": float(np.mean(list(info.values()))),
        "I_j": info,
        "chance": chance,
    }


def _entropy(P: np.ndarray, base: int) -> np.ndarray:
    """Entropy (log base ``base``) of every row of ``P`` (rows sum to 1 or 0), 0 log 0 = 0."""
    safe = np.where(P > 0, P, 1.0)
    return -(P * np.log(safe)).sum(axis=1) / np.log(base)


def _check_importance(R: np.ndarray) -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or 0 in R.shape:
        raise ValueError(f"the importance matrix must be (D codes, K factors), got shape {R.shape}")
    if not np.isfinite(R).all() or (R < 0).any():
        raise ValueError("importances must be finite and non-negative")
    return R


def _check_codes(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"codes must be (N, D) with N >= 1, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("codes contain NaN or infinite values")
    return x


__all__ = [
    "REGRESSORS",
    "chance_accuracy",
    "completeness",
    "dci",
    "disentanglement",
    "fit_in_parallel",
    "importance_matrix",
    "require_sklearn",
]
