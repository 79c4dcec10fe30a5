"""The schema of RUN/metrics.json: every section a typed record that knows which of its fields are scores.

`dsvae eval` writes metrics.json as one JSON object of sections (``paper_protocol``, ``swap``,
``reconstruction``, ``latents``, ...). Each section is declared here once, as a :class:`Section` of
:class:`Field` s: a field is a path inside the section (``"attributes.*"``: any key one level down;
``"**"``: everything below) and, when it is a score, a :class:`Score` with its direction (higher or
lower is better, or neither where the good side depends on the label, as a probe reading a label
from f) and its unit. Readers (`dsvae compare`, docs/tables.py, viz, report) ask the records which
numbers are scores and how to show them; a key that no field declares is kept and shown, never
silently a score.

A number may be one value or ``{"mean", "std"}`` over evaluation seeds; a score's value is then the
mean (the spread over training seeds is what `dsvae compare` measures).

Versions (``"schema"``, the first key of metrics.json): 1 is every file written before the key
existed (same sections; read as they are), 2 adds the key and the ``user_metrics`` section
(:class:`UserMetricRecord`, written by ``dsvae eval --metric``). The ``model`` section (which
checkpoint was scored: epoch, step) is provenance, not a score, in every version. A version
changes when a reader must read a file differently; fields that a file may or may not have are
declared within it: the scores of the parts of a split label (:mod:`dsvae.data.parts`; the
``parts`` keys of ``paper_protocol``, ``swap``, ``factors``, ``judge_audit.*`` and
``latents.probes.*``, and ``motion_scores.acc_parts``) are in the files of data that declares a
split and of a dsvae that scores it, absent from the others (version 2 either way); an older
dsvae shows them as undeclared numbers, never as scores.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2
# The version of the numbers `dsvae eval` computes: one model, judge and evaluation seed on one kernel
# kind give the same bits under one scoring version, and any change to dsvae that alters a score's
# bits must raise it. 1: files without the key (scored before BatchNorm was folded into the
# convolutions for scoring); 2: the fold and cache-sized per-frame chunks (dsvae.device.
# fold_for_inference, per_frame), which move a few judged sequences of a bf16 run.
SCORING_VERSION = 2
DIRECTIONS = ("higher", "lower", None)
# the unit of a rate stored as a fraction in [0, 1] and shown as a percentage
FRACTION = "fraction"


@dataclass(frozen=True)
class Score:
    """How to read one score: ``direction`` "higher" or "lower" is better (None: neither, e.g. a KL
    term, or a probe whose good side depends on the label's kind), ``unit`` (:data:`FRACTION`: a rate
    in [0, 1] shown as %; "nats", "dB", "min", "dims", ...; "" for a pure number), ``heading``: the
    short column heading where the score is in `dsvae compare`'s headline table (None: not there),
    ``about``: one line on what it measures. Raises ValueError for another direction."""

    direction: str | None = "higher"
    unit: str = ""
    heading: str | None = None
    about: str = ""

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"a score's direction is 'higher', 'lower' or None, got {self.direction!r}")
        if not isinstance(self.unit, str):
            raise ValueError(f"a score's unit is a string (e.g. 'nats', 'fraction'), got {self.unit!r}")

    @property
    def arrow(self) -> str:
        """↑ (higher is better), ↓ (lower is better) or "" (neither)."""
        return {"higher": "↑", "lower": "↓"}.get(self.direction, "")

    def to_dict(self) -> dict:
        return {"direction": self.direction, "unit": self.unit, "about": self.about}

    @classmethod
    def from_dict(cls, d: Mapping) -> Score:
        """A score declared in metrics.json (``user_metrics``); raises ValueError for a malformed one."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a score declaration is an object with direction and unit, got {d!r}")
        return cls(d.get("direction"), str(d.get("unit", "")), None, str(d.get("about", "")))


@dataclass(frozen=True)
class Field:
    """One path inside a section (dotted; ``*`` any one key, a last ``**`` everything below) and its
    :class:`Score`, None where it is not a score (provenance, settings, chance levels, notes)."""

    path: str
    score: Score | None = None

    def matches(self, parts: tuple[str, ...]) -> bool:
        pattern = self.path.split(".")
        if pattern[-1] == "**":
            pattern = pattern[:-1]
            parts = parts[: len(pattern)]
        return len(pattern) == len(parts) and all(p in ("*", k) for p, k in zip(pattern, parts))


@dataclass(frozen=True)
class Section:
    """A declared section of metrics.json: its ``fields`` in order (the first that matches a path
    wins, so a named instance such as ``dci.gbt.f+z.D`` comes before its pattern ``dci.*.*.D``)."""

    name: str
    fields: tuple[Field, ...]
    about: str = ""

    def field_of(self, parts: tuple[str, ...]) -> Field | None:
        return next((f for f in self.fields if f.matches(parts)), None)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def leaves(value: Any, parts: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every leaf of a JSON value: a ``{"mean", "std"}`` over evaluation seeds is one
    leaf (its mean), lists and strings are leaves, an empty object is none."""
    if isinstance(value, Mapping):
        if set(value) == {"mean", "std"}:
            yield parts, value["mean"]
            return
        for k, v in value.items():
            yield from leaves(v, (*parts, str(k)))
    else:
        yield parts, value


@dataclass
class SectionRecord:
    """One section of metrics.json as read: its ``name``, its JSON ``value`` (kept exactly, so that
    :meth:`to_dict` gives back what was read) and its declaration."""

    name: str
    value: Any
    section: Section

    @classmethod
    def from_dict(cls, name: str, value: Any) -> SectionRecord:
        return cls(name, value, SECTIONS.get(name, Section(name, ())))

    def to_dict(self) -> Any:
        return self.value

    def scores(self) -> dict[str, tuple[float, Score]]:
        """``{dotted key: (value, Score)}`` of the declared score fields holding a finite-or-not
        number (None, strings and lists are not scores); keys start with the section's name."""
        out = {}
        for parts, v in leaves(self.value):
            f = self.section.field_of(parts)
            if f is not None and f.score is not None and _is_number(v):
                out[".".join((self.name, *parts))] = (float(v), f.score)
        return out

    def undeclared(self) -> list[str]:
        """Dotted keys of the numbers no field declares (shown by readers, never taken as scores)."""
        return [
            ".".join((self.name, *parts))
            for parts, v in leaves(self.value)
            if _is_number(v) and self.section.field_of(parts) is None
        ]


@dataclass
class UserMetricRecord:
    """One user metric's results (``user_metrics.NAME``, written by ``dsvae eval --metric``):
    ``scores`` {key: number}, ``declared`` {key: :class:`Score`} (direction and unit, as the metric
    declared them, so that readers need not import it), ``inputs`` ("codes" or "model"), ``source``
    (where it was found: kind, module, function, file and its sha256, package and version)."""

    name: str
    scores: dict[str, float | None]
    declared: dict[str, Score]
    inputs: str = "codes"
    source: dict = field(default_factory=dict)
    about: str = ""

    def to_dict(self) -> dict:
        return {
            "about": self.about,
            "inputs": self.inputs,
            "source": self.source,
            "scores": self.scores,
            "declared": {k: s.to_dict() for k, s in self.declared.items()},
        }

    @classmethod
    def from_dict(cls, name: str, d: Mapping) -> UserMetricRecord:
        """Raises ValueError naming the metric for an entry that is not one."""
        if not isinstance(d, Mapping) or not isinstance(d.get("scores"), Mapping):
            raise ValueError(f"user_metrics.{name} is not a user metric's record (scores, declared, source)")
        declared = {k: Score.from_dict(v) for k, v in (d.get("declared") or {}).items()}
        return cls(
            name,
            dict(d["scores"]),
            declared,
            str(d.get("inputs", "codes")),
            dict(d.get("source") or {}),
            str(d.get("about", "")),
        )

    def score_items(self) -> dict[str, tuple[float, Score]]:
        """``{"user_metrics.NAME.key": (value, Score)}`` of the declared keys holding a number."""
        return {
            f"user_metrics.{self.name}.{k}": (float(v), self.declared[k])
            for k, v in self.scores.items()
            if k in self.declared and _is_number(v)
        }


@dataclass
class MetricsRecord:
    """RUN/metrics.json as records: ``schema`` (1 for a file without the key), ``sections``
    {name: :class:`SectionRecord`} in the file's order, ``user_metrics`` {name:
    :class:`UserMetricRecord`}. :meth:`to_dict` gives the file's object back (with the current
    schema version first)."""

    schema: int
    sections: dict[str, SectionRecord]
    user_metrics: dict[str, UserMetricRecord]

    @classmethod
    def from_dict(cls, doc: Mapping) -> MetricsRecord:
        """Any version's metrics.json; raises ValueError for a version newer than this dsvae reads,
        or for a malformed ``user_metrics`` entry."""
        if not isinstance(doc, Mapping):
            raise ValueError(f"metrics.json is a JSON object, got {type(doc).__name__}")
        version = doc.get("schema", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
            raise ValueError(
                f"metrics.json has schema {version!r}; this dsvae reads versions 1 to {SCHEMA_VERSION}: "
                "update dsvae (pip install -U dsvae) or score the run again with this one"
            )
        users = doc.get("user_metrics") or {}
        if not isinstance(users, Mapping):
            raise ValueError("metrics.json's user_metrics is not an object of {name: record}")
        return cls(
            version,
            {k: SectionRecord.from_dict(k, v) for k, v in doc.items() if k not in ("schema", "user_metrics")},
            {name: UserMetricRecord.from_dict(name, d) for name, d in users.items()},
        )

    def to_dict(self) -> dict:
        out: dict = {"schema": SCHEMA_VERSION}
        out.update((k, s.to_dict()) for k, s in self.sections.items())
        if self.user_metrics:
            out["user_metrics"] = {k: u.to_dict() for k, u in self.user_metrics.items()}
        return out

    def section(self, name: str) -> Any:
        """A section's JSON value, None where the file has none."""
        s = self.sections.get(name)
        return None if s is None else s.value

    def score_items(self) -> dict[str, tuple[float, Score]]:
        """``{dotted key: (value, Score)}`` of every score of the file, built-in sections first."""
        out: dict[str, tuple[float, Score]] = {}
        for s in self.sections.values():
            out.update(s.scores())
        for u in self.user_metrics.values():
            out.update(u.score_items())
        return out

    def scores(self) -> dict[str, float]:
        """``{dotted key: number}`` of every score (a mean over evaluation seeds where there were several)."""
        return {k: v for k, (v, _) in self.score_items().items()}

    def declarations(self) -> dict[str, Score]:
        return {k: s for k, (_, s) in self.score_items().items()}

    def undeclared(self) -> list[str]:
        return [k for s in self.sections.values() for k in s.undeclared()]


# --- the built-in sections ----------------------------------------------------------------------------
def _not_scores(*paths: str) -> tuple[Field, ...]:
    return tuple(Field(p) for p in paths)


PCT_UP = Score("higher", FRACTION)
ACCURACY = Score("higher", FRACTION, about="accuracy of the judge on generated videos")
EITHER = Score(None, FRACTION)  # a rate whose good side depends on the label's kind (static or dynamic)
PROVENANCE = (Field("**"),)

_DCI = (
    Field("dci.gbt.f+z.D", Score("higher", "", "D (gbt)", "disentanglement (Eastwood & Williams 2018)")),
    Field("dci.gbt.f+z.C", Score("higher", "", "C (gbt)", "completeness")),
    Field("dci.gbt.f+z.I", Score("higher", FRACTION, "I (gbt)", "informativeness: held-out accuracy")),
    Field("dci.*.*.D", Score("higher", "", about="disentanglement (Eastwood & Williams 2018)")),
    Field("dci.*.*.C", Score("higher", "", about="completeness")),
    Field("dci.*.*.C_j.*", Score("higher", "", about="completeness of one factor")),
    Field("dci.*.*.I", Score("higher", FRACTION, about="informativeness: held-out accuracy")),
    Field("dci.*.*.I_j.*", Score("higher", FRACTION, about="held-out accuracy of one factor")),
    *_not_scores("dci.*.*.regressor", "dci.*.*.factors", "dci.*.*.importance", "dci.*.*.D_i"),
    *_not_scores("dci.*.*.chance.**"),
)
LEAK = Score("lower", FRACTION, about="accuracy from the latent that should not hold the label")
LEAK_FRACTION = Score("lower", "", about="the leak, 0 at chance and 1 at the ceiling")
_PROBE_ROW = (
    Field("from_f.*", EITHER),
    Field("from_z.*", EITHER),
    Field("leak.linear", LEAK),
    Field("leak.mlp", LEAK),
    Field("leak.linear_fraction", LEAK_FRACTION),
    Field("leak.mlp_fraction", LEAK_FRACTION),
    *_not_scores("leak.latent", "kind", "chance", "ceiling"),
)
# a label's row, and the row of each part of a split label (dsvae.data.parts)
_PROBES = tuple(
    Field(f"{at}.{f.path}", f.score) for at in ("probes.*", "probes.*.parts.*") for f in _PROBE_ROW
)
# a part of a split label, read as the part of the label the judge reads
PART = Score(
    "higher", FRACTION, about="accuracy of the judge on a part of a split label (the part of its reading)"
)

_SECTIONS = (
    Section("schema", PROVENANCE, "the version of this schema"),
    Section("scoring", PROVENANCE, "the version of dsvae eval's numbers (SCORING_VERSION; absent: 1)"),
    Section("run", PROVENANCE, "the run folder scored"),
    Section("kind", PROVENANCE, "'speech' for a vector-frame run"),
    Section("dataset", PROVENANCE, "the test data: name, sizes, label classes"),
    Section("model", PROVENANCE, "which checkpoint was scored (source, finished, epoch, step, epochs)"),
    Section("judge", PROVENANCE, "the judge: folder, sha256, its test accuracy"),
    Section("judge2", PROVENANCE, "the second judge"),
    Section("seeds", PROVENANCE, "evaluation seeds"),
    Section("precision", PROVENANCE, "precision of generating and judging"),
    Section(
        "motion_scores",
        (
            Field("acc", Score("higher", FRACTION, "Acc", "the motion head's accuracy on fixed-z videos")),
            Field("is", Score("higher", "", "IS", "inception score (max: the number of motions)")),
            Field("h_yx", Score("lower", "nats", about="H(y|x): the judge's uncertainty per video")),
            Field("h_y", Score("higher", "nats", about="H(y): the spread of the motions (max ln K)")),
            Field("acc_parts.*", Score("higher", FRACTION, about="Acc of a part of the motion (its split)")),
            *_not_scores("classes", "per_class"),
        ),
        "the motion head on class-balanced fixed-z videos",
    ),
    Section(
        "paper_protocol",
        (
            Field(
                "attributes_mean", Score("higher", FRACTION, "attributes", "mean attribute accuracy, f fixed")
            ),
            Field("attributes.*", ACCURACY),
            Field("motion", ACCURACY),
            Field("parts.*.*", PART),
        ),
        "Li & Mandt 2018: f fixed -> attributes, z fixed -> motion",
    ),  # fmt: skip
    Section(
        "swap",
        (
            Field(
                "attributes_mean", Score("higher", FRACTION, "swap attrs", "a's attributes after the swap")
            ),
            Field("motion", Score("higher", FRACTION, "swap motion", "b's motion after the swap")),
            Field("attributes.*", ACCURACY),
            Field("parts.*.*", PART),
        ),
        "decode (f of a, z of b)",
    ),  # fmt: skip
    Section(
        "factors",
        (
            Field("swap_score", Score("higher", "", "swap assignment", "1 ideal, 0 none, -1 reversed")),
            Field("sample_score", Score("higher", "", "sample assignment", "1 ideal, 0 none, -1 reversed")),
            Field("swap.*.*", EITHER),
            Field("sample.*.*", EITHER),
            Field("parts.*.*.swap.*", EITHER),
            Field("parts.*.*.sample.*", EITHER),
            *_not_scores("chance.**", "home.**", "parts.*.*.chance"),
        ),
        "which factor follows which latent",
    ),  # fmt: skip
    Section(
        "latents",
        (*_DCI, *_PROBES, *_not_scores("factors", "latent_names", "skipped.**", "train_sequences")),
        "DCI and the leakage probes",
    ),
    Section(
        "identity_eer",
        (
            Field("f", Score("lower", FRACTION, "EER f", "character verification with f")),
            Field("z", Score("higher", FRACTION, "EER z", "character verification with z")),
        ),
    ),
    Section(
        "speaker_eer",
        (
            Field("f", Score("lower", FRACTION, "speaker EER f", "speaker verification with f")),
            Field("z", Score("higher", FRACTION, "speaker EER z", "speaker verification with z")),
        ),
    ),
    Section(
        "reconstruction",
        (
            Field("psnr", Score("higher", "dB", "PSNR", "from the posterior means")),
            Field("kl_f", Score(None, "nats", "KL_f", "per sequence")),
            Field("kl_z", Score(None, "nats", "KL_z", "per sequence")),
            Field("mse", Score("lower", "", about="per value, from the posterior means")),
            Field("loss", Score("lower", "nats", about="-ELBO per sequence")),
            Field("recon", Score("lower", "nats", about="reconstruction term per sequence")),
        ),
        "reconstruction and the test ELBO",
    ),
    Section(
        "judge_audit",
        (
            Field("*.real.*", Score("higher", FRACTION, about="the judge on real test sequences")),
            Field("*.reconstruction.*", Score("higher", FRACTION, about="the judge on reconstructions")),
            Field("agreement.*", Score("higher", FRACTION, about="the two judges agree")),
            Field("*.parts.real.*.*", Score("higher", FRACTION, about="the judge on real test sequences")),
            Field(
                "*.parts.reconstruction.*.*", Score("higher", FRACTION, about="the judge on reconstructions")
            ),
        ),
        "the judges on real data and reconstructions: the ceiling of the judged scores",
    ),
    Section(
        "probe",
        (Field("*.f", EITHER), Field("*.z", EITHER), Field("*.chance")),
        "speech: linear probes from f and z",
    ),
    Section("pairs", PROVENANCE, "speech: same- and different-speaker pairs"),
    Section("factor_kinds", PROVENANCE, "each label's kind (static or dynamic) and the rule"),
    Section("paper_timit_eer", PROVENANCE, "the papers' TIMIT figures, for reference"),
    Section("notes", PROVENANCE),
    Section("timings_s", PROVENANCE, "seconds of each part of the evaluation"),
)
SECTIONS: dict[str, Section] = {s.name: s for s in _SECTIONS}

# scores a run has beside metrics.json (dsvae compare reads them from the run folder)
RUN_SCORES = {
    "train_minutes": Score("lower", "min", "train min", "wall time of the training epochs (log.csv)")
}


def headline() -> dict[str, str]:
    """``{dotted key: heading}`` of the scores `dsvae compare` shows first, in order: those whose
    :class:`Score` has a heading, section by section, then :data:`RUN_SCORES`."""
    order = ("motion_scores", "paper_protocol", "swap", "factors", "latents", "identity_eer", "speaker_eer",
             "reconstruction")  # fmt: skip
    out = {
        f"{name}.{f.path}": f.score.heading
        for name in order
        for f in SECTIONS[name].fields
        if f.score is not None and f.score.heading
    }
    out.update((k, s.heading) for k, s in RUN_SCORES.items() if s.heading)
    return out


# the parts' scores a headline shows after a headline score (dsvae.data.parts): the motion's Acc per
# part after Acc, the swap's parts of every split label after swap motion
_PART_HEADINGS = {
    "motion_scores.acc": (re.compile(r"motion_scores\.acc_parts\.([^.]+)"), "Acc {0}"),
    "swap.motion": (re.compile(r"swap\.parts\.([^.]+)\.([^.]+)"), "swap {0}: {1}"),
}


def part_headings(after: str, keys: Iterable[str]) -> dict[str, str]:
    """``{key: heading}`` of the scores of parts among ``keys`` that a headline shows after the
    headline score ``after``: after ``motion_scores.acc`` the motion's Acc per part ("Acc
    action"), after ``swap.motion`` the swap's parts ("swap motion: direction"); {} after the others."""
    if after not in _PART_HEADINGS:
        return {}
    pattern, heading = _PART_HEADINGS[after]
    return {k: heading.format(*m.groups()) for k in keys if (m := pattern.fullmatch(k))}


def headline_of(keys: Iterable[str]) -> dict[str, str]:
    """``{key: heading}`` of the headline scores among ``keys`` in the order of :func:`headline`,
    each followed by the scores of parts it leads (:func:`part_headings`)."""
    keys = list(keys)
    out = {}
    for key, heading in headline().items():
        if key in keys:
            out[key] = heading
        out.update(part_headings(key, keys))
    return out


def score_of(key: str, declared: Mapping[str, Score] | None = None) -> Score | None:
    """The :class:`Score` of a dotted key (``reconstruction.psnr``, ``latents.probes.digit.from_f.linear``,
    ``train_minutes``, a user metric's key from ``declared``), None where it is not a score."""
    if declared and key in declared:
        return declared[key]
    if key in RUN_SCORES:
        return RUN_SCORES[key]
    name, _, rest = key.partition(".")
    section = SECTIONS.get(name)
    f = section.field_of(tuple(rest.split("."))) if section and rest else None
    return f.score if f else None


def show(value: float | None, s: Score | None, digits: int = 1) -> str:
    """A score as text in its unit: a fraction as a percentage, others with their unit; "-" for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if s is not None and s.unit == FRACTION:
        return f"{100 * value:.{digits}f}%"
    unit = "" if s is None or not s.unit else f" {s.unit}"
    return f"{value:.4g}{unit}"


__all__ = [
    "DIRECTIONS",
    "FRACTION",
    "RUN_SCORES",
    "SCHEMA_VERSION",
    "SCORING_VERSION",
    "SECTIONS",
    "Field",
    "MetricsRecord",
    "Score",
    "Section",
    "SectionRecord",
    "UserMetricRecord",
    "headline",
    "headline_of",
    "leaves",
    "part_headings",
    "score_of",
    "show",
]
