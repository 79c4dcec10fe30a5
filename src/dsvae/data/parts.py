"""A label split into parts: the structure a dataset declares of one of its labels.

Some labels combine simpler ones: Sprites' nine motions are three actions (walk, spellcast, slash)
times three directions (front, left, right), label = 3 * action + direction. A dataset declares such
a split in its meta.json under ``"label_parts"``: for each split label, for each part, the part's
values in order, each with the label's values it covers (by name)::

    "label_parts": {
      "motion": {
        "action": {"walk": ["walk_front", "walk_left", "walk_right"],
                   "spellcast": ["spellcast_front", "spellcast_left", "spellcast_right"],
                   "slash": ["slash_front", "slash_left", "slash_right"]},
        "direction": {"front": ["walk_front", "spellcast_front", "slash_front"],
                      "left": ["walk_left", "spellcast_left", "slash_left"],
                      "right": ["walk_right", "spellcast_right", "slash_right"]}
      }
    }

A declaration is a split when, for every part, each value of the label is listed under exactly one
value of the part and every value of the part lists one or more; and when the parts together tell
every two values of the label apart (no part is missing). :func:`read_label_parts` refuses anything
else, naming the value at fault. :func:`product_parts` writes the declaration of a label whose values
are the row-major product of its parts' values (Sprites: ``product_parts(MOTIONS, {"action":
ACTIONS, "direction": DIRECTIONS})``).

What `dsvae eval` does with it: every protocol that scores the label scores each part too, the
part of what the judge reads being the part read (:mod:`dsvae.evaluate.protocols`).

This module is a leaf of :mod:`dsvae.data` (numpy only): :mod:`dsvae.data.base` reads a dataset's
declaration through it where the data enters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PARTS_KEY = "label_parts"  # the key of meta.json that declares the splits
FORM = "{label: {part: {part value: [label values]}}}"


class LabelPartsError(ValueError):
    """A declared split that is no split: the message names the label, the part and the value."""


@dataclass(frozen=True)
class LabelParts:
    """One label split into parts: ``label`` (its name), ``parts`` {part: its value names, in
    order} and ``index`` {part: (K,) int64, the part's value of each of the label's K values}."""

    label: str
    parts: dict[str, tuple[str, ...]]
    index: dict[str, np.ndarray]

    def split(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Classes of the label (an int array of any shape, values in [0, K)) -> {part: the part's
        classes, the same shape}. Raises ValueError for a class outside [0, K)."""
        y = np.asarray(y)
        k = len(next(iter(self.index.values())))
        if y.size and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"classes of {self.label!r} lie in [0, {k - 1}], got [{y.min()}, {y.max()}]")
        return {part: idx[y] for part, idx in self.index.items()}

    def num_classes(self) -> dict[str, int]:
        """{part: how many values it has}."""
        return {part: len(values) for part, values in self.parts.items()}


def product_parts(values: Sequence[str], parts: Mapping[str, Sequence[str]]) -> dict:
    """The declaration ({part: {part value: [label values]}}) of a label whose ``values`` are the
    row-major product of its ``parts``' values: value i has, for parts of sizes (n_1, ..., n_m), the
    digits of i in that mixed radix (Sprites: motion = 3 * action + direction). Raises
    LabelPartsError where the label's number of values is not the product of the parts' sizes."""
    sizes = [len(v) for v in parts.values()]
    if len(values) != math.prod(sizes):
        raise LabelPartsError(
            f"a label of {len(values)} values is no product of parts of {' x '.join(map(str, sizes))} values"
        )
    digits = np.array(np.unravel_index(np.arange(len(values)), sizes))  # (parts, K)
    return {
        part: {v: [values[i] for i in np.flatnonzero(digits[p] == j)] for j, v in enumerate(part_values)}
        for p, (part, part_values) in enumerate(parts.items())
    }


def read_label_parts(
    declared: Mapping | None, label_values: Mapping[str, Sequence[str]]
) -> dict[str, LabelParts]:
    """{label: :class:`LabelParts`} of a declaration (meta.json's ``label_parts``, None: none) for
    a dataset whose labels have the value names ``label_values``. Raises LabelPartsError for a
    declaration that is not of the form of the module docstring, names a label or a label value the
    dataset does not have, lists a label value under two values of a part or under none, or whose
    parts do not tell two values of the label apart."""
    if declared is None:
        return {}
    if not isinstance(declared, Mapping):
        raise LabelPartsError(f"{PARTS_KEY} must be an object {FORM}, got {type(declared).__name__}")
    out = {}
    for label, parts in declared.items():
        if label not in label_values:
            raise LabelPartsError(
                f"{PARTS_KEY} splits {label!r}, which is no label of the dataset (its labels: "
                f"{', '.join(sorted(label_values)) or 'none'})"
            )
        out[label] = _read_split(str(label), parts, [str(v) for v in label_values[label]])
    return out


def _read_split(label: str, parts, values: list[str]) -> LabelParts:
    """The :class:`LabelParts` of one label's declaration ``parts`` (its values named ``values``)."""
    if not isinstance(parts, Mapping) or len(parts) < 2:
        raise LabelPartsError(
            f"{PARTS_KEY}.{label} must name two parts or more, each {{part value: [{label} values]}}, "
            f"got {parts!r}"
        )
    names, index = {}, {}
    for part, groups in parts.items():
        if not isinstance(part, str) or not part or "." in part:
            raise LabelPartsError(
                f"{PARTS_KEY}.{label}: a part's name is a non-empty string without '.', got {part!r}"
            )
        names[part], index[part] = _read_part(label, part, groups, values)
    key = np.stack([index[p] for p in names], axis=1)  # (K, parts): each value's parts
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for i, j in enumerate(first[inverse]):
        if i != j:
            same = ", ".join(f"{p} {names[p][index[p][i]]!r}" for p in names)
            raise LabelPartsError(
                f"{PARTS_KEY}.{label}: the values {values[j]!r} and {values[i]!r} have the same parts "
                f"({same}), so the parts do not tell them apart: a part is missing from the split"
            )
    return LabelParts(label, names, index)


def _read_part(label: str, part: str, groups, values: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """(the part's value names, (K,) the part's value of each label value) of one part's declaration
    ``groups`` {part value: [label values]}."""
    where = f"{PARTS_KEY}.{label}.{part}"
    if not isinstance(groups, Mapping) or not groups:
        raise LabelPartsError(f"{where} must be an object {{{part} value: [{label} values]}}, got {groups!r}")
    position = {v: i for i, v in enumerate(values)}
    index = np.full(len(values), -1, dtype=np.int64)
    for j, (value, members) in enumerate(groups.items()):
        if isinstance(members, str) or not isinstance(members, Sequence) or not members:
            raise LabelPartsError(f"{where}.{value} must list one {label} value or more, got {members!r}")
        for m in members:
            if m not in position:
                raise LabelPartsError(
                    f"{where}.{value} lists {m!r}, which is no value of {label} "
                    f"(its values: {', '.join(values)})"
                )
            i = position[m]
            if index[i] == j:
                raise LabelPartsError(f"{where}.{value} lists the {label} value {m!r} twice")
            if index[i] >= 0:
                raise LabelPartsError(
                    f"{where}: the {label} value {m!r} is under two values of {part}, "
                    f"{list(groups)[index[i]]!r} and {value!r}; each {label} value has one value of each part"
                )
            index[i] = j
    missing = [values[i] for i in np.flatnonzero(index < 0)]
    if missing:
        raise LabelPartsError(
            f"{where}: the {label} values {', '.join(map(repr, missing))} are under no value of {part}; "
            f"each {label} value has one value of each part"
        )
    return tuple(str(v) for v in groups), index


__all__ = ["PARTS_KEY", "LabelParts", "LabelPartsError", "product_parts", "read_label_parts"]
