"""The embedded procedural dataset: determinism, layout, labels, the split by character, and that
attributes and motions really show in the pixels."""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np
import pytest

from dsvae.data import DatasetError, SequenceDataset
from dsvae.data.synthetic import (
    ATTRIBUTES,
    MOTIONS,
    N_CHARACTERS,
    T,
    character_attributes,
    draw_sequences,
    make_synthetic,
)

STATIC = list(ATTRIBUTES)


@pytest.fixture(scope="module")
def full(synthetic) -> SequenceDataset:
    """The default dataset, as every command opens it (conftest.synthetic)."""
    return synthetic


@pytest.fixture(scope="module")
def small() -> SequenceDataset:
    return make_synthetic(seed=3, n_characters=24)


def test_default_size_layout_and_labels(full):
    assert len(full) == N_CHARACTERS * len(MOTIONS) == 2048
    assert full.frames.shape == (2048, T, 64, 64, 3) and full.frames.dtype == np.uint8
    assert list(full.labels) == [*STATIC, "motion"]
    assert all(len(full.label_values[name]) >= 4 for name in STATIC)
    assert full.label_values["motion"] == list(MOTIONS) and len(MOTIONS) >= 6
    for name, arr in full.labels.items():
        assert arr.dtype == np.int64
        assert set(arr.tolist()) == set(range(len(full.label_values[name])))
    assert full.meta["name"] == "synthetic" and full.meta["source"] == "dsvae procedural generator"
    assert full.meta["seed"] == 0
    assert full.meta["checksums"]["frames_sha256"] == hashlib.sha256(full.frames.tobytes()).hexdigest()
    # every combination of attribute values is one character
    combos = {tuple(full.labels[n][i] for n in STATIC) for i in range(len(full))}
    assert len(combos) == N_CHARACTERS == len(np.unique(full.info["character"]))


def _check_design(ds: SequenceDataset) -> None:
    character = ds.info["character"]
    pairs = set(zip(character.tolist(), ds.labels["motion"].tolist()))
    assert len(pairs) == len(ds), "a (character, motion) pair appears twice"
    assert pairs == {(c, m) for c in np.unique(character).tolist() for m in range(len(MOTIONS))}
    for name, values in character_attributes(character).items():
        np.testing.assert_array_equal(ds.labels[name], values)
    assert ds.info["phase"].min() >= 0 and ds.info["phase"].max() < T
    assert np.abs(ds.info["x_offset"]).max() <= ds.meta["max_x_offset"]


def _check_split(ds: SequenceDataset) -> None:
    train, test = ds.subset("train"), ds.subset("test")
    train_chars, test_chars = set(train.info_array("character")), set(test.info_array("character"))
    assert train_chars and test_chars and not train_chars & test_chars
    for name in STATIC:
        every = set(range(len(ds.label_values[name])))
        assert set(train.label_array(name)) == every, f"a {name} value is missing from training"
        assert set(test.label_array(name)) == every, f"a {name} value is missing from the test set"
    assert set(train.label_array("motion")) == set(test.label_array("motion")) == set(range(len(MOTIONS)))


def test_every_character_does_every_motion_once(full, small):
    _check_design(full)
    _check_design(small)
    assert len(small) == 24 * len(MOTIONS)


def test_positions_default_centre_and_the_shifted_variant(full, small, synthetic_shifted):
    # by default only the walks move sideways: every other motion happens in the centre
    assert full.meta["max_x_offset"] == 0 and not full.info["x_offset"].any()
    shifted = make_synthetic(seed=3, n_characters=24, max_x_offset=8)
    _check_design(shifted)
    offsets = shifted.info["x_offset"]
    assert offsets.min() >= -8 and offsets.max() <= 8 and len(np.unique(offsets)) > 8
    # the same characters, split, phases and labels; only the positions (and so the pixels) differ
    for name in ("character", "phase"):
        np.testing.assert_array_equal(shifted.info[name], small.info[name])
    np.testing.assert_array_equal(shifted.split, small.split)
    for name in small.labels:
        np.testing.assert_array_equal(shifted.labels[name], small.labels[name])
    centred = offsets == 0
    assert centred.any() and (~centred).any()
    assert shifted.frames[centred].tobytes() == small.frames[centred].tobytes()
    assert all(not np.array_equal(shifted.frames[i], small.frames[i]) for i in np.flatnonzero(~centred))
    # the character never leaves the frame: the sky's colour fills the left and right columns
    sky = np.array([196, 220, 240], dtype=np.uint8)
    assert (shifted.frames[:, :, :40, [0, -1]] == sky).all()
    # the command line's name for it
    named = synthetic_shifted  # open_dataset("synthetic-shifted")
    assert named.meta["max_x_offset"] == 8 and len(named) == len(full)
    np.testing.assert_array_equal(named.info["phase"], full.info["phase"])
    assert named.meta["checksums"] != full.meta["checksums"]


def test_split_by_character_about_80_20(full, small):
    for ds in (full, small):
        _check_split(ds)
        n_chars = len(np.unique(ds.info["character"]))
        n_test = len(np.unique(ds.subset("test").info_array("character")))
        assert abs(n_test / n_chars - 0.2) < 0.03
    smallest = make_synthetic(seed=1, n_characters=8)  # four each side: one of every value
    _check_split(smallest)
    assert len(np.unique(smallest.subset("test").info_array("character"))) == 4
    other = make_synthetic(seed=4, n_characters=24)  # another seed draws other characters
    assert not np.array_equal(other.info["character"], small.info["character"])


def test_deterministic_by_seed(small):
    again = make_synthetic(seed=3, n_characters=24)
    assert again.frames.tobytes() == small.frames.tobytes()
    for name in small.labels:
        np.testing.assert_array_equal(again.labels[name], small.labels[name])
    for name in small.info:
        np.testing.assert_array_equal(again.info[name], small.info[name])
    np.testing.assert_array_equal(again.split, small.split)
    assert again.meta == small.meta
    other = make_synthetic(seed=4, n_characters=24)
    assert other.frames.tobytes() != small.frames.tobytes()
    assert other.meta["checksums"]["frames_sha256"] != small.meta["checksums"]["frames_sha256"]


def test_each_attribute_shows_on_every_frame_of_every_motion():
    """Characters one attribute value apart differ on every frame, whatever the pose."""
    base = np.array([0, 2, 1, 3])  # skin, top, bottom, hair values
    weights = len(ATTRIBUTES[STATIC[0]]) ** np.arange(len(STATIC))[::-1]
    motions = np.arange(len(MOTIONS))
    zeros = np.zeros(len(MOTIONS), dtype=np.int64)  # phase 0: the frames run through all T steps

    def frames_of(values: np.ndarray) -> np.ndarray:
        character = np.full(len(MOTIONS), int(values @ weights))
        return draw_sequences(character, motions, zeros, zeros)

    reference = frames_of(base)
    for a, name in enumerate(STATIC):
        for v in set(range(len(ATTRIBUTES[name]))) - {base[a]}:
            changed = base.copy()
            changed[a] = v
            differs = (frames_of(changed) != reference).any(axis=(2, 3, 4))  # (motion, t)
            assert differs.all(), f"{name}={ATTRIBUTES[name][v][0]} does not show on some frames"


def test_motions_need_time(small):
    # every sequence moves
    moving = (small.frames != small.frames[:, :1]).any(axis=(2, 3, 4))[:, 1:].any(axis=1)
    assert moving.all()
    # one character, same start: the motions are different sequences
    n = len(MOTIONS)
    zeros = np.zeros(n, dtype=np.int64)
    seqs = draw_sequences(np.full(n, 77), np.arange(n), zeros, zeros)
    for a, b in combinations(range(n), 2):
        assert not np.array_equal(seqs[a], seqs[b]), f"{MOTIONS[a]} and {MOTIONS[b]} look the same"
    # a single frame cannot tell the walking directions apart: same poses, only the position moves
    left, right = MOTIONS.index("walk-left"), MOTIONS.index("walk-right")
    walks = draw_sequences([77, 77], [left, right], [5, 5], [-(T - 1), T - 1])
    np.testing.assert_array_equal(walks[0, 0], walks[1, 0])
    assert not np.array_equal(walks[0, 1], walks[1, 1])


def test_save_and_open_round_trip(small, tmp_path):
    small.save(tmp_path / "synthetic")
    back = SequenceDataset.open(tmp_path / "synthetic")
    assert back.frames.tobytes() == small.frames.tobytes()
    assert back.label_values == small.label_values
    assert back.meta["checksums"] == small.meta["checksums"]
    np.testing.assert_array_equal(back.info["character"], small.info["character"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_characters": 7}, "between 8 and 256"),
        ({"n_characters": 257}, "between 8 and 256"),
        ({"n_characters": 10, "test_fraction": 0.9}, "smaller test_fraction"),
        ({"test_fraction": 0.0}, "test_fraction must lie in"),
        ({"max_x_offset": 9}, r"max_x_offset must lie in \[0, 8\]"),
        ({"max_x_offset": -1}, r"max_x_offset must lie in \[0, 8\]"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, message):
    with pytest.raises(DatasetError, match=message):
        make_synthetic(**kwargs)
