"""The one writer of frames.npy (:class:`dsvae.data.base.FramesWriter`): grown or filled by row, written
under a partial name and renamed when finished, nothing left behind when a build fails."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dsvae.data import DatasetError, SequenceDataset
from dsvae.data.base import FramesWriter, write_frames


def test_npy_appender_grows_truncates_and_loads(tmp_path):
    items = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3)
    with FramesWriter(tmp_path / "a.npy", (2, 3)) as w:
        for item in items[:3]:
            w.append(item)
        w.truncate(1)
        w.append(items[4])
        assert w.finish() == (2, 2, 3)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), items[[0, 4]])


def test_rows_of_a_known_shape_in_any_order_and_their_sha256(tmp_path):
    items = np.random.default_rng(0).normal(size=(6, 3, 4)).astype(np.float32)
    path = tmp_path / "frames.npy"
    with FramesWriter(path, (3, 4), np.float32, count=6) as w:
        w.write(3, items[3:])
        assert not path.exists()  # written under a partial name until finished
        w.write(0, items[:3])
        assert w.sha256(3, 6) == hashlib.sha256(items[3:].tobytes()).hexdigest()
        assert w.finish() == (6, 3, 4)
    np.testing.assert_array_equal(np.load(path), items)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.npy"]


def test_wrong_blocks_missing_rows_and_errors_leave_nothing(tmp_path):
    path = tmp_path / "frames.npy"
    with FramesWriter(path, (2,), np.uint8, count=3) as w:
        with pytest.raises(ValueError, match=r"expected \(k, 2\) uint8"):
            w.write(0, np.zeros((1, 2), np.float32))
        with pytest.raises(ValueError, match="do not fit"):
            w.write(2, np.zeros((2, 2), np.uint8))
        w.write(0, np.zeros((1, 2), np.uint8))
        with pytest.raises(DatasetError, match="2 of 3 rows were never written"):
            w.finish()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="crash"), FramesWriter(path, (2,)) as w:
        w.append(np.ones(2, np.uint8))
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []  # the partial file is removed


def test_write_frames_in_blocks_and_save_through_it(tmp_path):
    frames = np.arange(7 * 2 * 4 * 4 * 3, dtype=np.uint8).reshape(7, 2, 4, 4, 3)
    assert write_frames(tmp_path / "f.npy", frames, block_bytes=200) == frames.shape
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), frames)
    SequenceDataset(frames).save(tmp_path / "ds")
    np.testing.assert_array_equal(SequenceDataset.open(tmp_path / "ds").frames, frames)
