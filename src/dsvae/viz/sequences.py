"""Naming and picking the sequences a picture shows, and turning a model's batches into clips.

A label names a sequence by its split and number and by the columns that say who it is (static
side, :data:`STATIC_KEYS`) and what it does (dynamic side, :data:`DYNAMIC_KEYS`). Pictures pick
sequences in a seeded order, with distinct characters (or motions) as far as the data has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.base import SequenceDataset
from .grids import default_scale, heatmap, to_uint8, upscale

# columns that name the static side of a sequence (who) and the dynamic side (what it does), in order
# of preference; a label shows its value name, an info column "<short name> <value>"
STATIC_KEYS = {"character": "char", "speaker": "speaker"}
DYNAMIC_KEYS = {"motion": "motion", "digit": "digit"}


def _first_key(ds: SequenceDataset, keys: dict[str, str]) -> str | None:
    return next((k for k in keys if k in ds.labels or k in ds.info), None)


def _column(ds: SequenceDataset, key: str) -> np.ndarray:
    return ds.label_array(key) if key in ds.labels else ds.info_array(key)


def _value_text(ds: SequenceDataset, key: str, short: str, pos: int) -> str:
    if key in ds.labels:
        name = ds.label_values[key][int(ds.label_array(key)[pos])]
        return f"{short} {name}" if name.isdigit() else name
    return f"{short} {ds.info_array(key)[pos]}"


def describe(ds: SequenceDataset, pos: int, part: str | None = None) -> str:
    """Name the sequence at position ``pos`` of the view: ``"test #12 (char 345, slash_left)"``, the
    number counting within its split. ``part="f"`` names the static side only (``"f: test #12 (char
    345)"``), ``part="z"`` the dynamic side only (``"z: test #7 (slash_left)"``)."""
    row = int(ds.index[pos])
    split = int(ds.split[row])
    number = int((ds.split[:row] == split).sum())
    key_sets = {"f": [STATIC_KEYS], "z": [DYNAMIC_KEYS], None: [STATIC_KEYS, DYNAMIC_KEYS]}[part]
    bits = []
    for keys in key_sets:
        key = _first_key(ds, keys)
        if key is not None:
            bits.append(_value_text(ds, key, keys[key], pos))
    text = f"{'test' if split else 'train'} #{number}" + (f" ({', '.join(bits)})" if bits else "")
    return f"{part}: {text}" if part else text


def pick(
    ds: SequenceDataset, count: int, rng: np.random.Generator, keys: dict[str, str], exclude=()
) -> np.ndarray:
    """``count`` positions (int64) in a seeded random order, with distinct values of the first of
    ``keys`` the dataset has (distinct characters, distinct motions) as far as there are; fewer if
    the view is smaller. Positions in ``exclude`` are never picked."""
    order = rng.permutation(len(ds))
    order = order[~np.isin(order, np.asarray(exclude, dtype=np.int64))]
    key = _first_key(ds, keys)
    if key is None:
        return order[:count]
    values = _column(ds, key)
    chosen: list[int] = []
    seen: set = set()
    for p in order:
        if values[p] not in seen:
            chosen.append(int(p))
            seen.add(values[p])
            if len(chosen) == count:
                return np.array(chosen)
    rest = [int(p) for p in order if int(p) not in chosen]
    return np.array(chosen + rest[: count - len(chosen)], dtype=np.int64)


@dataclass
class ClipMaker:
    """Model-space batches -> clips ``(T', h, w, 3)`` uint8, ready to place in a
    :class:`~dsvae.viz.grids.Grid`: video frames ``(B, T, C, H, W)`` enlarged by ``scale``; vector
    sequences ``(B, T, D)`` as one heatmap frame each (T' = 1), ``value_range`` (denormalized
    feature values) spread over the colour map."""

    dataset: SequenceDataset
    scale: tuple[int, int]
    value_range: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def for_dataset(cls, dataset: SequenceDataset, originals: torch.Tensor) -> ClipMaker:
        if dataset.kind == "video":
            return cls(dataset, (default_scale(dataset.frame_shape[-1]),) * 2)
        d = dataset.frame_shape[0]
        sy = default_scale(d)
        # the colour map spans the originals' values (outliers aside), the same for every cell
        values = dataset.denormalize(originals).float().cpu().numpy()
        lo, hi = np.percentile(values, [1, 99])
        return cls(dataset, (sy, max(1, d * sy // dataset.T)), (float(lo), float(hi)))

    def __call__(self, x: torch.Tensor) -> list[np.ndarray]:
        if self.dataset.kind == "video":
            return [upscale(to_uint8(seq), self.scale) for seq in x]
        values = self.dataset.denormalize(x).float().cpu().numpy()
        return [upscale(heatmap(seq, self.value_range)[None], self.scale) for seq in values]
