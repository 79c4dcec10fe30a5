"""The disentanglement metrics against oracles with known answers."""

import math

import numpy as np
import pytest

from dsvae.evaluate.metrics import (
    accuracy,
    class_balanced_subset,
    conditional_entropy,
    inception_score,
    marginal_entropy,
    mean_std,
    motion_scores,
)

K = 9


@pytest.fixture
def balanced_labels():
    return np.random.default_rng(0).permutation(np.repeat(np.arange(K), 7))


def test_perfect_predictor(balanced_labels):
    probs = np.eye(K)[balanced_labels]
    s = motion_scores(probs, balanced_labels)
    assert s["acc"] == 1.0
    assert s["is"] == pytest.approx(K)
    assert s["h_yx"] == pytest.approx(0.0, abs=1e-12)
    assert s["h_y"] == pytest.approx(math.log(K))


def test_constant_predictor(balanced_labels):
    probs = np.tile(np.eye(K)[3], (len(balanced_labels), 1))
    assert inception_score(probs) == pytest.approx(1.0)
    assert marginal_entropy(probs) == pytest.approx(0.0, abs=1e-12)
    assert conditional_entropy(probs) == pytest.approx(0.0, abs=1e-12)
    assert accuracy(probs, balanced_labels) == pytest.approx(1 / K)


def test_uniform_predictor(balanced_labels):
    probs = np.full((len(balanced_labels), K), 1.0 / K)
    assert inception_score(probs) == pytest.approx(1.0)
    assert conditional_entropy(probs) == pytest.approx(math.log(K))
    assert marginal_entropy(probs) == pytest.approx(math.log(K))


def test_random_probs_match_direct_formula():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, K)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, K, size=50)
    p_y = probs.mean(axis=0)
    kl = [sum(p[k] * math.log(p[k] / p_y[k]) for k in range(K)) for p in probs]
    h_yx = np.mean([-sum(p[k] * math.log(p[k]) for k in range(K)) for p in probs])
    h_y = -sum(p_y[k] * math.log(p_y[k]) for k in range(K))
    s = motion_scores(probs, labels)
    assert s["acc"] == pytest.approx(np.mean(probs.argmax(1) == labels))
    assert s["is"] == pytest.approx(math.exp(np.mean(kl)))
    assert s["h_yx"] == pytest.approx(h_yx)
    assert s["h_y"] == pytest.approx(h_y)
    # the identity behind IS: ln IS = H(y) - H(y|x), so 1 <= IS <= K
    assert math.log(s["is"]) == pytest.approx(s["h_y"] - s["h_yx"])
    assert 1.0 <= s["is"] <= K


def test_logits_and_bad_labels_are_refused():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.array([[2.0, 1.0], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="non-negative"):
        conditional_entropy(np.array([[1.5, -0.5]]))
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        accuracy(np.eye(2), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        marginal_entropy(np.ones(3) / 3)


def test_class_balanced_subset():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 5)
    pos = class_balanced_subset(labels, seed=0)
    assert np.bincount(labels[pos]).tolist() == [3, 3, 3]
    assert len(set(pos.tolist())) == len(pos)
    assert np.array_equal(pos, class_balanced_subset(labels, seed=0))
    assert not np.array_equal(pos, class_balanced_subset(labels, seed=1))


def test_mean_std_over_seeds():
    assert mean_std([1.0, 3.0]) == {"mean": 2.0, "std": 1.0}
    out = mean_std([{"acc": 0.5, "is": 2.0}, {"acc": 1.0, "is": 2.0}])
    assert out == {"acc": {"mean": 0.75, "std": 0.25}, "is": {"mean": 2.0, "std": 0.0}}
    with pytest.raises(ValueError, match="same keys"):
        mean_std([{"acc": 1.0}, {"is": 1.0}])
