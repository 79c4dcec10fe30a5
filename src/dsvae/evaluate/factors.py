"""Which factor lives where: static and dynamic labels, and per-factor swap and sample scores.

**Static or dynamic.** A label is *static* when it belongs to the sequence's identity (f should
carry it: a character's clothes, a speaker) and *dynamic* when it is what happens in the sequence (z
should carry it: the motion, the digit said). Labels are stored per sequence in this project, so
"constant within a sequence" cannot be read from them alone; the rule, first that applies:

1. what the caller says (``static=`` / ``dynamic=``, ``dsvae eval --static/--dynamic``);
2. what the dataset declares: ``meta["static_labels"]`` / ``meta["dynamic_labels"]`` (the
   embedded data declares skin, top, bottom, hair static and motion dynamic);
3. the data: where sequences have an identity (the ``character`` column, else ``speaker``), a label
   constant over all the sequences of every identity is static, one that varies within an identity
   is dynamic (Sprites: body, bottom, top, hair never change within a character, the motion does;
   FSDD: the speaker is constant per speaker, the digit varies);
4. otherwise by name: ``motion`` is dynamic, every other label static (as the paper's protocol).

**Scores per factor** (pure functions of the judge's predictions, class indices):

- swap, decode (f of a, z of b): on the pairs whose labels of the factor differ, the rate at which the
  judge reads a's label (follows f), b's label (follows z), or neither;
- samples: (f of a, z from the prior) -> the rate of reading a's label (the factor follows f);
  (f from the prior, z of a) -> the rate of reading a's label (the factor follows z).

Each gives a factors x {f, z} matrix M; the ideal puts each factor on its own latent. The
**assignment score** is mean_k (M[k, home_k] - M[k, other_k]): 1 for the ideal assignment, 0 when the
judge reads the factor from both latents equally (or at chance from both), -1 when every factor
follows the wrong latent. A judge answering at random follows each latent at 1/K_k (the chance level
of a factor with K_k classes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..data.base import SequenceDataset

STATIC, DYNAMIC = "static", "dynamic"
IDENTITY_COLUMNS = ("character", "speaker")  # in order of preference
MOTION = "motion"  # the dynamic label of the paper's data; rule 4 takes a label of this name as dynamic


def factor_kinds(
    labels: Mapping[str, np.ndarray],
    meta: Mapping | None = None,
    identity: np.ndarray | None = None,
    static: Sequence[str] = (),
    dynamic: Sequence[str] = (),
) -> tuple[dict[str, str], dict[str, str]]:
    """label -> "static" | "dynamic" for every label of ``labels`` (name -> (N,) ints), and label ->
    the rule that decided it ("given", "declared", "identity", "name"): see the module docstring.
    ``identity``: (N,) ids of the sequences' identities (e.g. characters) or None."""
    both = set(static) & set(dynamic)
    if both:
        raise ValueError(f"labels given as both static and dynamic: {sorted(both)}")
    unknown = (set(static) | set(dynamic)) - set(labels)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; the labels are {sorted(labels)}")
    meta = meta or {}
    declared_static, declared_dynamic = (
        set(meta.get("static_labels", ())),
        set(meta.get("dynamic_labels", ())),
    )
    kinds, rules = {}, {}
    for name, values in labels.items():
        if name in static or name in dynamic:
            kinds[name], rules[name] = (STATIC if name in static else DYNAMIC), "given"
        elif name in declared_static or name in declared_dynamic:
            kinds[name], rules[name] = (STATIC if name in declared_static else DYNAMIC), "declared"
        elif identity is not None and len(np.unique(identity)) < len(identity):
            constant = constant_within_groups(np.asarray(values), np.asarray(identity))
            kinds[name], rules[name] = (STATIC if constant else DYNAMIC), "identity"
        else:
            kinds[name], rules[name] = (DYNAMIC if name == MOTION else STATIC), "name"
    return kinds, rules


def constant_within_groups(values: np.ndarray, groups: np.ndarray) -> bool:
    """Whether ``values`` (N,) takes one value within every group of ``groups`` (N,)."""
    if values.shape != groups.shape:
        raise ValueError(f"values {values.shape} and groups {groups.shape} must have one entry per sequence")
    _, g = np.unique(groups, return_inverse=True)
    order = np.lexsort((values, g))
    gs, vs = g[order], values[order]
    same_group = gs[1:] == gs[:-1]
    return bool((vs[1:][same_group] == vs[:-1][same_group]).all())


def dataset_factor_kinds(
    ds: SequenceDataset, static: Sequence[str] = (), dynamic: Sequence[str] = ()
) -> tuple[dict[str, str], dict[str, str]]:
    """:func:`factor_kinds` of a whole dataset (every split): its labels, meta and identity column."""
    identity = None
    for col in IDENTITY_COLUMNS:
        if col in ds.info:
            identity = ds.info[col][ds.index]
            break
        if col in ds.labels:
            identity = ds.label_array(col)
            break
    return factor_kinds(
        {k: ds.label_array(k) for k in ds.labels}, ds.meta, identity, static=static, dynamic=dynamic
    )


def swap_following(pred: np.ndarray, label_f: np.ndarray, label_z: np.ndarray) -> dict[str, float | int]:
    """Of swapped videos decode(f of a, z of b): the judge's predictions ``pred`` (N,) against a's
    labels ``label_f`` (N,) and b's ``label_z`` (N,). Only pairs with different labels count:
    ``{"f": rate pred == a's, "z": rate pred == b's, "neither": the rest, "pairs": how many}``
    (rates NaN where no pair differs)."""
    pred, label_f, label_z = (np.asarray(a) for a in (pred, label_f, label_z))
    if not pred.shape == label_f.shape == label_z.shape or pred.ndim != 1:
        raise ValueError("pred, label_f and label_z must be (N,) arrays of one length")
    differ = label_f != label_z
    n = int(differ.sum())
    if n == 0:
        return {"f": float("nan"), "z": float("nan"), "neither": float("nan"), "pairs": 0}
    f = float((pred[differ] == label_f[differ]).mean())
    z = float((pred[differ] == label_z[differ]).mean())
    return {"f": f, "z": z, "neither": 1.0 - f - z, "pairs": n}


def assignment_score(matrix: np.ndarray, home: Sequence[str]) -> float:
    """mean_k (M[k, home_k] - M[k, other_k]) of a factors x {f, z} matrix ``matrix`` (K, 2) (column 0
    f, column 1 z) and each factor's latent ``home`` ("f" or "z"): 1 ideal, 0 no separation, -1
    reversed. Factors with a NaN entry (no differing pair) are left out; NaN if none is left."""
    M = np.asarray(matrix, dtype=np.float64)
    if M.ndim != 2 or M.shape != (len(home), 2):
        raise ValueError(f"matrix must be (K, 2) for K = {len(home)} factors, got shape {M.shape}")
    if any(h not in ("f", "z") for h in home):
        raise ValueError(f"home must name 'f' or 'z' per factor, got {list(home)}")
    col = np.array([0 if h == "f" else 1 for h in home])
    rows = np.arange(len(home))
    diff = M[rows, col] - M[rows, 1 - col]
    diff = diff[np.isfinite(diff)]
    return float(diff.mean()) if len(diff) else float("nan")


def motion_label(kinds: Mapping[str, str]) -> str | None:
    """The label the paper's protocol scores as the motion (what the dynamic latent z should carry)
    among ``kinds`` (label -> "static" | "dynamic", :func:`factor_kinds`): the dynamic label, whatever
    its name (``--dynamic action`` makes "action" the motion); where several are dynamic, the one named
    "motion", else the first. None when no label is dynamic."""
    dynamic = [k for k, kind in kinds.items() if kind == DYNAMIC]
    if not dynamic:
        return None
    return MOTION if MOTION in dynamic else dynamic[0]


def home_latent(kind: str) -> str:
    """The latent a factor of ``kind`` should follow: f for static, z for dynamic."""
    return "f" if kind == STATIC else "z"


__all__ = [
    "DYNAMIC",
    "MOTION",
    "STATIC",
    "assignment_score",
    "constant_within_groups",
    "dataset_factor_kinds",
    "factor_kinds",
    "home_latent",
    "motion_label",
    "swap_following",
]
