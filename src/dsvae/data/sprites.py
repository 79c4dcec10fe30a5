"""The Sprites benchmark of Li & Mandt (ICML 2018), built bit-exactly from the LPC layer sheets.

The construction (the Sprites repository's README, after the generator scripts of the public
repository YingzhenLi/Sprites):

- 1296 characters ``s = 216 body + 36 bottom + 6 top + hair`` (6 values per attribute). A character's
  sheet is an opaque black RGBA canvas with, alpha-composited in this order, ``body/{body}.png``,
  ``bottomwear/{bottom}.png``, ``topwear/{top}.png``, ``hair/{hair}.png`` and ``shoes/1.png``
  (832 x 1344 sheets of 13 x 21 cells of 64 x 64); RGB is kept.
- 9 motions ``3 action + direction`` (walk, spellcast, slash x front, left, right), 8 frames each,
  cut from fixed cells of the sheet (:data:`ROWS`, :data:`COLUMNS`).
- Split by character: ``RandomState(423).permutation(1296)``, the first 1000 train, the rest test.

Stored (see :mod:`dsvae.data.base`): frames uint8 ``(11664, 8, 64, 64, 3)``, the training characters
in permutation order then the test characters, 9 motions each in label order, so that the train and
test parts of ``frames.npy`` hash to the published checksums; a build whose checksums differ is
refused. Labels ``body, bottom, top, hair`` (6 values) and ``motion`` (9), info ``character,
action, direction``; meta.json declares the motion's split into action and direction
(:data:`LABEL_PARTS`, :mod:`dsvae.data.parts`).

Only the cells a sequence uses are composited (a 64-wide strip of the 72 frames per layer, with
Pillow's own ``alpha_composite``, so the pixels are Pillow's bit for bit), characters sharing a
prefix of layers share its composite, and frames stream into ``frames.npy`` on disk: the build
takes seconds and little memory.

Importers convert the layouts users already have: the 18 frame files (+ attribute files) of the
original generator and the ``sprites_{X,A,D}_{train,test}.npy`` files of later papers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..progress import progress
from .arrays import pixels_to_uint8
from .base import DatasetError, FramesWriter, SequenceDataset, atomic_dataset_dir, write_columns
from .fetch import cache_dir as cache_dir_of
from .fetch import download
from .parts import PARTS_KEY, product_parts

# --- the benchmark, exactly ---------------------------------------------------------------------------
SHEET_SIZE = (832, 1344)  # (width, height) in pixels: 13 x 21 cells
CELL = 64
LAYERS = ("body", "bottomwear", "topwear", "hair")  # composited in this order, then shoes/1
SHOES = "shoes/1.png"
SHEET_FILES = tuple(f"{layer}/{k}.png" for layer in LAYERS for k in range(6)) + (SHOES,)
ATTRIBUTES = ("body", "bottom", "top", "hair")  # label names, one per layer
N_VALUES = 6
N_CHARACTERS = N_VALUES**4
ACTIONS = ("walk", "spellcast", "slash")
DIRECTIONS = ("front", "left", "right")
MOTIONS = tuple(f"{a}_{d}" for a in ACTIONS for d in DIRECTIONS)  # label 3 * action + direction
# the split the datasets declare in meta.json (dsvae.data.parts): dsvae eval scores each part too
LABEL_PARTS = {"motion": product_parts(MOTIONS, {"action": ACTIONS, "direction": DIRECTIONS})}
T = 8
FRAME_SHAPE = (CELL, CELL, 3)
ROWS = {"walk": (10, 9, 11), "spellcast": (2, 1, 3), "slash": (14, 13, 15)}  # per direction
COLUMNS = {
    "walk": (8, 1, 2, 3, 4, 5, 6, 7),
    "spellcast": (0, 1, 2, 3, 4, 5, 4, 6),
    "slash": (0, 1, 2, 3, 4, 5, 4, 0),
}
SPLIT_SEED = 423
N_TRAIN_CHARACTERS = 1000
CHECKSUMS = {  # sha256 of the uint8 bytes, shape (characters, 9, 8, 64, 64, 3)
    "all_in_id_order": "9a90d76e1172c33b1a9e318a299657cecb9d9d19ddfd0d085e800b796a07a9f3",
    "train": "d1d0adec757a9f4209c677635a6aa85cda333037e4b0fea1898291cf43973f15",
    "test": "b13df2521dd5e612f9b20250a79bbb33352380b5528d526f9bcd75ddd0a7bac2",
    "character0_motion0": "67f0355ee3366d36d44118e02dae0cd9fdbba6dda0230206f0529f3605446d6c",
}
ARCHIVE_URL = "https://github.com/YingzhenLi/Sprites/archive/refs/heads/master.zip"
# the 25 sheets shipped with dsvae (byte for byte the repository's; their licences and attribution
# beside them, lpc/README.md): the benchmark builds offline
SHIPPED_SHEETS = Path(__file__).resolve().parent / "lpc"
LICENSE = "LPC art: CC-BY-SA 3.0 / GPL 3.0 (lpc.opengameart.org, Universal-LPC-spritesheet)"
# what to do when the archive cannot be downloaded
DOWNLOAD_ELSEWHERE = (
    "Download it elsewhere and pass the zip with --archive, or clone https://github.com/YingzhenLi/Sprites "
    "and pass its folder with --sheets"
)
WHERE_TO_GET = (
    "dsvae ships the LPC layer sheets (leave --sheets and --archive out to use them; reinstall dsvae if "
    "they are missing); they are also in the public repository https://github.com/YingzhenLi/Sprites: "
    f"clone it and pass its folder with --sheets, or pass --archive {ARCHIVE_URL}"
)
LAYOUTS = ("generator", "xad")


def split_permutation() -> np.ndarray:
    """The benchmark's character order: the first 1000 are the training characters."""
    return np.random.RandomState(SPLIT_SEED).permutation(N_CHARACTERS)


def character_attributes(s: np.ndarray | int) -> tuple:
    """Character id -> (body, bottom, top, hair)."""
    return s // 216, (s // 36) % 6, (s // 6) % 6, s % 6


def character_id(body, bottom, top, hair):
    return 216 * body + 36 * bottom + 6 * top + hair


def _columns(characters: np.ndarray, motions: np.ndarray) -> tuple[dict, dict, dict]:
    """labels, label_values and info of sequences given by (character, motion)."""
    characters = np.asarray(characters, dtype=np.int64)
    motions = np.asarray(motions, dtype=np.int64)
    labels = dict(zip(ATTRIBUTES, character_attributes(characters)))
    labels["motion"] = motions
    label_values = {a: [str(k) for k in range(N_VALUES)] for a in ATTRIBUTES}
    label_values["motion"] = list(MOTIONS)
    info = {"character": characters, "action": motions // 3, "direction": motions % 3}
    return labels, label_values, info


def _refuse_existing(out: Path, force: bool) -> None:
    """Fail before the work, not after it (atomic_dataset_dir checks again when it writes)."""
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force (force=True) to replace it")


# --- the build --------------------------------------------------------------------------------------
def _cells() -> list[tuple[int, int]]:
    """(row, column) of the 72 frames, motions in label order, 8 frames each."""
    return [
        (ROWS[action][direction], column)
        for action in ACTIONS
        for direction in range(len(DIRECTIONS))
        for column in COLUMNS[action]
    ]


def _read_strip(path: Path) -> Image.Image:
    """A sheet's 72 frames as one RGBA strip (72 * 64 high, 64 wide), after checking the sheet."""
    if not path.is_file():
        raise DatasetError(f"missing sheet {path}; {WHERE_TO_GET}")
    try:
        with Image.open(path) as image:
            size = image.size
            rgba = np.asarray(image.convert("RGBA")) if size == SHEET_SIZE else None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's errors on unreadable files
        raise DatasetError(f"cannot read {path} as a PNG image ({e}); {WHERE_TO_GET}") from e
    if rgba is None:
        raise DatasetError(
            f"{path} is {size[0]}x{size[1]} pixels, an LPC sheet is {SHEET_SIZE[0]}x{SHEET_SIZE[1]} "
            f"(13 x 21 cells of 64 x 64); {WHERE_TO_GET}"
        )
    grid = rgba.reshape(SHEET_SIZE[1] // CELL, CELL, SHEET_SIZE[0] // CELL, CELL, 4)
    strip = np.stack([grid[row, :, column] for row, column in _cells()])  # (72, 64, 64, 4)
    return Image.fromarray(np.ascontiguousarray(strip.reshape(-1, CELL, 4)), "RGBA")


def _composite_characters(sheets_dir: Path):
    """Yield (character id, frames (9, 8, 64, 64, 3) uint8) in id order. The nested loops follow
    the id (216 body + 36 bottom + 6 top + hair), so each prefix of layers is composited once."""
    strips = {layer: [_read_strip(sheets_dir / f"{layer}/{k}.png") for k in range(6)] for layer in LAYERS}
    shoes = _read_strip(sheets_dir / SHOES)
    canvas = Image.new("RGBA", shoes.size, "black")
    s = 0
    for body in strips["body"]:
        with_body = Image.alpha_composite(canvas, body)
        for bottom in strips["bottomwear"]:
            with_bottom = Image.alpha_composite(with_body, bottom)
            for top in strips["topwear"]:
                with_top = Image.alpha_composite(with_bottom, top)
                for hair in strips["hair"]:
                    sheet = Image.alpha_composite(Image.alpha_composite(with_top, hair), shoes)
                    yield s, np.asarray(sheet)[..., :3].reshape(len(MOTIONS), T, *FRAME_SHAPE)
                    s += 1


def build_sprites(
    sheets_dir: str | Path | None,
    out: str | Path,
    force: bool = False,
    *,
    archive: str | None = None,
    cache_dir: str | Path | None = None,
) -> SequenceDataset:
    """Build the benchmark into the dataset folder ``out`` from the layer sheets in ``sheets_dir``
    (``body/0-5.png, bottomwear/0-5.png, topwear/0-5.png, hair/0-5.png, shoes/1.png``); with
    ``sheets_dir=None``, from the repository archive ``archive`` (URL or local zip, e.g.
    :data:`ARCHIVE_URL`) fetched into ``cache_dir`` (:func:`fetch_sheets`), or, without an archive,
    from the sheets shipped with dsvae (:data:`SHIPPED_SHEETS`: no network). The four checksums
    are verified; a build that does not match them is refused and nothing is written."""
    if sheets_dir is not None and archive is not None:
        raise ValueError("pass the sheets folder or the archive, not both")
    out = Path(out)
    _refuse_existing(out, force)
    if sheets_dir is None and archive is None:
        sheets_dir = SHIPPED_SHEETS
        source = "the LPC layer sheets shipped with dsvae (github.com/YingzhenLi/Sprites, 3ce4048)"
    elif sheets_dir is None:
        sheets_dir = fetch_sheets(archive, cache_dir)
        source = f"the LPC layer sheets of {archive}"
    else:
        sheets_dir = Path(sheets_dir)
        source = f"the LPC layer sheets in {sheets_dir.resolve()}"

    order = split_permutation()  # character order[r] fills rows 9 r .. 9 r + 8
    rank = np.argsort(order)
    n = N_CHARACTERS * len(MOTIONS)
    n_train = N_TRAIN_CHARACTERS * len(MOTIONS)
    with (
        atomic_dataset_dir(out, force=force) as tmp,
        FramesWriter(tmp / "frames.npy", (T, *FRAME_SHAPE), count=n) as frames,
    ):
        all_in_id_order = hashlib.sha256()
        checksums = {}
        characters = _composite_characters(Path(sheets_dir))
        for s, block in progress(characters, total=N_CHARACTERS, desc="compositing", unit="character"):
            if s == 0:
                checksums["character0_motion0"] = hashlib.sha256(np.ascontiguousarray(block[0])).hexdigest()
            block = np.ascontiguousarray(block)
            all_in_id_order.update(block.data)
            frames.write(len(MOTIONS) * rank[s], block)
        checksums["all_in_id_order"] = all_in_id_order.hexdigest()
        checksums["train"] = frames.sha256(0, n_train)
        checksums["test"] = frames.sha256(n_train, n)
        checksums = {k: checksums[k] for k in CHECKSUMS}
        wrong = [k for k in CHECKSUMS if checksums[k] != CHECKSUMS[k]]
        if wrong:
            raise DatasetError(
                f"the build from {sheets_dir} does not match the benchmark (checksums {', '.join(wrong)} "
                f"differ), so it was not written: the sheets are not the original ones, or this Pillow "
                f"({Image.__version__}) composites differently; {WHERE_TO_GET}"
            )
        labels, label_values, info = _columns(
            np.repeat(order, len(MOTIONS)), np.tile(np.arange(len(MOTIONS)), N_CHARACTERS)
        )
        meta = {
            "name": "sprites",
            "source": source,
            "license": LICENSE,
            "checksums": checksums,
            "split": f"by character: RandomState({SPLIT_SEED}).permutation({N_CHARACTERS}), "
            f"first {N_TRAIN_CHARACTERS} train",
            "split_seed": SPLIT_SEED,
            PARTS_KEY: LABEL_PARTS,
        }
        split = (np.arange(n) >= n_train).astype(np.int8)
        write_columns(tmp, labels, label_values, split, info, meta, frames.finish(), "uint8")
    return SequenceDataset.open(out)


# --- the sheets from the repository archive ---------------------------------------------------------------
def _extract_sheets(archive: Path, dest: Path) -> None:
    """The 25 sheets of the archive (any top folder, e.g. ``Sprites-master/``) into ``dest``."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            members: dict[str, str] = {}
            for name in zf.namelist():
                members.setdefault(name, name)
                members.setdefault(name.partition("/")[2], name)  # without the top folder
            missing = [rel for rel in SHEET_FILES if rel not in members]
            if missing:
                raise DatasetError(
                    f"the archive {archive} lacks the sheets {', '.join(missing)}; {WHERE_TO_GET}"
                )
            for rel in SHEET_FILES:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(zf.read(members[rel]))
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise DatasetError(f"{archive} is not a readable zip archive ({e}); {WHERE_TO_GET}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_sheets(archive: str | Path = ARCHIVE_URL, cache_dir: str | Path | None = None) -> Path:
    """The folder of the 25 layer sheets from the repository archive ``archive`` (a URL, downloaded
    once into ``cache_dir``, default :func:`~dsvae.data.fetch.cache_dir` ``/sprites``, or a local zip
    file). The sheets are extracted into the cache once per archive content.

    Raises :class:`~dsvae.data.fetch.DownloadError` (a DatasetError) when the archive cannot be
    downloaded, DatasetError when it lacks a sheet or is no zip."""
    cache = Path(cache_dir) if cache_dir is not None else cache_dir_of("sprites")
    cache.mkdir(parents=True, exist_ok=True)
    archive = str(archive)
    if "://" in archive:
        path = cache / f"archive-{hashlib.sha256(archive.encode()).hexdigest()[:16]}.zip"
        download(archive, path, desc="downloading the Sprites sheets", advice=DOWNLOAD_ELSEWHERE)
        downloaded = True
    else:
        path, downloaded = Path(archive), False
        if not path.is_file():
            raise FileNotFoundError(f"no archive at {path}; {WHERE_TO_GET}")
    sheets = cache / f"sheets-{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    if not sheets.is_dir():  # written by one rename, so a folder that exists is complete
        try:
            _extract_sheets(path, sheets)
        except DatasetError:
            if downloaded:  # a broken download must not stay in the cache
                path.unlink(missing_ok=True)
            raise
    return sheets


# --- importers of the layouts users already have -----------------------------------------------------
def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path} as a .npy array ({e})") from e


class _FrameRows:
    """The sequences of a frames .npy file ``(N, 8, 64, 64, 3)``, read one at a time with plain
    reads (through a memory map every page read would count as the process's memory)."""

    def __init__(self, path: Path) -> None:
        header = _load_npy(path)  # a memory map: shape, dtype and data offset, no data read
        if header.ndim != 5 or header.shape[1:] != (T, *FRAME_SHAPE):
            raise DatasetError(
                f"{path} holds an array of shape {header.shape}; Sprites frames are (N, {T}, 64, 64, 3)"
            )
        if header.dtype != np.uint8 and not np.issubdtype(header.dtype, np.floating):
            raise DatasetError(f"{path} holds {header.dtype} pixels; expected floats in [0, 1] or uint8")
        if not header.flags.c_contiguous:
            raise DatasetError(f"{path} is stored in Fortran order; save it in C order")
        self.path, self.dtype, self.offset = path, header.dtype, header.offset
        self.row_bytes = int(np.prod(header.shape[1:])) * header.dtype.itemsize
        self.n = header.shape[0]

    def __len__(self) -> int:
        return self.n

    def read(self, i: int) -> np.ndarray:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + i * self.row_bytes)
            data = fh.read(self.row_bytes)
        if len(data) != self.row_bytes:
            raise DatasetError(f"{self.path} is truncated")
        return np.frombuffer(data, dtype=self.dtype).reshape(T, *FRAME_SHAPE)


@dataclass
class _Part:
    """The sequences of one frames file, with their labels."""

    frames: _FrameRows
    split: int
    attributes: np.ndarray  # (n, 4) int
    motions: np.ndarray  # (n,) int


def _require_files(folder: Path, names: list[str], layout: str) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(f"--from {folder}: no such folder")
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DatasetError(
            f"{folder} lacks {len(missing)} file(s) of the {layout!r} layout: {', '.join(missing)}"
        )


def _class_indices(labels: np.ndarray, n: int, groups: tuple[int, ...], k: int, path: Path) -> np.ndarray:
    """Labels of n sequences -> int64 (n, *groups), from class indices ``(n, *groups)`` or one-hot
    ``(n, *groups, k)``, either possibly repeated per frame ``(n, T, ...)`` (then constant in time)."""
    labels = np.asarray(labels)
    if labels.shape in ((n, *groups, k), (n, T, *groups, k)):
        if not (np.isin(labels, (0, 1)).all() and (labels.sum(-1) == 1).all()):
            raise DatasetError(f"{path}: one-hot labels (last axis of {k}) must hold a single 1 per row")
        indices = labels.argmax(-1)
    elif labels.shape in ((n, *groups), (n, T, *groups)):
        if not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
            raise DatasetError(f"{path}: class indices must be whole numbers")
        indices = labels.astype(np.int64)
    else:
        shapes = [(n, *groups), (n, T, *groups), (n, *groups, k), (n, T, *groups, k)]
        raise DatasetError(
            f"{path} has shape {labels.shape}; expected one of {', '.join(map(str, shapes))} "
            f"(class indices or one-hot, optionally per frame)"
        )
    if indices.ndim == len(groups) + 2:
        if not (indices == indices[:, :1]).all():
            raise DatasetError(f"{path}: labels change within a sequence; they must be constant in time")
        indices = indices[:, 0]
    if indices.size and (indices.min() < 0 or indices.max() >= k):
        raise DatasetError(f"{path}: labels must lie in [0, {k - 1}], got [{indices.min()}, {indices.max()}]")
    return indices.astype(np.int64)


def _generator_parts(folder: Path) -> list[_Part]:
    """``{walk,spellcard,slash}_{front,left,right}_{frames,attributes}_{train,test}.npy`` of
    YingzhenLi/Sprites' frame_to_npy.py: frames float32 value / 256 (N, 8, 64, 64, 3), attributes
    one-hot float32 (N, 8, 4, 6); characters in permutation order; the motion is in the name."""
    file_actions = ("walk", "spellcard", "slash")  # the generator's spelling of ACTIONS
    names = [
        (f"{a}_{d}_frames_{split}.npy", f"{a}_{d}_attributes_{split}.npy", 3 * i + j, s)
        for s, split in enumerate(("train", "test"))
        for i, a in enumerate(file_actions)
        for j, d in enumerate(DIRECTIONS)
    ]
    _require_files(folder, [name for entry in names for name in entry[:2]], "generator")
    parts = []
    for frames_name, attributes_name, motion, split in names:
        frames = _FrameRows(folder / frames_name)
        attributes = _class_indices(
            _load_npy(folder / attributes_name), len(frames), (4,), N_VALUES, folder / attributes_name
        )
        motions = np.full(len(frames), motion, dtype=np.int64)
        parts.append(_Part(frames, split, attributes, motions))
    return parts


def _xad_parts(folder: Path) -> list[_Part]:
    """``sprites_{X,A,D}_{train,test}.npy`` of later papers (the arrays of the generator's
    ``sprites_act``, shuffled): X (N, 8, 64, 64, 3) floats, A attributes (N, 8, 4, 6) one-hot or
    (N, 8, 4) indices, D motion (N, 8, 9) one-hot or (N, 8) indices (per-frame axis optional)."""
    splits = ("train", "test")
    _require_files(folder, [f"sprites_{x}_{split}.npy" for split in splits for x in "XAD"], "xad")
    parts = []
    for s, split in enumerate(splits):
        x_path, a_path, d_path = (folder / f"sprites_{x}_{split}.npy" for x in "XAD")
        frames = _FrameRows(x_path)
        attributes = _class_indices(_load_npy(a_path), len(frames), (4,), N_VALUES, a_path)
        motions = _class_indices(_load_npy(d_path), len(frames), (), len(MOTIONS), d_path)
        parts.append(_Part(frames, s, attributes, motions))
    return parts


def import_sprites(
    source_dir: str | Path, layout: str, out: str | Path, force: bool = False
) -> SequenceDataset:
    """Convert Sprites arrays in an existing layout into our dataset folder ``out``, validated
    (shapes, pixel ranges, one-hot labels, labels constant in time, split by character, no
    sequence twice). ``layout``: ``"generator"`` (the 18 frame files of YingzhenLi/Sprites and their
    attribute files) or ``"xad"`` (``sprites_{X,A,D}_{train,test}.npy``). Sequences are stored in
    the build's order, so a complete import of the real benchmark has its checksums
    (``meta["matches_benchmark"]``)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    source_dir, out = Path(source_dir), Path(out)
    _refuse_existing(out, force)
    parts = _generator_parts(source_dir) if layout == "generator" else _xad_parts(source_dir)

    part_of = np.concatenate([np.full(len(p.motions), i) for i, p in enumerate(parts)])
    row_of = np.concatenate([np.arange(len(p.motions)) for p in parts])
    split = np.concatenate([np.full(len(p.motions), p.split, dtype=np.int8) for p in parts])
    characters = character_id(*np.concatenate([p.attributes for p in parts]).T)
    motions = np.concatenate([p.motions for p in parts])
    in_both = np.intersect1d(characters[split == 0], characters[split == 1])
    if len(in_both):
        raise DatasetError(
            f"{len(in_both)} character(s) (e.g. {in_both[0]}) are in both train and test; "
            "Sprites is split by character"
        )
    keys, counts = np.unique(characters * len(MOTIONS) + motions, return_counts=True)
    if (counts > 1).any():
        c, m = divmod(int(keys[counts > 1][0]), len(MOTIONS))
        raise DatasetError(f"character {c} with motion {MOTIONS[m]} appears more than once")

    rank = np.argsort(split_permutation())
    order = np.lexsort((motions, rank[characters], split))  # the build's order
    n, n_train = len(order), int((split == 0).sum())
    scales = [[256, 255] for _ in parts]
    with (
        atomic_dataset_dir(out, force=force) as tmp,
        FramesWriter(tmp / "frames.npy", (T, *FRAME_SHAPE), count=n) as frames,
    ):
        for row, i in enumerate(progress(order, desc="importing", unit="sequence")):
            p = parts[part_of[i]]
            pixels = p.frames.read(row_of[i])
            frames.write(row, pixels_to_uint8(pixels, scales[part_of[i]], p.frames.path)[None])
        checksums = {"train": frames.sha256(0, n_train), "test": frames.sha256(n_train, n)}
        labels, label_values, info = _columns(characters[order], motions[order])
        meta = {
            "name": "sprites",
            "source": f"imported from the {layout!r} layout in {source_dir.resolve()}",
            "license": LICENSE,
            "checksums": checksums,
            "matches_benchmark": checksums == {k: CHECKSUMS[k] for k in ("train", "test")},
            PARTS_KEY: LABEL_PARTS,
        }
        write_columns(tmp, labels, label_values, split[order], info, meta, frames.finish(), "uint8")
    return SequenceDataset.open(out)
