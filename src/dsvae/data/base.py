"""The one dataset interface every source goes through.

A dataset is a set of sequences with per-sequence labels (the targets a judge predicts), other
per-sequence columns (``info``: character id, source file, start time, ...), a train/test split
and metadata.

- video: uint8 frames ``(N, T, H, W, C)``, C in {1, 3}, possibly memory-mapped; the model sees
  ``(B, T, C, H, W)`` floats in [0, 1] (:meth:`SequenceDataset.normalize`, done on the device).
- vector: float32 frames ``(N, T, D)`` (speech features); normalized on the fly with the
  training-set mean and standard deviation kept in ``meta["norm"]``.

On disk a dataset is a folder, written atomically (a half-written folder never opens)::

    frames.npy     the frames, opened with mmap_mode="r"
    labels.npz     int64 (N,) per label name
    info.npz       other per-sequence columns (ints or strings)
    split.npy      int8 (N,): 0 train, 1 test
    meta.json      format, kind, label value names, source, checksums, ...  (written last)

Every folder records, at build time, the sha256 of each stored array (``meta["array_sha256"]``:
frames, labels with their value names, info, split; :func:`arrays_sha256`), whatever wrote it
(:meth:`SequenceDataset.save` or a streaming writer through :func:`write_columns`). A run records
them (:func:`data_checksums`) and refuses data whose checksums differ when it reopens it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_dir as atomic_dataset_dir
from .._io import (
    atomic_write_bytes,  # noqa: F401  (re-exported for data sources)
    fsync_dir,
    fsync_file,
    named,
)
from .parts import PARTS_KEY, LabelParts, LabelPartsError, read_label_parts
from .sources import data_commands, folder_advice

FORMAT = "dsvae-dataset"
FORMAT_VERSION = 1
SPLITS = {"train": 0, "test": 1}
FLAT_FRAME_MIN_SIDE = 16  # narrower "frames" (8x8 = 64 mel bands) are ordinary feature vectors


class DatasetError(ValueError):
    """Data that is not what the dataset interface expects; the message says what is."""


def _not_a_dataset(path: Path) -> str:
    """Why ``path`` (a folder without meta.json) is no dataset, and the command that makes one: a
    folder of clips, recordings or arrays is named as such; one with the files of a dataset but no
    meta.json is a build that did not finish."""
    suffixes: dict[str, int] = {}
    for i, p in enumerate(path.rglob("*")):
        if i >= 5000:  # enough to tell what the folder holds
            break
        if p.is_file():
            suffixes[p.suffix.lower()] = suffixes.get(p.suffix.lower(), 0) + 1
    if (path / "frames.npy").exists() or not suffixes:
        return (
            f"{path} is not a complete dsvae dataset (no meta.json): an interrupted build? Build it again "
            "(dsvae data ...)."
        )
    # what it may hold instead, and the commands that build a dataset from it: the table of sources
    for what, exts, command in folder_advice():
        n = sum(suffixes.get(e, 0) for e in exts)
        if n:
            name = path.resolve().name or "mydata"
            return (
                f"{path} holds {what} ({n} files), not a dsvae dataset (no meta.json). Build a dataset "
                f"from it first: {command.format(path=path, name=name)}, then pass that folder as --data."
            )
    return (
        f"{path} is not a dsvae dataset (no meta.json). Build one with dsvae data ... (dsvae data --help "
        f"lists the sources: {', '.join(data_commands())})."
    )


class SequenceDataset:
    def __init__(
        self,
        frames: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
        label_values: Mapping[str, list[str]] | None = None,
        split: np.ndarray | None = None,
        info: Mapping[str, np.ndarray] | None = None,
        meta: Mapping | None = None,
        index: np.ndarray | None = None,
        validate: bool = True,
    ) -> None:
        self.frames = frames
        self.labels = {k: np.asarray(v) for k, v in (labels or {}).items()}
        self.label_values = {k: [str(x) for x in v] for k, v in (label_values or {}).items()}
        self.split = (
            np.zeros(len(frames), dtype=np.int8) if split is None else np.asarray(split, dtype=np.int8)
        )
        self.info = {k: np.asarray(v) for k, v in (info or {}).items()}
        self.meta = dict(meta or {})
        # positions of this view's sequences in the arrays above (a subset shares the arrays)
        self.index = np.arange(len(frames)) if index is None else np.asarray(index, dtype=np.int64)
        if validate:
            self._validate()

    # --- validation: refuse wrong data where it enters ---------------------------------------------
    def _validate(self) -> None:
        f = self.frames
        if not hasattr(f, "dtype") or not hasattr(f, "shape"):
            raise DatasetError(f"frames must be a numpy array, got {type(f).__name__}")
        if f.ndim == 5:
            if f.dtype != np.uint8:
                raise DatasetError(
                    f"video frames must be uint8 (N, T, H, W, C) in [0, 255], got dtype {f.dtype}; "
                    "convert floats in [0, 1] with SequenceDataset.from_arrays"
                )
            if f.shape[-1] not in (1, 3):
                raise DatasetError(
                    f"video frames must be (N, T, H, W, C) with C = 1 or 3 channels last, got shape "
                    f"{tuple(f.shape)}; transpose channels-first arrays with .transpose(0, 1, 3, 4, 2)"
                )
            if f.shape[2] != f.shape[3]:
                raise DatasetError(f"frames must be square (H == W), got {f.shape[2]}x{f.shape[3]}")
        elif f.ndim == 3:
            if f.dtype != np.float32:
                raise DatasetError(f"vector frames must be float32 (N, T, D), got dtype {f.dtype}")
        else:
            raise DatasetError(
                f"frames must be uint8 video (N, T, H, W, C) or float32 vectors (N, T, D), "
                f"got shape {tuple(f.shape)}"
            )
        n = len(f)
        if n == 0:
            raise DatasetError("the dataset holds no sequences")
        if f.shape[1] < 1:
            raise DatasetError("sequences must have at least one frame (T >= 1)")
        for name, arr in self.labels.items():
            if arr.shape != (n,):
                raise DatasetError(f"label {name!r} must have shape ({n},), got {arr.shape}")
            if not np.issubdtype(arr.dtype, np.integer):
                raise DatasetError(f"label {name!r} must hold integer classes, got dtype {arr.dtype}")
            k = len(self.label_values.get(name, []))
            if k == 0:
                raise DatasetError(f"label {name!r} has no value names in label_values")
            if arr.min() < 0 or arr.max() >= k:
                raise DatasetError(
                    f"label {name!r} must lie in [0, {k - 1}] ({k} named values), "
                    f"got [{arr.min()}, {arr.max()}]"
                )
        for name, arr in self.info.items():
            if len(arr) != n:
                raise DatasetError(f"info column {name!r} has {len(arr)} rows, the frames {n}")
        if self.split.shape != (n,) or not np.isin(self.split, (0, 1)).all():
            raise DatasetError(f"split must be ({n},) of 0 (train) and 1 (test)")
        _ = self.label_parts  # a declared split of a label is checked where the data enters

    # --- basic properties --------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return "video" if self.frames.ndim == 5 else "vector"

    @property
    def T(self) -> int:
        return int(self.frames.shape[1])

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """One frame as the model sees it: (C, H, W) or (D,)."""
        if self.kind == "video":
            _, _, h, w, c = self.frames.shape
            return (c, h, w)
        return (int(self.frames.shape[2]),)

    @property
    def num_classes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.label_values.items()}

    @property
    def label_parts(self) -> dict[str, LabelParts]:
        """{label: :class:`~dsvae.data.parts.LabelParts`} of the labels ``meta["label_parts"]`` splits
        into parts (Sprites: motion into action and direction; {} where none is declared). Raises
        DatasetError for a declaration that is no split (:func:`~dsvae.data.parts.read_label_parts`)."""
        try:
            return read_label_parts(self.meta.get(PARTS_KEY), self.label_values)
        except LabelPartsError as e:
            raise DatasetError(f"{self.meta.get('name', 'the dataset')}'s meta.json: {e}") from None

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return (
            f"SequenceDataset({self.meta.get('name', '?')}, {self.kind}, {len(self)} sequences, "
            f"T={self.T}, frame={self.frame_shape}, labels={self.num_classes})"
        )

    # --- views ---------------------------------------------------------------------------------------
    def subset(self, which: str | np.ndarray) -> SequenceDataset:
        """``subset("train")``, ``subset("test")`` or positions (relative to this view)."""
        if isinstance(which, str):
            if which not in SPLITS:
                raise ValueError(f"split must be one of {list(SPLITS)}, got {which!r}")
            keep = self.index[self.split[self.index] == SPLITS[which]]
        else:
            keep = self.index[np.asarray(which, dtype=np.int64)]
        return SequenceDataset(
            self.frames,
            self.labels,
            self.label_values,
            self.split,
            self.info,
            self.meta,
            index=keep,
            validate=False,
        )

    def label_array(self, name: str) -> np.ndarray:
        """Labels of this view's sequences."""
        if name not in self.labels:
            raise KeyError(f"no label {name!r}; this dataset has {sorted(self.labels)}")
        return self.labels[name][self.index]

    def info_array(self, name: str) -> np.ndarray:
        if name not in self.info:
            raise KeyError(f"no info column {name!r}; this dataset has {sorted(self.info)}")
        return self.info[name][self.index]

    # --- batches -------------------------------------------------------------------------------------
    def get_batch(self, positions: np.ndarray | list[int]) -> torch.Tensor:
        """Raw frames of the sequences at ``positions`` of this view, as stored (uint8 stays uint8):
        ``(B, T, H, W, C)`` or ``(B, T, D)``. Normalize on the device with :meth:`normalize`."""
        rows = self.index[np.asarray(positions, dtype=np.int64)]
        order = np.argsort(rows, kind="stable")  # sorted reads are sequential on a memory map
        data = np.empty((len(rows),) + tuple(self.frames.shape[1:]), dtype=self.frames.dtype)
        data[order] = self.frames[rows[order]]
        return torch.from_numpy(data)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw batch (from :meth:`get_batch`, on any device) -> model input:
        ``(B, T, C, H, W)`` floats in [0, 1], or ``(B, T, D)`` standardized vectors."""
        if x.dim() == 5:
            return x.permute(0, 1, 4, 2, 3).float().div_(255.0)
        norm = self.meta.get("norm")
        x = x.float()
        if norm is None:
            return x
        mean = torch.as_tensor(norm["mean"], dtype=torch.float32, device=x.device)
        std = torch.as_tensor(norm["std"], dtype=torch.float32, device=x.device)
        return (x - mean) / std

    def model_batch(
        self, positions: np.ndarray | list[int], device: str | torch.device = "cpu"
    ) -> torch.Tensor:
        """The model's input for the sequences at ``positions``: :meth:`get_batch` moved to ``device``
        as stored (uint8 until it is there; through pinned memory to a GPU), then :meth:`normalize`
        on it: ``(B, T, C, H, W)`` floats in [0, 1], or ``(B, T, D)`` standardized vectors."""
        device = torch.device(device)
        raw = self.get_batch(positions)
        if device.type == "cuda":
            raw = raw.pin_memory()
        return self.normalize(raw.to(device, non_blocking=True))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize` for vector data (model space -> stored feature space)."""
        if x.dim() == 5:
            return x
        norm = self.meta.get("norm")
        if norm is None:
            return x
        mean = torch.as_tensor(norm["mean"], dtype=torch.float32, device=x.device)
        std = torch.as_tensor(norm["std"], dtype=torch.float32, device=x.device)
        return x * std + mean

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        epoch: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
    ) -> Iterator[np.ndarray]:
        """Positions of each batch. With ``shuffle`` the order is a pure function of (seed, epoch),
        so a resumed run (``start`` = batches already done) sees exactly the batches it missed.
        Under DDP, ``batch_size`` is the global batch and each rank takes its share."""
        n = len(self)
        if shuffle:
            order = np.random.default_rng([seed, epoch]).permutation(n)
        else:
            order = np.arange(n)
        n_batches = n // batch_size if drop_last else -(-n // batch_size)
        for b in range(start, n_batches):
            pos = order[b * batch_size : (b + 1) * batch_size]
            yield pos[rank::world_size]

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)

    # --- construction from user arrays -----------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        frames: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
        label_values: Mapping[str, list[str]] | None = None,
        split: np.ndarray | None = None,
        info: Mapping[str, np.ndarray] | None = None,
        meta: Mapping | None = None,
        test_fraction: float = 0.1,
        seed: int = 0,
    ) -> SequenceDataset:
        """Arrays a user brings: video as uint8 (N, T, H, W, C) or floats in [0, 1] (converted);
        vectors as float (N, T, D). Labels without value names get names "0".."K-1". Without a
        split, a seeded ``test_fraction`` of the sequences becomes the test set."""
        frames = np.asarray(frames)
        if frames.ndim == 5 and frames.dtype != np.uint8:
            if not np.issubdtype(frames.dtype, np.floating):
                raise DatasetError(
                    f"video frames must be uint8 in [0, 255] or floats in [0, 1], got {frames.dtype}"
                )
            if not np.isfinite(frames).all():
                raise DatasetError("video frames contain NaN or infinite values")
            lo, hi = float(frames.min()), float(frames.max())
            if lo < 0.0 or hi > 1.0:
                raise DatasetError(
                    f"float video frames must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]; divide 0-255 "
                    "values by 255 or pass uint8"
                )
            frames = np.round(frames * 255.0).astype(np.uint8)
        elif frames.ndim == 3:
            if not np.issubdtype(frames.dtype, np.floating):
                raise DatasetError(f"vector frames must be floats (N, T, D), got dtype {frames.dtype}")
            _warn_if_flat_video(frames.shape[2])
            frames = frames.astype(np.float32, copy=False)
            if not np.isfinite(frames).all():
                raise DatasetError("vector frames contain NaN or infinite values")
        labels = {k: np.asarray(v).astype(np.int64) for k, v in (labels or {}).items()}
        values = dict(label_values or {})
        for k, v in labels.items():
            if k not in values:
                values[k] = [str(i) for i in range(int(v.max()) + 1 if len(v) else 0)]
        if split is None:
            n = len(frames)
            n_test = int(round(n * test_fraction))
            split = np.zeros(n, dtype=np.int8)
            split[np.random.default_rng(seed).permutation(n)[:n_test]] = 1
        return cls(frames, labels, values, split, info, meta)

    # --- storage ---------------------------------------------------------------------------------
    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write the whole dataset (the full arrays, not only this view) as a folder, atomically."""
        with atomic_dataset_dir(path, force=force) as tmp:
            write_frames(tmp / "frames.npy", self.frames)
            write_columns(
                tmp,
                self.labels,
                self.label_values,
                self.split,
                self.info,
                self.meta,
                frames_shape=self.frames.shape,
                frames_dtype=str(self.frames.dtype),
            )
        return Path(path)

    @classmethod
    def open(cls, path: str | Path, mmap: bool = True) -> SequenceDataset:
        path = Path(path)
        meta_path = path / "meta.json"
        if not path.is_dir():
            raise FileNotFoundError(f"no dataset folder at {path}")
        if not meta_path.exists():
            raise DatasetError(_not_a_dataset(path))
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise DatasetError(f"{meta_path} is not a {FORMAT} metadata file")
        frames = np.load(path / "frames.npy", mmap_mode="r" if mmap else None)
        with np.load(path / "labels.npz") as z:
            labels = {k: z[k] for k in z.files}
        with np.load(path / "info.npz") as z:
            info = {k: z[k] for k in z.files}
        split = np.load(path / "split.npy")
        label_values = meta.pop("label_values", {})
        for k in ("format", "format_version", "kind", "frames_shape", "frames_dtype"):
            meta.pop(k, None)
        return cls(frames, labels, label_values, split, info, meta)


def _warn_if_flat_video(width: int) -> None:
    """Vectors as wide as a square video frame (e.g. 12288 = 64 x 64 x 3) are likely flattened
    frames, which would train an MLP on pixels: say so (a warning: speech features can be any width)."""
    for c in (3, 1):
        h = round((width / c) ** 0.5)
        if h >= FLAT_FRAME_MIN_SIDE and h * h * c == width:
            warnings.warn(
                f"vector frames of width {width} = {h}x{h}x{c}: if these are flattened video frames, "
                f"reshape them to (N, T, {h}, {h}, {c}) or import them with `dsvae data import-arrays`",
                stacklevel=3,
            )
            return


def write_columns(
    folder: Path,
    labels: Mapping[str, np.ndarray],
    label_values: Mapping[str, list[str]],
    split: np.ndarray,
    info: Mapping[str, np.ndarray],
    meta: Mapping,
    frames_shape: tuple[int, ...],
    frames_dtype: str,
) -> None:
    """Everything of a dataset folder but the frames (for writers that stream frames.npy, which must
    be complete and flushed when this is called): labels, info, split and meta.json, with the sha256
    of every array (:func:`arrays_sha256`, the frames read back from ``folder/frames.npy``).

    Raises :class:`DatasetError` if ``frames.npy`` does not hold ``frames_shape`` of ``frames_dtype``."""
    labels = {k: np.asarray(v, dtype=np.int64) for k, v in labels.items()}
    info = {k: np.asarray(v) for k, v in info.items()}
    split = np.asarray(split, dtype=np.int8)
    np.savez(folder / "labels.npz", **labels)
    np.savez(folder / "info.npz", **info)
    np.save(folder / "split.npy", split)
    frames = np.load(folder / "frames.npy", mmap_mode="r")
    if frames.shape != tuple(frames_shape) or frames.dtype != np.dtype(frames_dtype):
        raise DatasetError(
            f"{folder / 'frames.npy'} holds {frames.shape} {frames.dtype}, its writer announced "
            f"{tuple(frames_shape)} {frames_dtype}"
        )
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "video" if len(frames_shape) == 5 else "vector",
        "frames_shape": list(frames_shape),
        "frames_dtype": frames_dtype,
        "label_values": {k: list(v) for k, v in label_values.items()},
        **meta,
        # the frames as stored, read back: the checksums hold whoever wrote them
        "array_sha256": arrays_sha256(frames, labels, label_values, info, split),
    }
    del frames  # the memory map
    # meta.json is the last file: its presence marks a complete folder
    (folder / "meta.json").write_text(
        json.dumps(full, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )


class FramesWriter:
    """The one writer of a dataset's ``frames.npy``: sequences of ``item_shape`` (``(T, H, W, C)``
    uint8 frames or ``(T, D)`` float32 vectors) written through a file handle (not a memory map: the
    pages written are not counted in the process's memory) into ``.frames.npy.partial-<pid>`` beside
    ``path``; :meth:`finish` writes the final header, flushes the file to disk (fsync) and renames it
    to ``path``, so a ``frames.npy`` that exists is complete. Leaving the ``with`` block without
    :meth:`finish` (an error, Ctrl-C) removes the partial file. :func:`write_columns` then reads the
    file back and checks its shape and dtype against what the writer announced.

    ``count=None``: the file grows by :meth:`append` / :meth:`extend` (and shrinks by
    :meth:`truncate`); numpy's header is padded to a multiple of 64 bytes, which leaves room for any
    length of the first axis, so :meth:`finish` writes the final count over the first one.
    ``count=N``: the shape is known; :meth:`write` fills rows at any position, in any order, and
    :meth:`finish` refuses a file with rows never written.

    Errors: ValueError for a block of another shape or dtype (or a row out of place), OSError of
    a full disk naming ``path``, :class:`DatasetError` from :meth:`finish` for missing rows."""

    def __init__(
        self, path: str | Path, item_shape: tuple[int, ...], dtype=np.uint8, count: int | None = None
    ) -> None:
        self.path = Path(path)
        self.item_shape = tuple(int(n) for n in item_shape)
        self.dtype = np.dtype(dtype)
        self.item_bytes = int(np.prod(self.item_shape, dtype=np.int64)) * self.dtype.itemsize
        self.fixed = count is not None
        self.count = int(count) if self.fixed else 0
        self._written = np.zeros(self.count, dtype=bool) if self.fixed else None
        self.partial = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self._finished = False
        try:
            self.file = open(self.partial, "w+b")
            self._write_header()
            self.header_bytes = self.file.tell()
            if self.fixed:  # the full size up front (sparse where the file system allows)
                self.file.truncate(self.header_bytes + self.count * self.item_bytes)
        except OSError as e:
            self._discard()
            raise named(e, self.path) from e

    def _write_header(self) -> None:
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.count, *self.item_shape),
        }
        np.lib.format.write_array_header_1_0(self.file, header)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(count, *item_shape)``: the shape of the file as written so far (fixed: as it will be)."""
        return (self.count, *self.item_shape)

    def write(self, row: int, block: np.ndarray) -> None:
        """Write ``block`` ``(k, *item_shape)`` into rows ``row .. row + k - 1``. A growing file
        takes rows up to its end only (no gaps)."""
        block = np.asarray(block)
        if block.shape[1:] != self.item_shape or block.dtype != self.dtype:
            raise ValueError(
                f"expected (k, {', '.join(map(str, self.item_shape))}) {self.dtype}, got {block.shape} "
                f"{block.dtype}"
            )
        stop = row + len(block)
        if row < 0 or (stop > self.count if self.fixed else row > self.count):
            raise ValueError(f"rows {row}..{stop - 1} do not fit {self.path.name} of {self.count} rows")
        try:
            self.file.seek(self.header_bytes + row * self.item_bytes)
            self.file.write(np.ascontiguousarray(block).data)
        except OSError as e:
            raise named(e, self.path) from e
        if self.fixed:
            self._written[row:stop] = True
        else:
            self.count = max(self.count, stop)

    def append(self, item: np.ndarray) -> None:
        """One sequence ``item_shape`` after the last row."""
        item = np.asarray(item)
        if item.shape != self.item_shape:
            raise ValueError(f"expected {self.item_shape} {self.dtype}, got {item.shape} {item.dtype}")
        self.write(self.count, item[None])

    def extend(self, block: np.ndarray) -> None:
        """Sequences ``(k, *item_shape)`` after the last row (a growing file)."""
        if self.fixed:
            raise ValueError("a frames file of known shape is filled with write(row, block)")
        self.write(self.count, block)

    def truncate(self, count: int) -> None:
        """Drop the rows from ``count`` on (a clip that failed halfway); a growing file only."""
        if self.fixed or not 0 <= count <= self.count:
            raise ValueError(f"cannot truncate {self.path.name} of {self.count} rows to {count}")
        self.file.seek(self.header_bytes + count * self.item_bytes)
        self.file.truncate()
        self.count = count

    def sha256(self, start: int, stop: int) -> str:
        """sha256 (hex) of the bytes of rows ``start .. stop - 1`` as written, read back from the file."""
        self.file.flush()
        self.file.seek(self.header_bytes + start * self.item_bytes)
        digest, left = hashlib.sha256(), (stop - start) * self.item_bytes
        while left:
            chunk = self.file.read(min(left, 64 << 20))
            if not chunk:
                raise DatasetError(f"{self.path} ends early")
            digest.update(chunk)
            left -= len(chunk)
        return digest.hexdigest()

    def finish(self) -> tuple[int, ...]:
        """Write the final header, flush the file to disk and rename it to ``path``; returns the shape.
        Raises :class:`DatasetError` for a file of known shape with rows never written."""
        if self.fixed and not self._written.all():
            missing = np.flatnonzero(~self._written)
            raise DatasetError(
                f"{self.path}: {len(missing)} of {self.count} rows were never written (the first: "
                f"{missing[0]}); the build is incomplete"
            )
        try:
            self.file.seek(0)
            self._write_header()
            if self.file.tell() != self.header_bytes:
                raise RuntimeError("the .npy header changed size; frames.npy would be corrupt")
            self.file.close()
            fsync_file(self.partial)
            os.replace(self.partial, self.path)
            fsync_dir(self.path.parent)
        except OSError as e:
            self._discard()
            raise named(e, self.path) from e
        self._finished = True
        return self.shape

    def _discard(self) -> None:
        if getattr(self, "file", None) is not None:
            self.file.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> FramesWriter:
        return self

    def __exit__(self, *exc) -> None:
        if not self._finished:
            self._discard()


def write_frames(path: str | Path, frames: np.ndarray, block_bytes: int = 64 << 20) -> tuple[int, ...]:
    """Write a whole frames array (possibly memory-mapped: read in blocks of about ``block_bytes``)
    as ``path`` through :class:`FramesWriter`; returns its shape."""
    frames = np.asarray(frames)
    with FramesWriter(path, frames.shape[1:], frames.dtype) as writer:
        rows = max(1, block_bytes // max(1, writer.item_bytes))
        for start in range(0, len(frames), rows):
            writer.extend(frames[start : start + rows])
        return writer.finish()


def array_sha256(array: np.ndarray, chunk_bytes: int = 64 << 20) -> str:
    """sha256 (hex) of an array's dtype, shape and C-order bytes. A memory-mapped array is read in
    chunks of about ``chunk_bytes`` along its first axis, so hashing never holds more in memory."""
    a = np.asarray(array)
    if a.dtype == object:
        a = a.astype(str)  # object columns (strings) hash by their text, as np.savez would store them
    digest = hashlib.sha256(f"{a.dtype.str} {a.shape}\n".encode())
    if a.ndim == 0 or a.size == 0:
        digest.update(a.tobytes())
        return digest.hexdigest()
    rows = max(1, chunk_bytes // max(1, a[0].nbytes))
    for i in range(0, len(a), rows):
        digest.update(np.ascontiguousarray(a[i : i + rows]).data)
    return digest.hexdigest()


def arrays_sha256(
    frames: np.ndarray,
    labels: Mapping[str, np.ndarray],
    label_values: Mapping[str, list[str]],
    info: Mapping[str, np.ndarray],
    split: np.ndarray,
) -> dict[str, str]:
    """The checksums a dataset folder records of its arrays (``meta["array_sha256"]``):
    ``{"frames", "labels", "info", "split": sha256 hex}``, each as :func:`array_sha256`; labels
    include their value names, labels and info their column names. Streams the frames (a memory
    map is fine); about one read of frames.npy."""

    def columns(cols: Mapping[str, np.ndarray], values: Mapping[str, list[str]] | None = None) -> str:
        digest = hashlib.sha256()
        for name in sorted(cols):
            if values is None:
                names, arr = "", np.asarray(cols[name])
            else:  # labels are stored as int64 whatever they were given as
                names = json.dumps([str(v) for v in values.get(name, [])])
                arr = np.asarray(cols[name], dtype=np.int64)
            digest.update(f"{name}\n{names}\n{array_sha256(arr)}\n".encode())
        return digest.hexdigest()

    return {
        "frames": array_sha256(frames),
        "labels": columns(labels, label_values),
        "info": columns(info),
        "split": array_sha256(np.asarray(split, dtype=np.int8)),
    }


def data_checksums(dataset: SequenceDataset) -> dict:
    """What a run records of the data it trains on, and compares when it reopens it: the source's own
    checksums (``meta["checksums"]``, e.g. the published Sprites ones) and, under ``"arrays"``, the
    sha256 of the stored arrays (``meta["array_sha256"]``, written when the folder was built). Data
    that has none (generated now, or a folder built before dsvae recorded them) gets them computed
    here from the full arrays (one read of the frames) and kept in ``dataset.meta``."""
    meta = dataset.meta
    if not meta.get("array_sha256"):
        meta["array_sha256"] = arrays_sha256(
            dataset.frames, dataset.labels, dataset.label_values, dataset.info, dataset.split
        )
    return {**(meta.get("checksums") or {}), "arrays": dict(meta["array_sha256"])}


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in meta.json")
