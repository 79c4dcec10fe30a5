"""Identity verification on codes: pure functions, tested on oracles.

Speaker verification (the paper's TIMIT test): every pair of test utterances is scored by the cosine
of their codes; the equal error rate is where the false acceptance rate (different identities scored
above the threshold) equals the false rejection rate (same identity scored below it). A code that
carries the identity gives a low EER (f), one that does not gives ~50% (z). The same functions verify
a Sprites character with f against z.
"""

from __future__ import annotations

import numpy as np


def eer(scores: np.ndarray, same: np.ndarray) -> float:
    """Equal error rate of pair ``scores`` (higher = more alike) against ``same`` (bool per pair).

    The threshold sweeps every distinct score from the top (the ROC, ties taken together); between
    the last point with FRR > FAR and the first with FRR <= FAR both rates are interpolated
    linearly, and the EER is where they cross. 0: perfectly separated; ~0.5: no information;
    1: perfectly reversed."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    same = np.asarray(same, dtype=bool).ravel()
    if scores.shape != same.shape:
        raise ValueError(f"scores {scores.shape} and same {same.shape} must have one entry per pair")
    n_same, n_diff = int(same.sum()), int((~same).sum())
    if n_same == 0 or n_diff == 0:
        raise ValueError(
            f"EER needs both same-identity and different-identity pairs, got {n_same} and {n_diff}"
        )
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinite values")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]  # accept everything scored >= each distinct value
    far = np.r_[0.0, np.cumsum(~y)[last_of_tie] / n_diff]
    frr = np.r_[1.0, 1.0 - np.cumsum(y)[last_of_tie] / n_same]
    gap = frr - far  # from 1 down to -1, never increasing
    k = int(np.argmax(gap <= 0))
    t = gap[k - 1] / (gap[k - 1] - gap[k])
    return float(far[k - 1] + t * (far[k] - far[k - 1]))


def cosine_pair_scores(codes: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j of ``codes`` (N, K): their cosine similarity and whether ``ids`` agree."""
    x = np.asarray(codes, dtype=np.float64)
    ids = np.asarray(ids)
    if x.ndim != 2 or len(x) != len(ids):
        raise ValueError(f"codes must be (N, K) with one id each, got {x.shape} and {len(ids)} ids")
    if len(x) < 2:
        raise ValueError("verification needs at least two codes")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    i, j = np.triu_indices(len(x), k=1)
    # one (N, N) Gram matrix, not two (pairs, K) gathers: 2664 Sprites codes are 3.5 M pairs
    return (x @ x.T)[i, j], ids[i] == ids[j]


def identity_eer(codes: np.ndarray, ids: np.ndarray) -> float:
    """EER of verifying ``ids`` by the cosine of ``codes`` over all pairs."""
    return eer(*cosine_pair_scores(codes, ids))
