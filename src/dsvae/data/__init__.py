"""Datasets: one interface (:class:`SequenceDataset`) for every source.

Sources (the table :data:`dsvae.data.sources.BUILTIN`, and users' sources of installed packages,
entry point group ``dsvae.data``): the embedded procedural dataset (``synthetic``), the real Sprites
benchmark (``sprites``), speech features (FSDD, TIMIT), the user's own videos, and arrays a user
brings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import did_you_mean
from . import sources
from .base import (
    DatasetError,
    SequenceDataset,
    arrays_sha256,
    atomic_dataset_dir,
    atomic_write_bytes,
    write_columns,
)
from .sources import Source, SourceError

DEFAULT_DATA_ROOT = Path(os.environ.get("DSVAE_DATA", "data"))
# the built-in names --data takes: generated now, or built by `dsvae data NAME` into DEFAULT_DATA_ROOT/NAME
GENERATED = tuple(s.name for s in sources.BUILTIN if s.made == "generated")
BUILT = tuple(s.name for s in sources.BUILTIN if s.made == "built")


def _is_name(spec: str) -> bool:
    """Whether ``spec`` can be a source name rather than a path (no separator, no dot first)."""
    return bool(spec) and "/" not in spec and os.sep not in spec and not spec.startswith(".")


def built_folder(spec: str | Path) -> Path | None:
    """Where ``--data spec`` looks for a built source (``DEFAULT_DATA_ROOT / NAME`` for sprites, fsdd
    and every user's source; nothing is imported), or None when ``spec`` names no built source."""
    spec = str(spec)
    if spec in BUILT or (_is_name(spec) and spec not in GENERATED and spec in sources.user_source_names()):
        return DEFAULT_DATA_ROOT / spec
    return None


def open_dataset(spec: str | Path, seed: int = 0) -> SequenceDataset:
    """The dataset ``--data spec`` names: a generated source (``"synthetic"``, generated now;
    ``"synthetic-shifted"``, the same characters and motions, each sequence at its own horizontal
    position: harder; ``seed`` picks the draw), a built source (``"sprites"``, ``"fsdd"`` or a user's
    source: built with ``dsvae data NAME`` into ``$DSVAE_DATA/NAME``, default ``data/NAME``) or the
    path of a dataset folder.

    Raises :class:`DatasetError` for a built source not built yet (with its build command) or a spec
    that is neither a source nor a folder (with the closest source names); :class:`SourceError` for a
    user's source whose package does not import (naming the package)."""
    spec = str(spec)
    source = sources.builtin(spec)
    if source is not None and source.made == "generated":
        make = sources.resolve(source.generator)
        return make(seed=seed, **source.generator_options)
    folder = built_folder(spec)
    if folder is not None:
        if not (folder / "meta.json").exists():
            raise DatasetError(sources.not_built_message(source or sources.find(spec), folder))
        return SequenceDataset.open(folder)
    path = Path(spec)
    if not path.exists():
        names = ", ".join(repr(n) for n in sources.all_names(openable=True))
        raise DatasetError(
            f"--data {spec!r}: not {names} nor an existing dataset folder ({sources.unknown_message(spec)})"
        )
    return SequenceDataset.open(path)


def build_source(name: str, out: str | Path | None = None, force: bool = False, **options) -> SequenceDataset:
    """Build the user's source ``name`` (an installed package's entry point, group ``dsvae.data``)
    into ``out`` (default ``$DSVAE_DATA/NAME``, where ``--data NAME`` opens it) and return it opened.

    The builder writes a fresh folder (a path that does not exist yet, inside dsvae's work folder);
    dsvae then checks it like any dataset folder (meta.json, shapes, labels, the sha256 of every
    array against ``meta["array_sha256"]``), names it ``name`` in meta.json (a builder may set it
    itself, to that name only), records ``meta["data_source"]`` (name, origin: package and version,
    options) and puts it in place atomically: an existing ``out`` is replaced only with ``force``; an
    error or Ctrl-C leaves ``out`` as it was. ``options``: the builder's keyword arguments.

    Raises :class:`SourceError` (unknown source or option, a package that does not import, a
    built-in name: those have their own ``dsvae data`` command), :class:`DatasetError` (what the
    builder wrote is not a dataset of the source's kind), FileExistsError (``out`` exists, no force)."""
    source = sources.find(name)
    if source.builder is None:
        raise SourceError(f"{name!r} is built by its own command: {source.build_command(out)}")
    known = {o.name: o for o in sources.builder_options(source)}
    for key in options:
        if key not in known:
            raise SourceError(
                f"data source {name!r} has no option {key!r}: "
                + (did_you_mean(key, list(known)) if known else "it takes none")
            )
    out = Path(out) if out is not None else DEFAULT_DATA_ROOT / name
    with atomic_dataset_dir(out, force=force) as tmp:
        staged = tmp / "dataset"
        source.builder(staged, **options)
        _check_built(staged, source, {**{k: o.default for k, o in known.items()}, **options})
        for entry in list(staged.iterdir()):
            os.replace(entry, tmp / entry.name)
        staged.rmdir()
    return SequenceDataset.open(out)


def _check_built(folder: Path, source: Source, options: dict) -> None:
    """Refuse what a builder wrote unless it is a complete dataset folder of ``source``'s kind whose
    arrays hash to the checksums its meta.json records; then write its name and provenance there."""
    who = f"the builder of data source {source.name!r} ({source.origin})"
    if not (folder / "meta.json").exists():
        raise DatasetError(
            f"{who} wrote no dataset folder at the path it was given (no {folder.name}/meta.json): write "
            "it with SequenceDataset.from_arrays(...).save(out) or atomic_dataset_dir(out) + write_columns"
        )
    ds = SequenceDataset.open(folder)  # shapes, labels, split; numpy never unpickles (allow_pickle=False)
    if ds.kind != source.kind:
        raise DatasetError(
            f"{who} wrote {ds.kind} frames {ds.frames.shape}; the source declares {source.kind}"
        )
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    recorded = meta.get("array_sha256")
    if recorded != arrays_sha256(ds.frames, ds.labels, ds.label_values, ds.info, ds.split):
        raise DatasetError(
            f"{who} wrote arrays whose sha256 differ from those its meta.json records "
            f"({'none recorded' if not recorded else 'changed after they were written'}): write the "
            "folder with SequenceDataset.save or write_columns, and change nothing after"
        )
    del ds  # the memory map of frames.npy, before the folder moves
    if meta.setdefault("name", source.name) != source.name:
        raise DatasetError(
            f"{who} names its dataset {meta['name']!r} in meta.json; a source's datasets carry its name "
            f"({source.name!r}: how dsvae eval finds its judge): leave meta['name'] out or set it to that"
        )
    meta["data_source"] = {
        "name": source.name,
        "origin": source.origin,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


__all__ = [
    "DatasetError",
    "Source",
    "SourceError",
    "SequenceDataset",
    "atomic_dataset_dir",
    "atomic_write_bytes",
    "build_source",
    "built_folder",
    "open_dataset",
    "write_columns",
    "DEFAULT_DATA_ROOT",
    "GENERATED",
    "BUILT",
]
