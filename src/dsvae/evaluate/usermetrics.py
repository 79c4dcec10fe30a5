"""A user's metric: one pure function, declared with :func:`metric`, run by ``dsvae eval --metric``.

    from dsvae.evaluate.usermetrics import metric

    @metric(scores={"f": ("higher", "dims"), "z": ("higher", "dims")})
    def active_units(codes, factors):          # codes: {"f": (N, f_dim), "z": (N, T, z_dim)}
        return {"f": ..., "z": ...}            # one number per declared score

A metric takes either the test set's codes and factors (``inputs="codes"``, the default:
``codes`` the posterior means of every test sequence, f (N, f_dim) and z (N, T, z_dim) float32,
``factors`` {label: (N,) int64 class}, empty for unlabelled data) or the model and the test data
(``inputs="model"``: the run's :class:`~dsvae.model.DSVAE` in eval mode on the evaluation's
device, called under ``torch.no_grad()`` with the random generators seeded with 0, and the test
:class:`~dsvae.data.base.SequenceDataset`). It returns ``{score: number}`` with exactly the
declared scores (None where a score is undefined for this run); each score declares its direction
(higher or lower is better, or None) and unit (:class:`~dsvae.evaluate.records.Score`).

Where a metric is found (:func:`find_metric`), in this order: ``FILE.py:function`` (or ``FILE.py``
holding one metric), ``module:function`` (an importable module), a name registered in this process
(:func:`register_metric`), an installed package's entry point of the group ``dsvae.metrics``
(``[project.entry-points."dsvae.metrics"] name = "package.module:function"``). The results go to
metrics.json's ``user_metrics`` section (:class:`~dsvae.evaluate.records.UserMetricRecord`) under the
name the metric declares, with its declaration and its source (file and sha256, or module, package
and version), so that `dsvae compare` reads the scores without importing the metric. Nothing is
ever unpickled: a metric is code the user names, imported, and numbers it returns.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import did_you_mean
from ..data.base import SequenceDataset
from ..device import seeded_eval
from ..model import DSVAE
from .codes import encode_means
from .markdown import user_metrics_table
from .records import Score, UserMetricRecord

GROUP = "dsvae.metrics"  # the entry-point group of installed packages' metrics
INPUTS = ("codes", "model")
_ATTRIBUTE = "__dsvae_metric__"
_REGISTRY: dict[str, Callable] = {}


class MetricImportError(ImportError, ValueError):
    """A metric's file, module or package fails to import; the message says what to install or fix.
    A ValueError too, so that the command line reports it as a bad argument, without a traceback."""


@dataclass(frozen=True)
class MetricSpec:
    """What :func:`metric` declares: the ``name`` the results are stored under, ``scores``
    {key: :class:`Score`}, ``inputs`` ("codes" or "model"), ``about`` (one line)."""

    name: str
    scores: dict[str, Score]
    inputs: str = "codes"
    about: str = ""


def _as_score(key: str, value) -> Score:
    """A declared score: a :class:`Score`, a direction ("higher", "lower", None), a (direction, unit)
    or (direction, unit, about) tuple, or a dict with those keys. Raises ValueError naming ``key``."""
    try:
        if isinstance(value, Score):
            return value
        if value is None or isinstance(value, str):
            return Score(value)
        if isinstance(value, Mapping):
            return Score(
                value.get("direction", "higher"), value.get("unit", ""), about=value.get("about", "")
            )
        if isinstance(value, tuple) and 1 <= len(value) <= 3:
            direction, unit, about = (*value, "", "")[:3]
            return Score(direction, unit, about=about)
    except ValueError as e:
        raise ValueError(f"score {key!r}: {e}") from None
    raise ValueError(
        f"score {key!r} is declared as {value!r}: give its direction and unit, e.g. ('higher', 'dims')"
    )


def metric(
    name: str | None = None,
    *,
    scores: Mapping[str, object],
    inputs: str = "codes",
    about: str = "",
) -> Callable[[Callable], Callable]:
    """Declare a function a dsvae metric (the decorator; the function is returned unchanged, still a
    plain function to call and test). ``name``: the name its results are stored under (default: the
    function's); ``scores``: {key: direction or (direction, unit[, about]) or :class:`Score`};
    ``inputs``: "codes" (``fn(codes, factors)``) or "model" (``fn(model, test)``). Raises ValueError
    for no scores, a bad direction or inputs."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")
    if not scores:
        raise ValueError("a metric declares at least one score: scores={'key': ('higher', 'unit')}")
    declared = {str(k): _as_score(str(k), v) for k, v in scores.items()}
    bad = [k for k in declared if not k or "." in k]
    if bad:
        raise ValueError(
            f"score names are non-empty and without dots (they become keys of metrics.json): {bad}"
        )

    def wrap(fn: Callable) -> Callable:
        spec_name = name or fn.__name__
        if not spec_name.isidentifier():
            raise ValueError(f"a metric's name is an identifier (a metrics.json key), got {spec_name!r}")
        setattr(fn, _ATTRIBUTE, MetricSpec(spec_name, declared, inputs, about or _first_line(fn.__doc__)))
        return fn

    return wrap


def _first_line(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def spec_of(fn: Callable, where: str = "") -> MetricSpec:
    """The declaration :func:`metric` put on ``fn``. Raises ValueError for an undeclared function."""
    spec = getattr(fn, _ATTRIBUTE, None)
    if not isinstance(spec, MetricSpec):
        raise ValueError(
            f"{where or getattr(fn, '__name__', fn)} is not declared as a dsvae metric: decorate it with "
            "@dsvae.evaluate.usermetrics.metric(scores={'key': ('higher', 'unit')}) so that its scores "
            "have a direction and a unit"
        )
    return spec


def register_metric(fn: Callable, name: str | None = None) -> str:
    """Register a declared metric (:func:`metric`) under ``name`` (default: its declared name) for
    this process, so that ``evaluate_run(..., metrics=[name])`` finds it; returns the name."""
    spec = spec_of(fn)
    _REGISTRY[name or spec.name] = fn
    return name or spec.name


def unregister_metric(name: str) -> None:
    _REGISTRY.pop(name, None)


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=GROUP)}


def available_metrics() -> list[str]:
    """Names of the metrics registered in this process and of installed packages' entry points."""
    return sorted({*_REGISTRY, *_entry_points()})


@dataclass
class LoadedMetric:
    """A metric found by :func:`find_metric`: the function, its declaration, where it came from."""

    fn: Callable
    spec: MetricSpec
    source: dict

    @property
    def name(self) -> str:
        return self.spec.name


def _distribution_of(module: str) -> tuple[str | None, str | None]:
    """(package, version) installed that provides the top-level module of ``module``; (None, None)
    for a module no installed package provides (a folder on the path, the standard library)."""
    top = module.split(".")[0]
    names = importlib.metadata.packages_distributions().get(top) or []
    for dist in names:
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None, None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_file(path: Path):
    """Import a metric file as a module of its own. Raises FileNotFoundError, ImportError naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"metric file {path} not found")
    digest = _sha256(path)
    name = f"dsvae_user_metric_{path.stem}_{digest[:12]}"
    if name in sys.modules:  # the same file, the same bytes: imported once per process
        return sys.modules[name], digest
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise MetricImportError(f"{path} cannot be imported as Python (a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling-free helpers in the file look themselves up here
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as e:
        del sys.modules[name]
        raise MetricImportError(
            f"the metric file {path} imports {e.name!r}, which is not installed: install the package "
            f"that provides it (pip install ...) and try again"
        ) from e
    except Exception as e:
        del sys.modules[name]
        raise MetricImportError(
            f"the metric file {path} fails to import ({type(e).__name__}: {e}): fix the file"
        ) from e
    return module, digest


def _import_module(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.split(".")[0] == e.name.split(".")[0]:
            raise MetricImportError(
                f"no module named {module!r}: install the package that provides it, or put the folder "
                f"holding {module.split('.')[0]} on PYTHONPATH"
            ) from e
        raise MetricImportError(
            f"the metric module {module!r} imports {e.name!r}, which is not installed: install the "
            "package that provides it"
        ) from e
    except Exception as e:
        package, version = _distribution_of(module)
        fix = f"fix or reinstall {package} {version}" if package else f"fix {module}"
        raise MetricImportError(
            f"the metric module {module!r} fails to import ({type(e).__name__}: {e}): {fix}"
        ) from e


def _attribute(module, function: str, where: str) -> Callable:
    fn = getattr(module, function, None)
    if callable(fn):
        return fn
    declared = [k for k, v in vars(module).items() if isinstance(getattr(v, _ATTRIBUTE, None), MetricSpec)]
    hint = did_you_mean(function, declared) if declared else "it declares no metric"
    raise ValueError(f"{where} has no function {function!r}; {hint}")


def _code_source(kind: str, module: str, function: str) -> dict:
    """Where a metric's code comes from: its kind, module and function, and the installed
    distribution that provides the module (package, version; None for loose code)."""
    package, version = _distribution_of(module)
    return {"kind": kind, "module": module, "function": function, "package": package, "version": version}


def find_metric(text: str | Callable) -> LoadedMetric:
    """The metric named by ``text``: ``FILE.py:function``, ``FILE.py`` (a file declaring exactly one
    metric), ``module:function``, a registered name or an installed entry point (group
    ``dsvae.metrics``); or the declared function itself (the Python API). Raises ValueError for an
    unknown name (with the closest known names) or an undeclared function, FileNotFoundError for a
    missing file, ImportError saying which file or package to fix or install when the import fails."""
    if isinstance(text, LoadedMetric):
        return text
    if callable(text):
        return LoadedMetric(text, spec_of(text), _code_source("function", text.__module__, text.__qualname__))
    head, sep, function = text.rpartition(":")
    whole_file = text.endswith(".py")  # (a Windows path has a colon too)
    if whole_file or (sep and (head.endswith(".py") or "/" in head or "\\" in head)):
        return _from_file(
            text, Path(text if whole_file else head).expanduser(), None if whole_file else function
        )
    if sep and head and function.isidentifier():
        fn = _attribute(_import_module(head), function, f"module {head!r}")
        return LoadedMetric(fn, spec_of(fn, text), _code_source("module", head, function))
    if text in _REGISTRY:
        fn = _REGISTRY[text]
        return LoadedMetric(fn, spec_of(fn, text), _code_source("registered", fn.__module__, fn.__qualname__))
    points = _entry_points()
    if text in points:
        return _from_entry_point(text, points[text])
    known = available_metrics()
    raise ValueError(
        f"unknown metric {text!r}: {did_you_mean(text, known) if known else 'none registered or installed'}; "
        "or name one as FILE.py:function or module:function"
    )


def _from_file(text: str, path: Path, function: str | None) -> LoadedMetric:
    """The metric ``function`` of the file ``path`` (None: the one metric the file declares)."""
    module, digest = _load_file(path)
    if function is not None:
        fn = _attribute(module, function, str(path))
    else:
        found = [v for v in vars(module).values() if isinstance(getattr(v, _ATTRIBUTE, None), MetricSpec)]
        if len(found) != 1:
            raise ValueError(f"{path} declares {len(found)} metrics: name one, as {path}:FUNCTION")
        fn = found[0]
    source = {"kind": "file", "file": str(path.resolve()), "function": fn.__name__, "sha256": digest}
    return LoadedMetric(fn, spec_of(fn, text), source)


def _from_entry_point(text: str, ep) -> LoadedMetric:
    """The metric of the installed entry point ``ep`` (group dsvae.metrics), named ``text``."""
    dist = getattr(ep, "dist", None)
    package = dist.metadata["Name"] if dist is not None else None
    version = dist.version if dist is not None else None
    try:
        fn = ep.load()
    except Exception as e:
        what = f"the package {package} {version}" if package else "its package"
        raise MetricImportError(
            f"the metric {text!r} is the entry point {ep.value!r} of {what}, which fails to import "
            f"({type(e).__name__}: {e}): reinstall or fix it "
            f"(pip install --force-reinstall {package or 'PACKAGE'})"
        ) from e
    module, _, function = ep.value.partition(":")
    source = {"kind": "entry point", "entry_point": ep.value, "module": module, "function": function,
              "package": package, "version": version}  # fmt: skip
    return LoadedMetric(fn, spec_of(fn, text), source)


def find_metrics(names: Sequence[str | Callable]) -> list[LoadedMetric]:
    """:func:`find_metric` of each, in order. Raises ValueError where two share a declared name."""
    found = [find_metric(n) for n in names]
    seen: dict[str, str] = {}
    for text, m in zip(names, found):
        if m.name in seen:
            raise ValueError(
                f"--metric {seen[m.name]} and --metric {text} both store their results as {m.name!r}"
            )
        seen[m.name] = text
    return found


def _checked_result(m: LoadedMetric, result) -> dict[str, float | None]:
    """The metric's result as {declared key: float or None}. Raises ValueError for another shape,
    a missing or undeclared key, or a non-finite number."""
    if not isinstance(result, Mapping):
        raise ValueError(f"metric {m.name} returned {type(result).__name__}; it returns {{score: number}}")
    missing = [k for k in m.spec.scores if k not in result]
    extra = [str(k) for k in result if k not in m.spec.scores]
    if missing or extra:
        raise ValueError(
            f"metric {m.name} returned keys {sorted(map(str, result))}, it declares {sorted(m.spec.scores)}"
            + (f": missing {missing}" if missing else "")
            + (f": {extra} not declared (declare each score in @metric(scores=...))" if extra else "")
        )
    out: dict[str, float | None] = {}
    for k in m.spec.scores:
        v = result[k]
        if v is None:
            out[k] = None
            continue
        try:
            number = float(np.asarray(v, dtype=np.float64).item())
        except (TypeError, ValueError):
            raise ValueError(f"metric {m.name}: score {k!r} is {v!r}, not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"metric {m.name}: score {k!r} is {number} (return None where it is undefined)")
        out[k] = number
    return out


def metric_inputs(
    model: DSVAE, test: SequenceDataset, batch_size: int, device: str | torch.device
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """What a codes metric gets: the posterior means of every test sequence (f (N, f_dim), z (N, T,
    z_dim), float32; :func:`~dsvae.evaluate.codes.encode_means`) and the test labels {name: (N,) int64}."""
    f, z = encode_means(model, test, batch_size, device)
    return {"f": f, "z": z}, {k: test.label_array(k) for k in test.labels}


def run_user_metrics(
    metrics: Sequence[LoadedMetric],
    model: DSVAE,
    test: SequenceDataset,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
) -> dict[str, dict]:
    """Every metric of ``metrics`` on the run's ``model`` and ``test`` data: ``{name:
    UserMetricRecord.to_dict()}`` (metrics.json's ``user_metrics``). The codes are computed once, in
    fp32, and each codes metric gets its own copy (a metric cannot change another's inputs). Raises
    ValueError for a result that is not the declared scores."""
    device = torch.device(device)
    codes = None
    out = {}
    for m in metrics:
        if m.spec.inputs == "codes":
            if codes is None:
                codes = metric_inputs(model, test, batch_size, device)
            c, y = codes
            result = m.fn({k: v.copy() for k, v in c.items()}, {k: v.copy() for k, v in y.items()})
        else:
            with seeded_eval(model, 0, device):
                result = m.fn(model, test)
        record = UserMetricRecord(
            m.name, _checked_result(m, result), m.spec.scores, m.spec.inputs, m.source, m.spec.about
        )
        out[m.name] = record.to_dict()
    return out


__all__ = [
    "GROUP",
    "INPUTS",
    "LoadedMetric",
    "MetricImportError",
    "MetricSpec",
    "available_metrics",
    "find_metric",
    "find_metrics",
    "metric",
    "register_metric",
    "run_user_metrics",
    "spec_of",
    "metric_inputs",
    "unregister_metric",
    "user_metrics_table",
]
