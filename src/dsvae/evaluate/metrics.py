"""Disentanglement metrics: pure functions of a judge's probabilities and the true labels.

``probs`` is ``(N, K)``: row i is the judge's p(y | x_i) over K classes; ``labels`` is ``(N,)`` of
ints in [0, K). Natural log everywhere, so entropies are in nats (at most ln K).

- accuracy       = mean_i [argmax_k p(k | x_i) == y_i]
- inception score IS = exp(E_x KL(p(y | x) || p(y))),   p(y) = E_x p(y | x)
- H(y | x)       = E_x [-sum_k p(k | x) ln p(k | x)]   (low: the judge is sure of every video)
- H(y)           = -sum_k p(k) ln p(k)                  (high, ln K at best: every class occurs)

Since E_x KL(p(y | x) || p(y)) = H(y) - H(y | x), IS lies in [1, K].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

MOTION_SCORES = ("acc", "is", "h_yx", "h_y")  # the keys of motion_scores, in the order papers print them


def _check_probs(probs: np.ndarray) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"probs must be (N, K) with N, K >= 1, got shape {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probs must be finite and non-negative (softmax outputs, not logits)")
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        raise ValueError(
            f"every row of probs must sum to 1 (softmax outputs, not logits); row sums lie in "
            f"[{sums.min():.4g}, {sums.max():.4g}]"
        )
    return p


def _check_labels(labels: np.ndarray, n: int, k: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be ({n},) integers, got shape {y.shape} dtype {y.dtype}")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must lie in [0, {k - 1}] for {k} classes, got [{y.min()}, {y.max()}]")
    return y


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of each distribution along the last axis, with 0 ln 0 = 0."""
    safe = np.where(p > 0, p, 1.0)
    return -(p * np.log(safe)).sum(axis=-1)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    p = _check_probs(probs)
    y = _check_labels(labels, *p.shape)
    return float((p.argmax(axis=1) == y).mean())


def conditional_entropy(probs: np.ndarray) -> float:
    """H(y | x): the mean entropy of the judge's predictions."""
    return float(_entropy(_check_probs(probs)).mean())


def marginal_entropy(probs: np.ndarray) -> float:
    """H(y): the entropy of the mean prediction."""
    return float(_entropy(_check_probs(probs).mean(axis=0)))


def inception_score(probs: np.ndarray) -> float:
    """exp(E_x KL(p(y | x) || p(y))), p(y) the mean prediction."""
    p = _check_probs(probs)
    p_y = p.mean(axis=0, keepdims=True)
    # where p(k | x) > 0, p(k) > 0 too; the terms with p(k | x) = 0 are 0
    ratio = np.where(p > 0, p / np.where(p_y > 0, p_y, 1.0), 1.0)
    kl = (p * np.log(ratio)).sum(axis=1)
    return float(np.exp(kl.mean()))


def motion_scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Acc, IS, H(y|x), H(y) of one set of predictions (keys ``MOTION_SCORES``)."""
    return {
        "acc": accuracy(probs, labels),
        "is": inception_score(probs),
        "h_yx": conditional_entropy(probs),
        "h_y": marginal_entropy(probs),
    }


def class_balanced_subset(labels: np.ndarray, seed: int) -> np.ndarray:
    """Sorted positions of an equal number of sequences per class present (the size of the smallest
    class), drawn without replacement with ``numpy.random.default_rng(seed)``."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"labels must be a non-empty (N,) array, got shape {y.shape}")
    classes, counts = np.unique(y, return_counts=True)
    rng = np.random.default_rng(seed)
    keep = [rng.choice(np.flatnonzero(y == c), size=counts.min(), replace=False) for c in classes]
    return np.sort(np.concatenate(keep))


def mean_std(values: Sequence[float] | Sequence[Mapping[str, float]]) -> dict:
    """Mean and standard deviation (ddof 0) over seeds: of numbers -> {"mean", "std"}; of dicts
    with the same keys -> {key: {"mean", "std"}}."""
    if len(values) == 0:
        raise ValueError("mean_std needs at least one value")
    if isinstance(values[0], Mapping):
        keys = list(values[0])
        if any(set(v) != set(keys) for v in values):
            raise ValueError("mean_std: every dict must have the same keys")
        return {k: mean_std([v[k] for v in values]) for k in keys}
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std())}


__all__ = [
    "MOTION_SCORES",
    "accuracy",
    "class_balanced_subset",
    "conditional_entropy",
    "inception_score",
    "marginal_entropy",
    "mean_std",
    "motion_scores",
]
