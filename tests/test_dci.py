"""DCI (Eastwood & Williams 2018): the formulas on hand-made importance matrices, the whole metric on
oracle codes (axis-aligned, rotated, independent of the labels)."""

import numpy as np
import pytest

from dsvae.evaluate.dci import completeness, dci, disentanglement

pytest.importorskip("sklearn")


def test_formulas_on_importance_matrices():
    assert disentanglement(np.eye(3))[0] == pytest.approx(1.0)
    assert completeness(np.eye(3))[0] == pytest.approx(1.0)
    # every dimension equally important for every factor: nothing is disentangled or complete
    assert disentanglement(np.ones((4, 3)))[0] == pytest.approx(0.0)
    assert completeness(np.ones((4, 3)))[0] == pytest.approx(0.0)
    # two dimensions for one factor: disentangled (each dimension serves one factor), not complete
    R = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    d, d_i = disentanglement(R)
    c, c_j = completeness(R)
    assert d == pytest.approx(1.0) and d_i.tolist() == pytest.approx([1, 1, 1])
    assert c_j.tolist() == pytest.approx([1 - np.log(2) / np.log(3), 1.0])
    assert c == pytest.approx(c_j.mean())
    # eq. 1 by hand: row (3, 1) -> P = (.75, .25), D_i = 1 - H_2(P); rho weights the rows by their sums
    R = np.array([[3.0, 1.0], [0.0, 2.0]])
    h = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert disentanglement(R)[0] == pytest.approx(4 / 6 * (1 - h) + 2 / 6 * 1.0)
    # an unused dimension neither counts nor breaks anything
    assert disentanglement(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        disentanglement(np.array([[-1.0, 1.0]]))


def _factors(n, rng):
    return {name: rng.integers(0, 4, n) for name in ("a", "b", "c")}


@pytest.mark.parametrize("regressor", ["gbt", "linear"])
def test_axis_aligned_code_is_disentangled_and_complete_and_a_rotation_is_not(regressor):
    rng = np.random.default_rng(0)
    y_tr, y_te = _factors(400, rng), _factors(200, rng)

    def code(y, rotation=None):
        c = np.stack([y[k] for k in ("a", "b", "c")], axis=1).astype(float)
        c += 0.05 * rng.normal(size=c.shape)
        return c if rotation is None else c @ rotation

    aligned = dci(code(y_tr), y_tr, code(y_te), y_te, regressor)
    assert aligned["D"] > 0.9 and aligned["C"] > 0.9
    assert aligned["I"] > 0.95 and all(v < 0.4 for v in aligned["chance"].values())
    assert np.asarray(aligned["importance"]).shape == (3, 3)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    rotated = dci(code(y_tr, q), y_tr, code(y_te, q), y_te, regressor)
    assert rotated["D"] < aligned["D"] - 0.2 and rotated["C"] < aligned["C"] - 0.2


def test_a_code_independent_of_the_labels_is_informative_at_chance():
    rng = np.random.default_rng(2)
    y_tr, y_te = _factors(400, rng), _factors(400, rng)
    noise = dci(rng.normal(size=(400, 5)), y_tr, rng.normal(size=(400, 5)), y_te, "linear")
    for k, acc in noise["I_j"].items():
        assert abs(acc - 0.25) < 0.08, k  # 4 balanced classes
    assert noise["I"] < 0.35


@pytest.mark.parametrize("regressor", ["gbt", "linear"])
def test_factors_fitted_side_by_side_give_the_scores_of_one_at_a_time(regressor, monkeypatch):
    import os

    from dsvae.evaluate.probes import probe_table

    rng = np.random.default_rng(0)
    codes = rng.standard_normal((240, 6))
    labels = {"a": (codes[:, 0] > 0).astype(int), "b": (codes[:, 1] > 0.3).astype(int) + (codes[:, 2] > 0)}
    tr, te = slice(0, 160), slice(160, None)

    def scores():
        d = dci(
            codes[tr],
            {k: v[tr] for k, v in labels.items()},
            codes[te],
            {k: v[te] for k, v in labels.items()},
            regressor,
        )
        p = probe_table(
            {"f": codes[tr, :3], "z": codes[tr, 3:]},
            {k: v[tr] for k, v in labels.items()},
            {"f": codes[te, :3], "z": codes[te, 3:]},
            {k: v[te] for k, v in labels.items()},
            {"a": "static", "b": "dynamic"},
        )
        return d, p

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    parallel = scores()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert scores() == parallel
