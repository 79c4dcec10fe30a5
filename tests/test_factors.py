"""Static or dynamic, per-factor swap scores, the assignment score and the probes: pure functions."""

import numpy as np
import pytest

from conftest import moving_squares
from dsvae.evaluate.factors import (
    assignment_score,
    constant_within_groups,
    dataset_factor_kinds,
    factor_kinds,
    swap_following,
)
from dsvae.evaluate.probes import fraction_of_ceiling, probe_accuracy, probe_table

pytest.importorskip("sklearn")


def test_factor_kinds_follow_the_rule_in_order():
    character = np.array([0, 0, 1, 1, 2, 2])
    labels = {"hair": np.array([1, 1, 0, 0, 1, 1]), "motion": np.array([0, 1, 0, 1, 1, 0])}
    kinds, rules = factor_kinds(labels, identity=character)
    assert kinds == {"hair": "static", "motion": "dynamic"} and set(rules.values()) == {"identity"}
    # the dataset's declaration wins over the data, the caller over both
    kinds, rules = factor_kinds(labels, {"static_labels": ["motion"]}, character)
    assert kinds["motion"] == "static" and rules["motion"] == "declared"
    kinds, rules = factor_kinds(labels, {"static_labels": ["motion"]}, character, dynamic=["motion"])
    assert kinds["motion"] == "dynamic" and rules["motion"] == "given"
    # no identity (or every sequence its own): by name
    kinds, rules = factor_kinds({**labels, "digit": labels["motion"]}, identity=np.arange(6))
    assert kinds == {"hair": "static", "motion": "dynamic", "digit": "static"}
    assert set(rules.values()) == {"name"}
    with pytest.raises(ValueError, match="both static and dynamic"):
        factor_kinds(labels, static=["hair"], dynamic=["hair"])
    with pytest.raises(ValueError, match="unknown labels"):
        factor_kinds(labels, static=["shoes"])


def test_constant_within_groups():
    assert constant_within_groups(np.array([3, 3, 5]), np.array([1, 1, 2]))
    assert not constant_within_groups(np.array([3, 4, 5]), np.array([1, 1, 2]))


def test_dataset_kinds_from_the_character_column():
    ds = moving_squares()  # 'character' is the colour: colour static, motion dynamic
    kinds, rules = dataset_factor_kinds(ds)
    assert kinds == {"colour": "static", "motion": "dynamic"} and rules["colour"] == "identity"


def test_swap_following_counts_only_pairs_whose_labels_differ():
    a, b = np.array([0, 1, 2, 2]), np.array([1, 1, 0, 1])
    pred = np.array([0, 1, 1, 2])  # pair 1 has equal labels and is left out
    r = swap_following(pred, a, b)
    assert r["pairs"] == 3
    assert (
        r["f"] == pytest.approx(2 / 3)
        and r["z"] == pytest.approx(0.0)
        and r["neither"] == pytest.approx(1 / 3)
    )
    same = swap_following(pred, a, a)
    assert same["pairs"] == 0 and np.isnan(same["f"])


def test_assignment_score():
    home = ["f", "f", "z"]
    ideal = [[1, 0], [1, 0], [0, 1]]
    assert assignment_score(ideal, home) == 1.0
    assert assignment_score([[0, 1], [0, 1], [1, 0]], home) == -1.0
    assert assignment_score([[0.5, 0.5]] * 3, home) == 0.0
    assert assignment_score([[1, 0], [np.nan, np.nan], [0, 1]], home) == 1.0  # NaN rows left out
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        assignment_score([[1, 0]], home)


def test_probes_read_a_code_that_holds_the_label_and_not_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    noise = rng.normal(size=(300, 3))
    for kind in ("linear", "mlp"):
        assert probe_accuracy(x[:200], y[:200], x[200:], y[200:], kind) > 0.95
        acc = probe_accuracy(noise[:200], y[:200], noise[200:], y[200:], kind)
        assert acc < 0.55
        assert acc == probe_accuracy(noise[:200], y[:200], noise[200:], y[200:], kind)  # deterministic


def test_the_mlp_reads_what_a_linear_probe_cannot():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(800, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)  # XOR: no line separates it
    assert probe_accuracy(x[:600], y[:600], x[600:], y[600:], "linear") < 0.7
    assert probe_accuracy(x[:600], y[:600], x[600:], y[600:], "mlp") > 0.9


def test_leakage_table_and_fraction_of_ceiling():
    assert fraction_of_ceiling(0.625, 0.25, 1.0) == pytest.approx(0.5)
    assert fraction_of_ceiling(0.5, 0.5, 0.5) is None
    rng = np.random.default_rng(3)
    n = 300
    static, dynamic = rng.integers(0, 3, n), rng.integers(0, 2, n)
    f = np.eye(3)[static] + 0.1 * rng.normal(size=(n, 3))  # f holds the static label only
    z = np.eye(2)[dynamic] + 0.1 * rng.normal(size=(n, 2))
    tr, te = slice(0, 200), slice(200, n)
    labels = {"colour": static, "motion": dynamic}
    table = probe_table(
        {"f": f[tr], "z": z[tr]},
        {k: v[tr] for k, v in labels.items()},
        {"f": f[te], "z": z[te]},
        {k: v[te] for k, v in labels.items()},
        {"colour": "static", "motion": "dynamic"},
        ceilings={"colour": 1.0},
    )
    assert table["colour"]["leak"]["latent"] == "z" and table["motion"]["leak"]["latent"] == "f"
    assert table["colour"]["from_f"]["linear"] > 0.95 and table["colour"]["ceiling"] == 1.0
    assert table["motion"]["ceiling"] == pytest.approx(max(table["motion"]["from_z"].values()))  # no judge
    for row in table.values():
        assert abs(row["leak"]["linear_fraction"]) < 0.25  # no leak: near chance
