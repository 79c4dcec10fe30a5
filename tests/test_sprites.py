"""The Sprites benchmark: the bit-exact build (checksums), atomic writes, the archive path, importers."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsvae.cli import main
from dsvae.data import DatasetError, SequenceDataset, sprites
from dsvae.data.sprites import (
    CHECKSUMS,
    MOTIONS,
    SHEET_FILES,
    SHIPPED_SHEETS,
    build_sprites,
    character_id,
    fetch_sheets,
    import_sprites,
    split_permutation,
)

SHEETS = Path(__file__).resolve().parents[2] / "shared" / "lpc-sprites"
needs_sheets = pytest.mark.skipif(
    not (SHEETS / "shoes" / "1.png").exists(), reason=f"the LPC layer sheets are not at {SHEETS}"
)


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).data).hexdigest()


@pytest.fixture(scope="module")
def built(sprites_built) -> tuple[SequenceDataset, Path]:
    """The one full build of the session (conftest.sprites_built: the shipped sheets, no network)."""
    return sprites_built


def test_the_shipped_sheets_are_the_repositorys_with_their_licences():
    shipped = sorted(p.relative_to(SHIPPED_SHEETS).as_posix() for p in SHIPPED_SHEETS.rglob("*.png"))
    assert shipped == sorted(SHEET_FILES)
    for name in ("CC-BY-SA-3.0-LICENSE", "GNU-GPL-3.0-LICENSE", "README.md"):
        assert (SHIPPED_SHEETS / name).stat().st_size > 1000, name
    if (SHEETS / "shoes" / "1.png").exists():  # a copy of the sheets from elsewhere: the same bytes
        for name in SHEET_FILES:
            assert (SHIPPED_SHEETS / name).read_bytes() == (SHEETS / name).read_bytes(), name


# --- the full build --------------------------------------------------------------------------------
def test_build_matches_the_four_checksums(built):
    ds, out = built
    order = split_permutation()
    rank = np.argsort(order)
    frames = SequenceDataset.open(out).frames
    assert isinstance(frames, np.memmap) and frames.dtype == np.uint8
    assert frames.shape == (11664, 8, 64, 64, 3)
    assert sha256(frames[:9000]) == CHECKSUMS["train"]
    assert sha256(frames[9000:]) == CHECKSUMS["test"]
    assert sha256(frames[9 * rank[0]]) == CHECKSUMS["character0_motion0"]
    in_id_order = hashlib.sha256()
    for s in range(1296):
        in_id_order.update(np.ascontiguousarray(frames[9 * rank[s] : 9 * rank[s] + 9]).data)
    assert in_id_order.hexdigest() == CHECKSUMS["all_in_id_order"]
    assert ds.meta["checksums"] == CHECKSUMS
    assert ds.meta["name"] == "sprites" and ds.meta["split_seed"] == 423
    assert not (out / "old.txt").exists()  # force replaced the folder


def test_build_labels_and_split(built):
    ds, _ = built
    assert len(ds.subset("train")) == 9000 and len(ds.subset("test")) == 2664
    assert ds.num_classes == {"body": 6, "bottom": 6, "top": 6, "hair": 6, "motion": 9}
    assert ds.label_values["motion"][:3] == ["walk_front", "walk_left", "walk_right"]
    assert ds.label_values["motion"][-1] == "slash_right"
    characters = ds.info_array("character")
    order = split_permutation()
    assert (characters[::9] == order).all()  # train characters in permutation order, then test
    assert (ds.label_array("motion") == np.tile(np.arange(9), 1296)).all()
    body, bottom, top, hair = (ds.label_array(a) for a in ("body", "bottom", "top", "hair"))
    assert (character_id(body, bottom, top, hair) == characters).all()
    assert (ds.info_array("action") * 3 + ds.info_array("direction") == ds.label_array("motion")).all()
    train_chars = set(ds.subset("train").info_array("character"))
    assert train_chars == set(order[:1000]) and not train_chars & set(
        ds.subset("test").info_array("character")
    )
    assert ds.get_batch([0, 9000]).shape == (2, 8, 64, 64, 3)


def test_generator_import_of_built_characters_reproduces_them(built, tmp_path):
    """Files of the original generator's layout, written from a few built characters, import to
    exactly the built frames and labels."""
    ds, _ = built
    order = split_permutation()
    chosen = {"train": order[:3], "test": order[1000:1002]}
    rows = {s: [9 * int(np.flatnonzero(order == c)[0]) for c in chars] for s, chars in chosen.items()}
    blocks = {s: np.stack([ds.frames[r : r + 9] for r in rows[s]]) for s in chosen}
    _write_generator(tmp_path, chosen, blocks)
    imported = import_sprites(tmp_path, "generator", tmp_path / "out")
    expected = np.concatenate([np.arange(r, r + 9) for r in rows["train"] + rows["test"]])
    assert np.array_equal(imported.frames, ds.frames[expected])
    for name in ("body", "bottom", "top", "hair", "motion"):
        assert (imported.labels[name] == ds.labels[name][expected]).all()
    assert (imported.split == ds.split[expected]).all()
    assert imported.meta["matches_benchmark"] is False


# --- atomic writes and --force ---------------------------------------------------------------------------
@needs_sheets
def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    real = sprites._composite_characters

    def crashing(sheets_dir):
        for i, item in enumerate(real(sheets_dir)):
            if i == 3:
                raise RuntimeError("simulated crash")
            yield item

    monkeypatch.setattr(sprites, "_composite_characters", crashing)
    out = tmp_path / "sprites"
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_sprites(SHEETS, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no partial folder left beside it
    with pytest.raises(FileNotFoundError):
        SequenceDataset.open(out)

    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_sprites(SHEETS, out, force=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # the old folder is untouched


def test_existing_output_is_refused_without_force(tmp_path):
    out = tmp_path / "sprites"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match="--force"):
        build_sprites(tmp_path / "no-sheets-needed", out)
    assert main(["data", "sprites", "--sheets", str(tmp_path), "--out", str(out)]) == 2
    assert (out / "keep.txt").read_text() == "old"


# --- bad sheets ----------------------------------------------------------------------------------------
def test_missing_sheet_names_the_file_and_where_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match=r"missing sheet .*body/0\.png.*YingzhenLi/Sprites"):
        build_sprites(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_wrong_size_sheet(tmp_path, capsys):
    (tmp_path / "body").mkdir()
    Image.new("RGBA", (64, 64)).save(tmp_path / "body" / "0.png")
    with pytest.raises(DatasetError, match=r"body/0\.png is 64x64 pixels.*832x1344.*YingzhenLi/Sprites"):
        build_sprites(tmp_path, tmp_path / "out")
    assert main(["data", "sprites", "--sheets", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "832x1344" in capsys.readouterr().err


def test_unreadable_png(tmp_path):
    (tmp_path / "body").mkdir()
    (tmp_path / "body" / "0.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match=r"cannot read .*body/0\.png as a PNG"):
        build_sprites(tmp_path, tmp_path / "out")


# --- the repository archive ------------------------------------------------------------------------------
def _sheet_png(seed: int, size=(832, 1344)) -> bytes:
    """A small valid RGBA PNG: one random cell on a transparent sheet."""
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    row = seed % 21 * 64
    rgba[row : row + 64, :64] = np.random.default_rng(seed).integers(0, 256, (64, 64, 4))
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _archive(path: Path, files: dict[str, bytes]) -> Path:
    """A zip in GitHub's layout for the repository: everything under Sprites-master/."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"Sprites-master/{name}", data)
    return path


def test_fetch_sheets_from_a_local_archive(tmp_path):
    files = {name: _sheet_png(i) for i, name in enumerate(SHEET_FILES)}
    extra = {"eyes/0.png": _sheet_png(99), "README.md": b"# Sprites"}
    archive = _archive(tmp_path / "master.zip", files | extra)
    cache = tmp_path / "cache"
    sheets = fetch_sheets(archive.as_uri(), cache)  # a file:// URL goes through the download code
    for name, data in files.items():
        assert (sheets / name).read_bytes() == data
    assert not (sheets / "eyes").exists() and not (sheets / "README.md").exists()
    archive.unlink()
    assert fetch_sheets(archive.as_uri(), cache) == sheets  # the cached download is reused
    local = _archive(tmp_path / "local.zip", files)
    assert (
        fetch_sheets(local, tmp_path / "cache2").joinpath("shoes/1.png").read_bytes() == files["shoes/1.png"]
    )


def test_cli_without_sheets_downloads_extracts_and_checks(tmp_path, monkeypatch, capsys):
    """No --sheets: the archive (here a local file:// URL) is fetched, extracted and its sheets are
    checked; one wrong-size sheet stops the build with its name."""
    files = {name: _sheet_png(i) for i, name in enumerate(SHEET_FILES)}
    files["hair/3.png"] = _sheet_png(3, size=(832, 1280))
    archive = _archive(tmp_path / "master.zip", files).as_uri()
    out = tmp_path / "out"
    assert (
        main(["data", "sprites", "--archive", archive, "--cache", str(tmp_path / "cache"), "--out", str(out)])
        == 2
    )
    assert "hair/3.png is 832x1280 pixels" in capsys.readouterr().err
    assert not out.exists()


def test_archive_errors_are_clear(tmp_path):
    files = {name: _sheet_png(i) for i, name in enumerate(SHEET_FILES) if name != "shoes/1.png"}
    with pytest.raises(DatasetError, match=r"lacks the sheets shoes/1\.png"):
        fetch_sheets(_archive(tmp_path / "partial.zip", files), tmp_path / "cache")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable zip archive"):
        fetch_sheets(tmp_path / "broken.zip", tmp_path / "cache")
    with pytest.raises(DatasetError, match=r"could not download .*offline.*--sheets"):
        fetch_sheets("http://127.0.0.1:9/master.zip", tmp_path / "cache")  # nothing listens on port 9
    assert not list((tmp_path / "cache").glob("archive-*"))  # no partial download left


# --- importers of the layouts users have -----------------------------------------------------------------
def _write_generator(folder: Path, characters: dict, blocks: dict) -> None:
    """The original generator's files: per motion and split, frames float32 value / 256
    (n, 8, 64, 64, 3) and one-hot attributes (n, 8, 4, 6); ``blocks[split]`` is (n, 9, 8, 64, 64, 3)."""
    for split, chars in characters.items():
        attributes = np.stack(sprites.character_attributes(np.asarray(chars)), axis=-1)  # (n, 4)
        for m, name in enumerate(MOTIONS):
            action, direction = name.split("_")
            stem = f"{'spellcard' if action == 'spellcast' else action}_{direction}"
            np.save(folder / f"{stem}_frames_{split}.npy", blocks[split][:, m].astype(np.float32) / 256)
            one_hot = _one_hot(np.repeat(attributes[:, None], 8, axis=1), 6)
            np.save(folder / f"{stem}_attributes_{split}.npy", one_hot)


def _sequences(characters: np.ndarray, seed: int) -> np.ndarray:
    """Random uint8 frames, one (9, 8, 64, 64, 3) block per character."""
    return np.random.default_rng(seed).integers(0, 256, (len(characters), 9, 8, 64, 64, 3), dtype=np.uint8)


def _one_hot(indices: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[indices]


def _write_xad(folder: Path, encoding: str, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``sprites_{X,A,D}`` files of 3 train and 2 test characters, shuffled as sprites_act does;
    returns, per split, the characters and their uint8 blocks (in permutation order)."""
    order = split_permutation()
    truth = {}
    for split, chars in (("train", order[:3]), ("test", order[1000:1002])):
        blocks = _sequences(chars, seed)
        truth[split] = (chars, blocks)
        c = np.repeat(chars, 9)
        m = np.tile(np.arange(9), len(chars))
        shuffle = np.random.default_rng(seed + 1).permutation(len(c))
        x = blocks.reshape(-1, 8, 64, 64, 3)[shuffle].astype(np.float32) / 255
        a = np.stack(sprites.character_attributes(c), axis=-1)[shuffle]  # (N, 4)
        d = m[shuffle]
        a_t, d_t = np.repeat(a[:, None], 8, axis=1), np.repeat(d[:, None], 8, axis=1)
        if encoding == "one-hot per frame":
            a, d = _one_hot(a_t, 6), _one_hot(d_t, 9)
        elif encoding == "indices per frame":
            a, d = a_t, d_t
        np.save(folder / f"sprites_X_{split}.npy", x)
        np.save(folder / f"sprites_A_{split}.npy", a)
        np.save(folder / f"sprites_D_{split}.npy", d)
    return truth


@pytest.mark.parametrize("encoding", ["one-hot per frame", "indices per frame", "indices"])
def test_xad_import(tmp_path, encoding):
    truth = _write_xad(tmp_path, encoding)
    ds = import_sprites(tmp_path, "xad", tmp_path / "out")
    expected = np.concatenate([truth["train"][1], truth["test"][1]]).reshape(-1, 8, 64, 64, 3)
    assert np.array_equal(ds.frames, expected)  # value / 255 back to the exact uint8, in the build's order
    chars = np.concatenate([truth["train"][0], truth["test"][0]])
    assert (ds.info["character"] == np.repeat(chars, 9)).all()
    assert (ds.labels["motion"] == np.tile(np.arange(9), 5)).all()
    assert (ds.split == np.repeat([0, 1], [27, 18])).all()
    assert ds.meta["checksums"]["train"] == sha256(expected[:27])
    assert ds.meta["matches_benchmark"] is False


def test_generator_import_and_cli(tmp_path, capsys):
    order = split_permutation()
    src = tmp_path / "npy"
    src.mkdir()
    characters = {"train": order[:2], "test": order[1000:1001]}
    blocks = {split: _sequences(chars, 3) for split, chars in characters.items()}
    _write_generator(src, characters, blocks)
    out = tmp_path / "out"
    command = ["data", "import-sprites", "--from", str(src), "--layout", "generator", "--out", str(out)]
    assert main(command) == 0
    assert "imported 18 train and 9 test sequences" in capsys.readouterr().out
    ds = SequenceDataset.open(out)
    expected = np.concatenate([blocks["train"], blocks["test"]]).reshape(-1, 8, 64, 64, 3)
    assert np.array_equal(ds.frames, expected)
    assert ds.label_values["motion"] == list(MOTIONS)
    assert main(command) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*command, "--force"]) == 0

    (src / "slash_right_attributes_test.npy").unlink()
    with pytest.raises(DatasetError, match="slash_right_attributes_test.npy"):
        import_sprites(src, "generator", tmp_path / "out2")


def _rewrite(path: Path, change) -> None:
    a = np.load(path)
    np.save(path, change(a))


def _train_attributes(a: np.ndarray) -> np.ndarray:
    """Test attributes replaced by those of the first training character (id order[0])."""
    c = split_permutation()[0]
    b = np.zeros_like(a)
    for i, v in enumerate(sprites.character_attributes(int(c))):
        b[:, :, i, v] = 1
    return b


@pytest.mark.parametrize(
    "name, change, message",
    [
        ("sprites_X_train.npy", lambda x: x[:, :, :32], r"shape \(27, 8, 32, 64, 3\).*\(N, 8, 64, 64, 3\)"),
        ("sprites_X_train.npy", lambda x: x * 2, r"finite floats in \[0, 1\]"),
        ("sprites_X_train.npy", lambda x: np.clip(x + 0.001, 0, 1), "neither multiples of 1/256"),
        ("sprites_A_train.npy", lambda a: a * 0.5, "single 1 per row"),
        ("sprites_A_train.npy", lambda a: a[:, :, :3], r"has shape \(27, 8, 3, 6\); expected one of"),
        (
            "sprites_D_train.npy",
            lambda d: np.concatenate([d[:, :4], d[:, 4:][:, :, ::-1]], 1),
            "within a sequence",
        ),
        ("sprites_A_test.npy", _train_attributes, "both train and test"),
        ("sprites_D_train.npy", lambda d: np.broadcast_to(d[:1], d.shape), "appears more than once"),
    ],
)
def test_xad_import_refuses_inconsistent_files(tmp_path, name, change, message):
    _write_xad(tmp_path, "one-hot per frame")
    _rewrite(tmp_path / name, change)
    with pytest.raises(DatasetError, match=message):
        import_sprites(tmp_path, "xad", tmp_path / "out")
    assert not (tmp_path / "out").exists()
