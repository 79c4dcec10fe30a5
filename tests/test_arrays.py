"""Video arrays from .npy/.npz files (`dsvae data import-arrays`): every frame layout and pixel
encoding gives back the same uint8 frames; labels, parts and splits; refusals with advice."""

from __future__ import annotations

import numpy as np
import pytest

from dsvae.cli import main
from dsvae.data import DatasetError, SequenceDataset
from dsvae.data.arrays import import_arrays, infer_frame_shape, pixels_to_uint8

N, T, S = 6, 4, 16
FRAMES = np.random.default_rng(0).integers(0, 256, (N, T, S, S, 3), dtype=np.uint8)
MOTION = np.array([0, 1, 2, 0, 1, 2])


@pytest.mark.parametrize(
    "encode",
    [
        lambda f: f,  # uint8 (N, T, H, W, C)
        lambda f: (f / 255.0).astype(np.float32),  # floats value / 255
        lambda f: (f / 256.0).astype(np.float32),  # the Sprites generator's value / 256
        lambda f: (f / 255.0).reshape(N, T, -1),  # flattened (N, T, H*W*C): the published npz copies
        lambda f: f.transpose(0, 1, 4, 2, 3).astype(np.int64),  # channels first, wide integers
    ],
    ids=["uint8", "div255", "div256", "flat", "channels-first"],
)
def test_every_layout_and_pixel_encoding_gives_the_frames_back(tmp_path, encode):
    np.save(tmp_path / "x.npy", encode(FRAMES))
    ds = import_arrays(tmp_path / "ds", input=tmp_path / "x.npy", test_fraction=0.5)
    np.testing.assert_array_equal(ds.frames, FRAMES)
    assert (ds.split == 1).sum() == 3 and ds.info["row"].tolist() == list(range(N))


def test_npz_train_test_parts_with_labels_like_the_published_sprites_copies(tmp_path, capsys):
    flat = (FRAMES / 255.0).astype(np.float32).reshape(N, T, -1)
    np.savez_compressed(
        tmp_path / "sprites.npz",
        x_train_full=flat[:4],
        x_test_full=flat[4:],
        y_train=np.eye(3)[MOTION[:4]],  # one-hot
        y_test=np.eye(3)[MOTION[4:]],
        who_train=np.repeat(np.array(["ann", "bob", "ann", "cy"])[:, None], T, axis=1),  # per frame
        who_test=np.repeat(np.array(["bob", "cy"])[:, None], T, axis=1),
    )
    ds = import_arrays(
        tmp_path / "ds",
        input=tmp_path / "sprites.npz",
        labels={"motion": ["y_train", "y_test"], "who": ["who_train", "who_test"]},
    )
    np.testing.assert_array_equal(ds.frames, FRAMES)
    assert ds.split.tolist() == [0, 0, 0, 0, 1, 1] and ds.meta["split_by"] == "parts"
    assert ds.labels["motion"].tolist() == MOTION.tolist() and ds.label_values["motion"] == ["0", "1", "2"]
    assert ds.label_values["who"] == ["ann", "bob", "cy"] and ds.labels["who"].tolist() == [0, 1, 0, 2, 1, 2]
    assert ds.meta["pixels"] == {"train": "value / 255", "test": "value / 255"}

    out = tmp_path / "cli"
    args = ["data", "import-arrays", "--input", str(tmp_path / "sprites.npz"), "--out", str(out)]
    assert (
        main(args + ["--x", "train=x_train_full", "--x", "test=x_test_full", "--labels", "m=y_train,y_test"])
        == 0
    )
    assert "imported 6 sequences (4 train, 2 test) of 4 frames 16x16x3" in capsys.readouterr().out
    assert SequenceDataset.open(out).labels["m"].tolist() == MOTION.tolist()


def test_split_array_frame_shape_and_separate_npy_files(tmp_path):
    gray = FRAMES[..., :1]
    np.save(tmp_path / "x.npy", gray.reshape(N, T, -1))
    np.save(tmp_path / "split.npy", np.array([True, False, False, True, False, False]))
    np.save(tmp_path / "motion.npy", np.repeat(MOTION[:, None], T, axis=1))
    ds = import_arrays(
        tmp_path / "ds",
        x=str(tmp_path / "x.npy"),
        split=str(tmp_path / "split.npy"),
        labels={"motion": str(tmp_path / "motion.npy")},
        frame_shape=(S, S, 1),
    )
    np.testing.assert_array_equal(ds.frames, gray)
    assert ds.split.tolist() == [1, 0, 0, 1, 0, 0] and ds.labels["motion"].tolist() == MOTION.tolist()


def test_frame_shapes_are_inferred_only_when_unambiguous():
    assert infer_frame_shape(12288) == (64, 64, 3) and infer_frame_shape(4096) == (64, 64, 1)
    with pytest.raises(DatasetError, match="--frame-shape H,W,C"):
        infer_frame_shape(1000)


@pytest.mark.parametrize(
    "array,kwargs,message",
    [
        (FRAMES * 1.0, {}, "values up to 255 are 8-bit pixels: store them as uint8"),
        (np.clip(FRAMES / 255.0 + 1e-3, 0, 1), {}, "neither multiples of 1/256"),
        (np.zeros((N, T, 1000), np.uint8), {}, "no square H x H x C frame"),
        (FRAMES.reshape(N, T, -1), {"frame_shape": (32, 32, 3)}, "not 32x32x3"),
        (FRAMES[:, :, :, :8], {}, "square frames"),
        (FRAMES[0, 0, 0], {}, "frames are \\(N, T, H, W, C\\)"),
        (FRAMES[0], {}, "frames 16x3x1; the model takes square frames"),
    ],
    ids=["0-255-floats", "not-8-bit", "no-square", "wrong-shape", "not-square", "2d", "colour-without-N"],
)
def test_arrays_that_are_not_frames_are_refused_and_nothing_is_written(tmp_path, array, kwargs, message):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(DatasetError, match=message):
        import_arrays(tmp_path / "ds", input=tmp_path / "x.npy", **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_quantize_rounds_floats_that_are_not_8bit(tmp_path):
    x = np.clip(FRAMES / 255.0 + 1e-3, 0, 1)
    np.save(tmp_path / "x.npy", x)
    ds = import_arrays(tmp_path / "ds", input=tmp_path / "x.npy", quantize=True)
    np.testing.assert_array_equal(ds.frames, np.rint(x * 255).astype(np.uint8))
    assert ds.meta["pixels"] == {"all": "x * 255, rounded"}


def test_labels_and_keys_are_checked(tmp_path):
    np.savez(tmp_path / "a.npz", x=FRAMES, y=np.repeat(np.arange(T)[None], N, axis=0), frames2=FRAMES)
    with pytest.raises(DatasetError, match="which array .* Its keys: x, y, frames2"):
        import_arrays(tmp_path / "ds", input=tmp_path / "a.npz")
    with pytest.raises(DatasetError, match="changes within a sequence"):
        import_arrays(tmp_path / "ds", input=tmp_path / "a.npz", x="x", labels={"y": "y"})
    with pytest.raises(DatasetError, match="'nope' is neither a key of"):
        import_arrays(tmp_path / "ds", input=tmp_path / "a.npz", x="nope")


def test_pixels_to_uint8_narrows_the_scale_over_blocks():
    scales = [256, 255]
    black = np.zeros((2, 2))
    pixels_to_uint8(black, scales, "x")
    assert scales == [256, 255]  # black fits both
    assert pixels_to_uint8(np.full((2, 2), 128 / 256), scales, "x").tolist() == [[128, 128]] * 2
    assert scales == [256]


def test_from_arrays_warns_about_vectors_as_wide_as_a_square_frame():
    with pytest.warns(UserWarning, match="width 12288 = 64x64x3"):
        SequenceDataset.from_arrays(np.zeros((2, 3, 12288), np.float32))
    with pytest.warns(UserWarning, match="import-arrays"):
        SequenceDataset.from_arrays(np.zeros((2, 3, 32 * 32), np.float32))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SequenceDataset.from_arrays(np.zeros((2, 3, 64), np.float32))  # 64 mel bands: no warning
        SequenceDataset.from_arrays(np.zeros((2, 3, 80), np.float32))
