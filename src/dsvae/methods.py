"""Methods: what a member of the DSVAE family adds to the one backbone and loop, one class each.

A method is a subclass of :class:`Method`: a ``name`` (how a recipe or ``--method`` names it), a
``title`` and a ``citation``; its options as a dataclass over :class:`~dsvae.config.ConfigBase`
(weights, temperatures, with help text and ranges); the model switches it needs
(:class:`~dsvae.config.DSVAEConfig` fields such as ``q_f``, ``q_z``, ``z_input``) as defaults over the
preset, under the recipe's ``[model]`` and ``--set``; and its terms beyond the ELBO as named scalar
tensors in nats per sequence (batch means), each with a weight. The loop minimises
``recon + kl_weight * (kl_f + kl_z) + sum_k weight_k * term_k`` and logs every term by its name.

The four built-ins (:class:`DSVAE`, :class:`CDSVAE`, :class:`DBSE`, :class:`SPYL`) are written over
the shared building blocks of :mod:`dsvae.objectives`. A user's method is found by name among them
and the installed packages' entry points (group ``dsvae.methods``), or given as ``module:Class`` (an
importable module) or ``path/to/file.py:Class``; :func:`method_source` records where it came from in
the run folder, and every later command that needs it imports it again from there (never unpickled).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from .config import NON_NEGATIVE, POSITIVE, PRESETS, ConfigBase, DSVAEConfig, Range, did_you_mean, option
from .model import DSVAE as DSVAEModel
from .model import DSVAEOutput
from .objectives import (
    content_augment,
    first_frame_error,
    info_nce,
    motion_augment,
    mutual_information_fz,
    sample_predict_terms,
)

ENTRY_POINT_GROUP = "dsvae.methods"


class MethodError(ValueError):
    """A method that cannot be found, imported or used; the message says what to install or fix."""


@dataclass
class MethodOptions(ConfigBase):
    """The base of every method's options (a dataclass of fields made with
    :func:`dsvae.config.option`: default, help text, range); with no fields, a method's that has
    none. Set on the command line as ``--method-option NAME=VALUE``, in a recipe's ``[method]``."""

    WHAT = "method option"

    @classmethod
    def flag(cls, name: str) -> str:
        return f"--method-option {name}="


class Method:
    """One member of the family, over the DSVAE backbone (subclass it; see docs/extending.md).

    Class attributes: ``name`` (lowercase, as recipes and ``--method`` write it), ``title`` (as tables
    show it), ``citation`` (paper, and the public code it follows), ``Options`` (a dataclass over
    :class:`MethodOptions`), ``model_defaults`` (DSVAEConfig fields it needs, over the preset).
    Override :meth:`weights` and :meth:`terms`; a method without terms is DSVAE's objective."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    Options: ClassVar[type[ConfigBase]] = MethodOptions
    model_defaults: ClassVar[dict[str, object]] = {}

    def __init__(self, options: ConfigBase | dict | None = None) -> None:
        if options is None or isinstance(options, dict):
            options = self.options_from(options or {})
        if not isinstance(options, self.Options):
            raise MethodError(
                f"{self.name}: options must be {self.Options.__name__}, got {type(options).__name__}"
            )
        self.options = options

    @classmethod
    def options_from(cls, values: dict):
        """The method's options from a table (recipe ``[method]``, ``--method-option``, train.json).
        Raises MethodError for an unknown option (with the closest) or a value out of range."""
        try:
            return cls.Options.from_dict(dict(values), where=f"method {cls.name}")
        except (TypeError, ValueError) as e:
            raise MethodError(str(e)) from None

    def weights(self) -> dict[str, float]:
        """The active terms' weights by name, in the order :meth:`terms` returns them (a term of
        weight 0 is off and not computed)."""
        return {}

    def terms(self, model: DSVAEModel, x: Tensor, out: DSVAEOutput) -> dict[str, Tensor]:
        """The active terms for the batch ``x`` (B, T, ...) and the model's output ``out`` on it: each
        a scalar tensor in nats per sequence (batch mean), named as in :meth:`weights`. Runs inside
        the loop's autocast, after ``out``; draws from torch's global RNG (the run's seed)."""
        return {}

    def term_names(self) -> tuple[str, ...]:
        return tuple(self.weights())

    def model_config(self, preset: str, **fields) -> DSVAEConfig:
        """The preset with the method's model switches, and ``fields`` (the data's shape, the user's
        overrides) over both."""
        return DSVAEConfig.preset(preset, **{**self.model_defaults, **fields})


def _stack_terms(terms: dict[str, Tensor], names: tuple[str, ...], device) -> Tensor:
    """The named terms as one (k,) fp32 tensor in the order of ``names`` ((0,) for none)."""
    if not names:
        return torch.zeros(0, device=device)
    return torch.stack([terms[n].float() for n in names])


def method_terms(method: Method, model: DSVAEModel, x: Tensor, out: DSVAEOutput) -> Tensor:
    """The active terms of ``method`` as one (k,) fp32 tensor, in the order of
    :meth:`Method.term_names`. Raises MethodError for a term that is missing or not a scalar."""
    names = method.term_names()
    terms = method.terms(model, x, out)
    if set(terms) != set(names):
        raise MethodError(
            f"method {method.name}: terms() gave {sorted(terms)}, its weights() name {sorted(names)}; "
            "they must name the same terms"
        )
    for n in names:
        if not isinstance(terms[n], Tensor) or terms[n].numel() != 1:
            raise MethodError(f"method {method.name}: term {n} must be a scalar tensor (nats per sequence)")
    return _stack_terms(terms, names, x.device)


# --- the built-ins ---------------------------------------------------------------------------------


class DSVAE(Method):
    """The negative ELBO alone: the seed's objective."""

    name = "dsvae"
    title = "DSVAE"
    citation = "Li & Mandt, Disentangled Sequential Autoencoder, ICML 2018 (eq. 3 and 4)"


@dataclass
class CDSVAEOptions(MethodOptions):
    WHAT = "C-DSVAE option"

    contrastive_f: float = option(
        10.0,
        "weight of InfoNCE between f of x and of x's frames shuffled (C-DSVAE's weight_c_aug)",
        NON_NEGATIVE,
    )
    contrastive_z: float = option(
        10.0, "weight of InfoNCE between z of x and of x recoloured (C-DSVAE's weight_m_aug)", NON_NEGATIVE
    )
    mi_fz: float = option(1.0, "weight of the minibatch estimate of I(f; z)", NON_NEGATIVE)
    contrastive_tau: float = option(0.5, "temperature of the InfoNCE terms", POSITIVE)


class CDSVAE(Method):
    """C-DSVAE: InfoNCE of f against a content augmentation (the frames shuffled), of z against a
    motion augmentation (recoloured), and the minibatch estimate of I(f; z) (:mod:`dsvae.objectives`).
    q(z) without f, as the public code's. The public model also feeds q(f) and q(z) from one BiLSTM
    and ends its f head in a LeakyReLU (JunwenBai/C-DSVAE model.py:8-20, 135-163): the model switches
    ``q_f = "shared-lstm"`` and ``f_head = "leaky-relu"``, off by default (recipe sprites-cdsvae-shared)."""

    name = "cdsvae"
    title = "C-DSVAE"
    citation = (
        "Bai, Wang & Gomes, Contrastively Disentangled Sequential Variational Autoencoder, NeurIPS "
        "2021 (eq. 9); code JunwenBai/C-DSVAE train_cdsvae.py, loss.py"
    )
    Options = CDSVAEOptions
    model_defaults = {"q_z": "full-no-f"}

    def weights(self) -> dict[str, float]:
        o = self.options
        pairs = (("nce_f", o.contrastive_f), ("nce_z", o.contrastive_z), ("mi_fz", o.mi_fz))
        return {n: w for n, w in pairs if w}

    def terms(self, model, x, out):
        o, terms = self.options, {}
        if o.contrastive_f:
            terms["nce_f"] = info_nce(
                out.f_post.mean, model.encode_f(content_augment(x)).mean, o.contrastive_tau
            )
        if o.contrastive_z:
            z_m = model.encode_z(motion_augment(x)).mean
            terms["nce_z"] = info_nce(out.z_post.mean.flatten(1), z_m.flatten(1), o.contrastive_tau)
        if o.mi_fz:
            terms["mi_fz"] = mutual_information_fz(out.f_post, out.z_post)
        return terms


@dataclass
class DBSEOptions(MethodOptions):
    WHAT = "DBSE option"

    first_frame_recon: float = option(
        1.0, "weight of an extra squared error of the first frame (DBSE's weight_rec_frame)", NON_NEGATIVE
    )


class DBSE(Method):
    """DBSE: f read from the first frame, q(z) from each frame's features minus the first frame's,
    without f, and the first frame's squared error added once more."""

    name = "dbse"
    title = "DBSE"
    citation = (
        "Berman et al., Sequential Disentanglement by Extracting Static Information From A Single "
        "Sequence Element, ICML 2024 (sec. 4); code azencot-group/DBSE video/sprites/run_sprites.py"
    )
    Options = DBSEOptions
    model_defaults = {"q_f": "first-frame", "z_input": "minus-first", "q_z": "full-no-f"}

    def weights(self) -> dict[str, float]:
        w = self.options.first_frame_recon
        return {"recon_x1": w} if w else {}

    def terms(self, model, x, out):
        return {"recon_x1": first_frame_error(out, x)} if self.options.first_frame_recon else {}


@dataclass
class SPYLOptions(MethodOptions):
    WHAT = "SPYL option"

    sample_predict: float = option(
        0.1,
        "weight of each of the sample-and-predict contrastive terms, of f and of z (c_floss)",
        NON_NEGATIVE,
    )
    sample_predict_negatives: float = option(
        0.5,
        "fraction of the bank (4 prior samples per sequence) each anchor takes as negatives",
        Range(0, 1, low_open=True),
    )
    mi_fz: float = option(0.1, "weight of the minibatch estimate of I(f; z)", NON_NEGATIVE)
    contrastive_tau: float = option(0.5, "temperature of the contrastive terms", POSITIVE)


class SPYL(Method):
    """SPYL: contrastive terms whose views the model makes itself (sample and predict), negatives the
    farthest by KL among prior samples, and C-DSVAE's I(f; z) penalty; q(z) without f. The public code
    also feeds q(f) and q(z) from one BiLSTM (azencot-group/SPYL cdsvae/model.py:127-157: the switch
    ``q_f = "shared-lstm"``, off by default), weighs reconstruction : KL(f) : KL(z) 10 : 5 : 1 and
    starts the contrasts after 5% of training (train.py:41-52, 97, 182-185: the run options
    ``kl_f_weight``, ``kl_z_weight``, ``terms_start_step``); recipes quickstart-spyl,
    sprites-spyl-published, fsdd-spyl-published."""

    name = "spyl"
    title = "SPYL"
    citation = (
        "Naiman, Berman & Azencot, Sample and Predict Your Latent, ICML 2023 (sec. 4); code "
        "azencot-group/SPYL train.py, sample_and_predict.py"
    )
    Options = SPYLOptions
    model_defaults = {"q_z": "full-no-f"}

    def weights(self) -> dict[str, float]:
        o = self.options
        w = {"mi_fz": o.mi_fz} if o.mi_fz else {}
        if o.sample_predict:
            w.update(sp_f=o.sample_predict, sp_z=o.sample_predict)
        return w

    def terms(self, model, x, out):
        o, terms = self.options, {}
        if o.mi_fz:
            terms["mi_fz"] = mutual_information_fz(out.f_post, out.z_post)
        if o.sample_predict:
            terms["sp_f"], terms["sp_z"] = sample_predict_terms(
                model, out, o.sample_predict_negatives, o.contrastive_tau
            )
        return terms


BUILT_IN: dict[str, type[Method]] = {m.name: m for m in (DSVAE, CDSVAE, DBSE, SPYL)}


# --- finding a method --------------------------------------------------------------------------------


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def method_class(ref: str) -> type[Method]:
    """The method named ``ref``: a built-in, an installed package's entry point (``dsvae.methods``),
    ``module:Class`` or ``path/to/file.py:Class``. Raises MethodError for an unknown name (with the
    closest), a module or file that cannot be imported (with what to install), or a class that is
    not a :class:`Method`."""
    if ref in BUILT_IN:
        return BUILT_IN[ref]
    points = _entry_points()
    if ref in points:
        ep = points[ref]
        try:
            cls = ep.load()
        except Exception as e:  # an installed plugin that fails to import: say which package
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
            raise MethodError(
                f"method {ref!r} (entry point of {dist}, {ep.value}) cannot be imported: "
                f"{type(e).__name__}: {e}; reinstall or fix that package"
            ) from None
        return _checked(cls, ref)
    if ":" not in ref:
        known = [*BUILT_IN, *points]
        raise MethodError(
            f"unknown method {ref!r}: {did_you_mean(ref, known)} (dsvae methods lists them; a method of "
            "your own: module:Class or path/to/file.py:Class)"
        )
    where, _, qualname = ref.rpartition(":")
    module = _import_file(where) if where.endswith(".py") else _import_module(where, ref)
    cls = getattr(module, qualname, None)
    if cls is None:
        raise MethodError(f"method {ref!r}: {where} has no {qualname!r}")
    return _checked(cls, ref)


def _checked(cls, ref: str) -> type[Method]:
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise MethodError(f"method {ref!r} is {cls!r}, not a subclass of dsvae.methods.Method")
    if not cls.name:
        raise MethodError(f"method {ref!r}: {cls.__name__} must set a name (class attribute)")
    return cls


def _import_module(name: str, ref: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise MethodError(
            f"method {ref!r}: cannot import {name} ({e}); install the package that provides it, or give "
            "the file as path/to/file.py:Class"
        ) from None


def _import_file(path: str):
    """Import a user's method file once per process, as module ``dsvae_user_method_<sha256>``."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise MethodError(f"method file {file} not found (give path/to/file.py:Class)")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    name = f"dsvae_user_method_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise MethodError(f"method file {file} fails to import: {type(e).__name__}: {e}") from None
    return module


def method_ref(ref: str) -> str:
    """``ref`` as a run records it: a ``path/to/file.py:Class`` made absolute (so that a later
    command run elsewhere finds the file), anything else as it is."""
    where, sep, qualname = ref.rpartition(":")
    if sep and where.endswith(".py"):
        return f"{Path(where).expanduser().resolve()}:{qualname}"
    return ref


def method_source(ref: str) -> dict:
    """Where the method ``ref`` comes from, as a run folder records it: ``ref``, the class's
    ``module`` and ``qualname``, the ``package`` and ``version`` that provide it (None for a loose
    file, whose absolute ``file`` and ``sha256`` are recorded instead)."""
    cls = method_class(ref)
    source = {"ref": ref, "name": cls.name, "module": cls.__module__, "qualname": cls.__qualname__}
    if ref in BUILT_IN:
        from . import __version__

        return {**source, "package": "dsvae", "version": __version__}
    ep = _entry_points().get(ref)
    if ep is not None and ep.dist is not None:
        return {**source, "package": ep.dist.name, "version": ep.dist.version}
    where = ref.rpartition(":")[0]
    if where.endswith(".py"):
        file = Path(where).expanduser().resolve()
        return {**source, "package": None, "version": None, "file": str(file),
                "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}  # fmt: skip
    top = cls.__module__.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top, [])
    version = importlib.metadata.version(dists[0]) if dists else None
    return {**source, "package": dists[0] if dists else None, "version": version}


def make_method(ref: str, options: dict | None = None, source: dict | None = None) -> Method:
    """The method ``ref`` with ``options``. ``source`` (a run's record, :func:`method_source`) names
    the package to install when the method cannot be imported. Raises MethodError."""
    try:
        cls = method_class(ref)
    except MethodError as e:
        raise with_source(e, source) from None
    return cls(options or {})


def with_source(error: MethodError, source: dict | None) -> MethodError:
    """``error`` (a method that cannot be found or imported) with what a run recorded of where its
    method came from (:func:`method_source`): the package to install, or the file it was."""
    if source and source.get("package"):
        version = f" {source['version']}" if source.get("version") else ""
        return MethodError(
            f"{error}. The run was trained with {source.get('qualname')} from {source['package']}{version}: "
            f"pip install {source['package']}{'==' + source['version'] if source.get('version') else ''}"
        )
    if source and source.get("file"):
        return MethodError(
            f"{error}. The run was trained with {source.get('qualname')} of {source['file']} (sha256 "
            f"{str(source.get('sha256'))[:12]}...): put that file back where it was"
        )
    return error


def available_methods() -> list[tuple[str, type[Method] | None, str]]:
    """(name, class or None, where it comes from or why it cannot be imported) of every built-in and
    every installed entry point, in that order."""
    found = [(name, cls, "dsvae (built in)") for name, cls in BUILT_IN.items()]
    for name, ep in sorted(_entry_points().items()):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
        try:
            found.append((name, _checked(ep.load(), name), dist))
        except Exception as e:  # listed with the reason, so one broken plugin hides nothing else
            found.append((name, None, f"{dist}: cannot import ({type(e).__name__}: {e})"))
    return found


def describe_method(cls: type[Method], name: str | None = None) -> list[str]:
    """The lines ``dsvae methods`` prints for one method (``name``: how ``--method`` names it, the
    class's name by default): title, citation, options with defaults and help, model switches, and
    the names of its terms with the default options."""
    name = name or cls.name
    lines = [f"{name}: {cls.title or cls.__name__}", f"  {cls.citation}" if cls.citation else ""]
    defaults = cls.Options.defaults()
    for f in dataclasses.fields(cls.Options):
        valid = f.metadata.get("valid")
        rng = f"; {valid}" if valid is not None else ""
        lines.append(f"  --method-option {f.name}={defaults[f.name]}  {f.metadata.get('help', '')}{rng}")
    if cls.model_defaults:
        lines.append("  model: " + ", ".join(f"{k}={v}" for k, v in cls.model_defaults.items()))
    try:  # the names --delayed-terms takes (with the default options)
        terms = cls().term_names()
    except Exception:  # a user's method that cannot be made with its defaults still gets listed
        terms = ()
    if terms:
        lines.append("  terms: " + ", ".join(terms))
    return [line for line in lines if line]


# --- runs and recipes written before methods had names ---------------------------------------------

# the flat training options of earlier runs and recipes, and the built-in method each belongs to
LEGACY_OPTIONS = {
    "contrastive_f": "cdsvae",
    "contrastive_z": "cdsvae",
    "mi_fz": None,  # C-DSVAE's or SPYL's
    "contrastive_tau": None,
    "first_frame_recon": "dbse",
    "sample_predict": "spyl",
    "sample_predict_negatives": None,
}
_LEGACY_DEFAULTS = {
    "contrastive_f": 0.0, "contrastive_z": 0.0, "mi_fz": 0.0, "contrastive_tau": 0.5,
    "first_frame_recon": 0.0, "sample_predict": 0.0, "sample_predict_negatives": 0.5,
}  # fmt: skip


def legacy_method(flat: dict) -> tuple[str, dict] | None:
    """The built-in method and its options that the flat options of an earlier run or recipe
    (``contrastive_f``, ``first_frame_recon``, ...: the keys of :data:`LEGACY_OPTIONS` present in
    ``flat``) trained, or None where ``flat`` has none of them. The options are the method's fields
    with the values the run had (the old defaults where it lacked one). Raises MethodError for a
    mixture of two methods' terms that no built-in has."""
    given = {k: flat[k] for k in LEGACY_OPTIONS if k in flat}
    if not given:
        return None
    values = {**_LEGACY_DEFAULTS, **given}
    if values["sample_predict"]:
        name = "spyl"
    elif values["contrastive_f"] or values["contrastive_z"]:
        name = "cdsvae"
    elif values["first_frame_recon"]:
        name = "dbse"
    elif values["mi_fz"]:
        name = "cdsvae"
    else:
        name = "dsvae"
    cls = BUILT_IN[name]
    fields = {f.name for f in dataclasses.fields(cls.Options)}
    lost = [k for k, v in values.items() if k not in fields and v != _LEGACY_DEFAULTS[k]]
    if lost:
        raise MethodError(
            f"these options mix the terms of several methods ({', '.join(sorted(lost))} beside "
            f"{cls.title}'s), which no method has: write a method of your own (docs/extending.md)"
        )
    return name, {k: values[k] for k in fields}


def legacy_model_switches(name: str, preset: str, overrides: dict) -> dict:
    """The model overrides that keep an earlier run's model when its flat options are read as the
    built-in method ``name``: the method's model switches that the run did not set get the values
    the run had (the preset's, else DSVAEConfig's defaults), not the method's defaults."""
    defaults = DSVAEConfig.defaults()
    pinned = {
        k: PRESETS.get(preset, {}).get(k, defaults[k])
        for k in BUILT_IN[name].model_defaults
        if k not in overrides
    }
    return {**overrides, **pinned}


def upgrade_train_record(record: dict) -> dict:
    """RUN/train.json as this dsvae reads it: a run trained before methods had names records its
    terms as flat options (:data:`LEGACY_OPTIONS`); they become the built-in method they made
    (:func:`legacy_method`) and its options, with the model switches that method would change
    pinned to what the run had (:func:`legacy_model_switches`), so that the run resumes, scores and
    compares as the same run. A record that names its method is returned as it is."""
    if "method" in record:
        return record
    found = legacy_method(record) or ("dsvae", {})
    name, options = found
    upgraded = {k: v for k, v in record.items() if k not in LEGACY_OPTIONS}
    upgraded["method"], upgraded["method_options"] = name, options
    upgraded["model_overrides"] = legacy_model_switches(
        name, record.get("preset", "cpu"), dict(record.get("model_overrides", {}))
    )
    return upgraded


__all__ = [
    "BUILT_IN",
    "CDSVAE",
    "DBSE",
    "DSVAE",
    "ENTRY_POINT_GROUP",
    "LEGACY_OPTIONS",
    "Method",
    "MethodError",
    "MethodOptions",
    "SPYL",
    "available_methods",
    "describe_method",
    "legacy_method",
    "legacy_model_switches",
    "make_method",
    "method_class",
    "method_ref",
    "method_source",
    "method_terms",
    "upgrade_train_record",
    "with_source",
]
