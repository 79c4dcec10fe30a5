"""Datasets: one interface (:class:`SequenceDataset`) for every source.

Sources: the embedded procedural dataset (``synthetic``), the real Sprites benchmark (``sprites``),
speech features (FSDD, TIMIT), the user's own videos, and arrays a user brings.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import DatasetError, SequenceDataset, atomic_dataset_dir, atomic_write_bytes

DEFAULT_DATA_ROOT = Path(os.environ.get("DSVAE_DATA", "data"))
GENERATED = {"synthetic": 0, "synthetic-shifted": 8}  # generated datasets: name -> max_x_offset
BUILT = ("sprites", "fsdd")  # built by `dsvae data NAME` into DEFAULT_DATA_ROOT / NAME


def open_dataset(spec: str | Path, seed: int = 0) -> SequenceDataset:
    """``"synthetic"`` (generated now), ``"synthetic-shifted"`` (the same characters and motions, each
    sequence at its own horizontal position: harder), ``"sprites"`` (built with ``dsvae data sprites``
    into ``$DSVAE_DATA/sprites``, default ``data/sprites``) or the path of a dataset folder."""
    spec = str(spec)
    if spec in GENERATED:
        from .synthetic import make_synthetic

        return make_synthetic(seed=seed, max_x_offset=GENERATED[spec])
    if spec in BUILT:
        path = DEFAULT_DATA_ROOT / spec
        if not (path / "meta.json").exists():
            how = {
                "sprites": "dsvae data sprites --out data/sprites (downloads the sheets; or --sheets DIR)",
                "fsdd": "dsvae data fsdd --out data/fsdd (downloads the recordings; or --root DIR)",
            }[spec]
            raise DatasetError(
                f"the {spec} dataset is not built at {path}; build it first:\n  {how}\n"
                f"(or set DSVAE_DATA to the folder that holds {spec}/, or pass its path)"
            )
        return SequenceDataset.open(path)
    path = Path(spec)
    if not path.exists():
        raise DatasetError(
            f"--data {spec!r}: not {', '.join(repr(n) for n in (*GENERATED, *BUILT))} nor an existing "
            "dataset folder"
        )
    return SequenceDataset.open(path)


__all__ = [
    "DatasetError",
    "SequenceDataset",
    "atomic_dataset_dir",
    "atomic_write_bytes",
    "open_dataset",
    "DEFAULT_DATA_ROOT",
    "GENERATED",
    "BUILT",
]
