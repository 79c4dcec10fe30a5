import numpy as np
import pytest

from dsvae.evaluate.verification import cosine_pair_scores, eer, identity_eer


def test_eer_oracles():
    assert eer([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 0.0  # perfectly separated
    assert eer([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 1.0  # perfectly reversed
    assert eer([0.5] * 6, [True, False] * 3) == 0.5  # one score for all: no information


def test_eer_identical_distributions_is_one_half():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=20000)
    assert eer(scores, rng.random(20000) < 0.3) == pytest.approx(0.5, abs=0.02)


def test_eer_known_small_examples():
    # the crossing lies on an ROC point: after 0.9 (same), 0.7 (diff), 0.6 (same) FAR = FRR = 1/3
    assert eer([0.9, 0.6, 0.4, 0.7, 0.3, 0.2], [1, 1, 1, 0, 0, 0]) == pytest.approx(1 / 3)
    # between ROC points: (FAR, FRR) goes (1/4, 1/3) -> (1/4, 0); the rates meet at 1/4
    assert eer([0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1], [1, 1, 1, 0, 0, 0, 0]) == pytest.approx(0.25)
    # tied scores across classes count together: (0, 1) -> (1/2, 1/2) at the tie
    assert eer([1.0, 0.0, 1.0, 0.0], [1, 1, 0, 0]) == pytest.approx(0.5)


def test_eer_depends_only_on_the_order_of_scores():
    rng = np.random.default_rng(1)
    same = rng.random(500) < 0.4
    scores = rng.normal(size=500) + same
    assert 0.1 < eer(scores, same) < 0.45
    assert eer(np.exp(3 * scores), same) == pytest.approx(eer(scores, same))


def test_eer_refuses_pairs_of_one_kind():
    with pytest.raises(ValueError, match="both"):
        eer([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="one entry per pair"):
        eer([0.1, 0.2, 0.3], [True, False])


def test_cosine_pair_scores_cover_all_pairs():
    codes = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    scores, same = cosine_pair_scores(codes, np.array(["a", "a", "b"]))
    np.testing.assert_allclose(scores, [1.0, 0.0, 0.0])  # pairs (0,1), (0,2), (1,2)
    assert same.tolist() == [True, False, False]


def test_identity_eer_oracle_and_constant_codes():
    ids = np.repeat(np.arange(5), 4)
    assert identity_eer(np.eye(5)[ids], ids) == 0.0  # one-hot by identity
    assert identity_eer(np.ones((len(ids), 3)), ids) == 0.5  # a code that says nothing
