"""Video arrays a user already has, as .npy / .npz files -> a dataset folder.

Frames: ``(N, T, H, W, C)`` (C = 1 or 3; channels-first ``(N, T, C, H, W)`` is turned when that is
unambiguous), ``(N, T, H, W)`` (grayscale) or flattened ``(N, T, H*W*C)`` (each frame flattened in
H, W, C order, as ``x.reshape(N, T, -1)`` does), with the frame shape given or inferred: a square
frame with C = 1 or 3 (``D = H*H*C`` has one such reading). Pixels: uint8, integers in 0-255, or
floats in [0, 1] holding 8-bit values, stored as value / 255 or value / 256 (detected per array, as
for the Sprites copies: :func:`pixels_to_uint8`); other floats in [0, 1] are refused unless
``quantize`` rounds them to 8 bits.

Labels: one array per label, ``(N,)`` class ids or names, ``(N, K)`` one-hot, or either repeated per
frame (``(N, T)``, ``(N, T, K)``; then constant in time). The split: train/test parts (e.g. an .npz
with ``x_train_full`` and ``x_test_full``), a 0/1 array, or a seeded random share of the sequences.
Frames are read and written in blocks of rows (.npz members are streamed from the zip), so memory
stays flat however large the arrays are.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import DatasetError, FramesWriter, SequenceDataset, atomic_dataset_dir, write_columns

BLOCK_BYTES = 64 << 20  # frames read per block


def pixels_to_uint8(x: np.ndarray, scales: list[int], name: str | Path, quantize: bool = False) -> np.ndarray:
    """Pixels -> uint8, exactly. uint8 passes; integers must lie in 0-255; floats must lie in
    [0, 1] and be v / 256 or v / 255 for 8-bit v: ``scales`` are the denominators still possible
    for this array, and the ones this block rules out are removed from it (only an all-black block
    fits both). With ``quantize``, floats in [0, 1] are rounded to ``round(x * 255)`` instead.
    Raises :class:`DatasetError` naming ``name`` otherwise."""
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DatasetError(f"{name}: integer pixels must lie in 0-255, got [{x.min()}, {x.max()}]")
        return x.astype(np.uint8)
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetError(f"{name}: pixels of dtype {x.dtype}; expected uint8 or floats in [0, 1]")
    x = x.astype(np.float64)
    if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
        hint = "; values up to 255 are 8-bit pixels: store them as uint8" if np.nanmax(x) <= 255 else ""
        raise DatasetError(f"{name}: pixels must be finite floats in [0, 1]{hint}")
    if quantize:
        return np.rint(x * 255.0).astype(np.uint8)
    for scale in list(scales):
        v = x * scale
        if np.abs(v - np.rint(v)).max() > 1e-3 or v.max() > 255.5:
            scales.remove(scale)
    if not scales:
        raise DatasetError(
            f"{name}: pixels are neither multiples of 1/256 (the generator's value / 256) nor of "
            f"1/255 (value / 255): not 8-bit frames (round them to 8 bits with quantize / --quantize)"
        )
    return np.rint(x * scales[0]).astype(np.uint8)


# --- reading arrays from .npy files and .npz members -----------------------------------------------
@dataclass
class ArrayRef:
    """An array in a file: a .npy file, or the member ``key`` of an .npz file. Its header is read
    at once; the data only by :meth:`blocks` or :meth:`read`."""

    path: Path
    key: str | None = None

    def __post_init__(self) -> None:
        with self._open() as fh:
            version = np.lib.format.read_magic(fh)
            shape, fortran, dtype = (
                np.lib.format.read_array_header_1_0(fh)
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0(fh)
            )
            self.offset = fh.tell()
        if dtype.hasobject:
            raise DatasetError(f"{self.name} holds Python objects; save plain numeric arrays")
        if fortran and len(shape) > 1:
            raise DatasetError(
                f"{self.name} is stored in Fortran order; save it in C order (np.ascontiguousarray)"
            )
        self.shape, self.dtype = tuple(shape), dtype

    @property
    def name(self) -> str:
        return f"{self.path}:{self.key}" if self.key else str(self.path)

    def _open(self):
        try:
            if self.key is None:
                return open(self.path, "rb")
            return zipfile.ZipFile(self.path).open(f"{self.key}.npy")
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
            raise DatasetError(f"cannot read {self.name} ({e})") from e

    def blocks(self, rows_per_block: int) -> Iterator[np.ndarray]:
        """The array in blocks of up to ``rows_per_block`` rows (first axis), in order."""
        row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        with self._open() as fh:
            fh.read(self.offset)  # the header (a zip member cannot seek cheaply)
            for start in range(0, self.shape[0], rows_per_block):
                n = min(rows_per_block, self.shape[0] - start)
                data = fh.read(n * row_bytes)
                if len(data) != n * row_bytes:
                    raise DatasetError(
                        f"{self.name} is truncated: it ends inside row {start + len(data) // row_bytes}"
                    )
                yield np.frombuffer(data, dtype=self.dtype).reshape(n, *self.shape[1:])

    def read(self) -> np.ndarray:
        """The whole array (for labels and splits: small)."""
        blocks = list(self.blocks(max(1, self.shape[0])))
        return blocks[0] if blocks else np.empty(self.shape, self.dtype)


def npz_keys(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return [n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")]
    except (OSError, zipfile.BadZipFile) as e:
        raise DatasetError(f"cannot read {path} as an .npz file ({e})") from e


def resolve(spec: str | Path, input: Path | None) -> ArrayRef:
    """``spec``: a key of the .npz ``input``, or the path of a .npy file."""
    spec = str(spec)
    if input is not None and input.suffix.lower() == ".npz" and spec in npz_keys(input):
        return ArrayRef(input, spec)
    path = Path(spec)
    if path.is_file():
        return ArrayRef(path)
    keys = (
        f" (its keys: {', '.join(npz_keys(input))})" if input is not None and input.suffix == ".npz" else ""
    )
    raise DatasetError(f"{spec!r} is neither a key of {input}{keys} nor a .npy file")


def default_frames(input: Path) -> dict[str, str] | str:
    """The frame arrays of ``input`` when none are named: a .npy file itself; in an .npz the one
    pair ``x_train*`` / ``x_test*`` (then the split), or its only member."""
    if input.suffix.lower() != ".npz":
        return str(input)
    keys = npz_keys(input)
    train = [k for k in keys if re.match(r"x_?train", k, re.IGNORECASE)]
    test = [k for k in keys if re.match(r"x_?test", k, re.IGNORECASE)]
    if len(train) == 1 and len(test) == 1:
        return {"train": train[0], "test": test[0]}
    if len(keys) == 1:
        return keys[0]
    raise DatasetError(
        f"which array of {input} holds the frames? Its keys: {', '.join(keys)}; name it with --x KEY "
        "(or --x train=KEY --x test=KEY)"
    )


# --- shapes and labels ---------------------------------------------------------------------------------
def infer_frame_shape(d: int) -> tuple[int, int, int]:
    """The square frame ``(H, H, C)``, C in {1, 3}, that flattens to ``d`` values (at most one does)."""
    for c in (3, 1):
        h = int(round((d / c) ** 0.5))
        if d % c == 0 and h * h * c == d:
            return (h, h, c)
    raise DatasetError(
        f"frames of {d} values are no square H x H x C frame with C = 1 or 3; give the frame shape "
        "with --frame-shape H,W,C (frame_shape=(H, W, C))"
    )


def frame_layout(shape: tuple[int, ...], frame_shape: tuple[int, int, int] | None, name: str):
    """Array shape -> (frame shape (H, W, C), how its rows become (T, H, W, C): "as is",
    "gray", "channels first" or "flat"). Raises :class:`DatasetError` with the shapes it takes."""
    if len(shape) == 5:
        if shape[-1] in (1, 3):
            got, how = tuple(shape[2:]), "as is"
        elif shape[2] in (1, 3):
            got, how = (shape[3], shape[4], shape[2]), "channels first"
        else:
            raise DatasetError(f"{name} has shape {shape}: no channel axis of 1 or 3 (N, T, H, W, C)")
    elif len(shape) == 4:
        got, how = (shape[2], shape[3], 1), "gray"
    elif len(shape) == 3:
        got = tuple(frame_shape) if frame_shape is not None else infer_frame_shape(shape[2])
        if int(np.prod(got)) != shape[2]:
            raise DatasetError(f"{name}: frames of {shape[2]} values are not {'x'.join(map(str, got))}")
        how = "flat"
    else:
        raise DatasetError(
            f"{name} has shape {shape}; frames are (N, T, H, W, C), (N, T, H, W) or flattened (N, T, H*W*C)"
        )
    if frame_shape is not None and got != tuple(frame_shape):
        raise DatasetError(f"{name} holds {got} frames, not the frame shape given {tuple(frame_shape)}")
    if got[0] != got[1] or got[2] not in (1, 3):
        raise DatasetError(
            f"{name}: frames {got[0]}x{got[1]}x{got[2]}; the model takes square frames with 1 or 3 "
            "channels: crop or resize them first"
        )
    return got, how


def to_frames(block: np.ndarray, how: str, frame_shape: tuple[int, int, int]) -> np.ndarray:
    """Rows of the array -> ``(n, T, H, W, C)``."""
    if how == "channels first":
        return block.transpose(0, 1, 3, 4, 2)
    if how == "as is":
        return block
    return block.reshape(*block.shape[:2], *frame_shape)


def label_column(values: np.ndarray, n: int, T: int, name: str) -> tuple[np.ndarray, list[str]]:
    """A label array -> (class ids int64 (n,), class names): ids or names ``(n,)``, one-hot ``(n, K)``,
    either repeated per frame ``(n, T)`` / ``(n, T, K)`` (then constant in time)."""
    values = np.asarray(values)
    if len(values) != n:
        raise DatasetError(f"label {name!r} has {len(values)} rows, the frames {n}")
    per_frame = values.ndim in (2, 3) and values.shape[1] == T
    if per_frame and (values == values[:, :1]).all():
        values = values[:, 0]
    elif per_frame and values.ndim == 3:
        raise DatasetError(f"label {name!r} changes within a sequence; labels must be constant in time")
    if values.ndim == 2:  # one-hot (n, K)
        if not (np.isin(values, (0, 1)).all() and (values.sum(-1) == 1).all()):
            what = (
                "changes within a sequence, or is a one-hot array with" if per_frame else "is one-hot without"
            )
            raise DatasetError(f"label {name!r} {what} a single 1 per row")
        return values.argmax(-1).astype(np.int64), [str(k) for k in range(values.shape[-1])]
    if values.ndim != 1:
        raise DatasetError(
            f"label {name!r} has shape {values.shape}; expected ({n},), ({n}, K) one-hot, or ({n}, {T}[, K])"
        )
    if np.issubdtype(values.dtype, np.floating):
        if not (np.isfinite(values).all() and (values == np.round(values)).all()):
            raise DatasetError(f"label {name!r}: class ids must be whole numbers")
        values = values.astype(np.int64)
    classes, ids = np.unique(values, return_inverse=True)
    return ids.astype(np.int64), [str(c) for c in classes]


def _pixel_reading(dtype: np.dtype, scales: list[int], quantize: bool) -> str:
    """How an array's pixels were read, for meta.json."""
    if not np.issubdtype(dtype, np.floating):
        return "8-bit integers"
    return "x * 255, rounded" if quantize else f"value / {scales[0]}"


# --- the import -----------------------------------------------------------------------------------------
def _label_columns(labels, refs: dict, input: Path | None, n: int, T: int) -> tuple[dict, dict]:
    """{name: (n,) int64 ids} and {name: class names} of the ``labels`` arrays (one per part of
    ``refs``, concatenated in the parts' order). Raises ValueError / DatasetError."""
    label_ids, label_values = {}, {}
    for name, specs in (labels or {}).items():
        specs = [specs] if isinstance(specs, (str, Path)) else list(specs)
        if len(specs) != len(refs):
            raise ValueError(
                f"label {name!r}: give one array per frame array ({', '.join(refs)}), got {len(specs)}"
            )
        values = np.concatenate([resolve(s, input).read() for s in specs])
        label_ids[name], label_values[name] = label_column(values, n, T, name)
    return label_ids, label_values


def _split_column(
    split, input: Path | None, n_of: dict[str, int], test_fraction: float, seed: int
) -> np.ndarray:
    """The (n,) int8 split: the ``split`` array (0/1), else the parts (train/test), else a seeded
    ``test_fraction`` of the sequences. Raises DatasetError for a split array that does not fit."""
    n = sum(n_of.values())
    if split is not None:
        flags = resolve(split, input).read()
        if flags.shape != (n,) or not np.isin(flags, (0, 1)).all():
            raise DatasetError(f"the split must be ({n},) of 0 (train) and 1 (test), got {flags.shape}")
        return flags.astype(np.int8)
    if set(n_of) != {"all"}:
        return np.concatenate([np.full(n_of[p], p == "test", dtype=np.int8) for p in n_of])
    n_test = int(round(n * test_fraction))
    split_array = np.zeros(n, dtype=np.int8)
    split_array[np.random.default_rng(seed).permutation(n)[:n_test]] = 1
    return split_array


def import_arrays(
    out: str | Path,
    *,
    input: str | Path | None = None,
    x: str | Sequence[str] | Mapping[str, str] | None = None,
    labels: Mapping[str, str | Sequence[str]] | None = None,
    split: str | None = None,
    frame_shape: tuple[int, int, int] | None = None,
    quantize: bool = False,
    test_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
) -> SequenceDataset:
    """Frames (and labels) from .npy/.npz arrays into the dataset folder ``out`` (see the module).

    ``input``: an .npz (or .npy) file; ``x``: the frame array, a key of ``input`` or a .npy path, or
    ``{"train": ..., "test": ...}`` parts (default :func:`default_frames`); ``labels``: name -> array
    (one per part, in the parts' order, when ``x`` has parts); ``split``: a 0/1 (or bool, True =
    test) array, else a seeded ``test_fraction`` of the sequences; ``frame_shape`` ``(H, W, C)`` for
    flattened frames (default: inferred). Info columns ``array`` (where a sequence came from) and
    ``row`` (its row there). Raises :class:`DatasetError` for arrays it cannot read as frames or
    labels (nothing is written) and ``FileExistsError`` for an existing ``out`` without ``force``."""
    out = Path(out)
    if out.exists() and not force:  # refuse before reading anything
        raise FileExistsError(f"{out} exists; pass --force (force=True) to replace it")
    input = Path(input) if input is not None else None
    if input is not None and not input.is_file():
        raise FileNotFoundError(f"--input {input}: no such file")
    if x is None:
        if input is None:
            raise ValueError("pass the input file or the frame arrays (x)")
        x = default_frames(input)
    parts = dict(x) if isinstance(x, Mapping) else {"all": x} if isinstance(x, (str, Path)) else None
    if parts is None:
        raise ValueError(f"x must be a key or file, or {{'train': ..., 'test': ...}}, got {x!r}")
    if set(parts) not in ({"all"}, {"train", "test"}, {"train"}, {"test"}):
        raise ValueError(f"x parts must be 'train' and/or 'test', got {sorted(parts)}")
    if split is not None and set(parts) != {"all"}:
        raise ValueError("a split array goes with a single frame array, not with train/test parts")
    refs = {part: resolve(spec, input) for part, spec in parts.items()}

    shapes = {part: frame_layout(ref.shape, frame_shape, ref.name) for part, ref in refs.items()}
    (fs, _), *others = shapes.values()
    lengths = {ref.shape[1] for ref in refs.values()}
    if any(o[0] != fs for o in others) or len(lengths) != 1:
        raise DatasetError(f"the parts differ in frame shape or T: {[r.shape for r in refs.values()]}")
    T = lengths.pop()
    n_of = {part: ref.shape[0] for part, ref in refs.items()}
    n = sum(n_of.values())
    if n == 0:
        raise DatasetError("the frame arrays hold no sequence")

    label_ids, label_values = _label_columns(labels, refs, input, n, T)
    split_array = _split_column(split, input, n_of, test_fraction, seed)

    scales_of = {}
    with (
        atomic_dataset_dir(out, force=force) as tmp,
        FramesWriter(tmp / "frames.npy", (T, *fs)) as writer,
    ):
        for part, ref in refs.items():
            scales = scales_of[part] = [256, 255]
            how = shapes[part][1]
            rows = max(1, BLOCK_BYTES // max(1, int(np.prod(ref.shape[1:])) * ref.dtype.itemsize))
            for block in ref.blocks(rows):
                for seq in pixels_to_uint8(to_frames(block, how, fs), scales, ref.name, quantize):
                    writer.append(np.ascontiguousarray(seq))
        frames_shape = writer.finish()
        info = {
            "array": np.concatenate([np.full(n_of[p], refs[p].name) for p in refs]),
            "row": np.concatenate([np.arange(n_of[p]) for p in refs]),
        }
        meta = {
            "name": (input or refs[next(iter(refs))].path).stem,
            "source": {
                p: str(Path(r.path).resolve()) + (f":{r.key}" if r.key else "") for p, r in refs.items()
            },
            "layout": {p: shapes[p][1] for p in refs},
            "pixels": {p: _pixel_reading(refs[p].dtype, scales_of[p], quantize) for p in refs},
            "split_by": "array" if split is not None else "parts" if set(parts) != {"all"} else "random",
            "test_fraction": test_fraction,
            "seed": seed,
        }
        write_columns(tmp, label_ids, label_values, split_array, info, meta, frames_shape, "uint8")
    return SequenceDataset.open(out)
