"""Recipes: a run's data, model preset and overrides, and every training option, in one small TOML file.

A recipe file holds :class:`~dsvae.options.TrainConfig` fields at its top level (``data``, ``preset``,
``epochs``, ``lr``, ...), the method in a ``[method]`` table (``name`` and the method's options;
``method = "dsvae"`` where it takes none; :mod:`dsvae.methods`), DSVAEConfig fields over the preset
in a ``[model]`` table, and a one-line ``about``. The recipes shipped here are listed by ``dsvae
recipes``; a user's own file works the same way (``dsvae train --recipe my.toml``). Options given on
the command line override the recipe's, and the run folder records the recipe's name, sha256 and
text (RUN/train.json, RUN/recipe.toml).

What each shipped recipe measured (time and scores per CPU kind or GPU) is in ``results.json``
beside the recipes, written by ``dsvae compare RUN... --record FILE`` from scored run folders.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DSVAEConfig, did_you_mean
from ..methods import BUILT_IN, LEGACY_OPTIONS, MethodError, legacy_method, method_class
from ..options import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RECIPE_DIR = Path(__file__).resolve().parent
RESULTS_FILE = RECIPE_DIR / "results.json"
# TrainConfig fields a recipe does not set: how a command runs, not what it trains (and the tables
# [model] and [method], which set model_overrides and method_options)
NOT_IN_RECIPES = {"model_overrides", "method_options", "max_steps", "max_minutes", "progress"}


def recipe_sha256(text: str) -> str:
    """The identity of a recipe (RUN/recipe.toml, a shipped or a user's file): sha256 of its settings
    (every key but ``about``) as canonical JSON, so that comments and layout do not make another
    recipe but any changed value does. Raises ValueError for text that is not TOML."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"not a TOML recipe: {e}") from None
    doc.pop("about", None)
    return hashlib.sha256(json.dumps(canonical_recipe(doc), sort_keys=True).encode()).hexdigest()


def canonical_recipe(doc: dict) -> dict:
    """A recipe's settings in the one form its identity is taken from: a built-in method's options
    (every one, defaults filled in) at the top level, as recipes wrote them before methods had
    names (so those recipes, and the runs that recorded them, keep their sha256), and DSVAE's
    nothing; a user's method as ``method = {name, options...}``."""
    doc = dict(doc)
    if "method" not in doc:
        return doc
    given = doc.pop("method")
    table = {"name": given} if isinstance(given, str) else dict(given)
    name = table.pop("name", "dsvae")
    if name in BUILT_IN:
        options = BUILT_IN[name].options_from(table).to_dict() if name != "dsvae" else {}
        return {**doc, **options}
    return {**doc, "method": {"name": name, **table}}


class RecipeError(ValueError):
    """A recipe that cannot be read or used; the message names the file and what to change."""


@dataclass
class Recipe:
    """One recipe: ``train`` holds TrainConfig fields (``method`` and ``method_options`` from its
    ``[method]`` table), ``model`` DSVAEConfig fields over the preset."""

    name: str
    source: str  # "dsvae:NAME" for a shipped recipe, else the file's path
    text: str
    about: str = ""
    train: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        """The recipe's identity: its settings' sha256 (:func:`recipe_sha256`)."""
        return recipe_sha256(self.text)

    def record(self) -> dict:
        """What a run folder records of the recipe (``dsvae.train.train(recipe=...)``)."""
        return {"name": self.name, "sha256": self.sha256, "source": self.source, "text": self.text}

    def train_config(self, options: dict | None = None, model_overrides: dict | None = None) -> TrainConfig:
        """The recipe's TrainConfig with ``options`` (TrainConfig fields, e.g. the command line's)
        over it and ``model_overrides`` over its ``[model]`` table.

        Raises RecipeError when the recipe names no data and none is given."""
        values = {**self.train, **(options or {})}
        values["model_overrides"] = {**self.model, **(model_overrides or {})}
        if not values.get("data"):
            raise RecipeError(
                f"recipe {self.name!r} trains on data you give: add --data FOLDER (build one from "
                "your clips with `dsvae data video --input CLIPS --out data/my_clips`)"
            )
        return TrainConfig.from_dict(values)


def recipe_names() -> list[str]:
    """The shipped recipes, in the order ``dsvae recipes`` lists them."""
    order = [
        "quickstart",
        "quickstart-cdsvae",
        "quickstart-silhouette",
        "quickstart-spyl",
        "sprites",
        "sprites-cdsvae",
        "sprites-cdsvae-shared",
        "sprites-dbse",
        "sprites-spyl",
        "sprites-spyl-published",
        "paper",
        "paper-fast",
        "fsdd",
        "fsdd-cdsvae",
        "fsdd-dbse",
        "fsdd-spyl",
        "fsdd-spyl-published",
        "video",
    ]
    found = sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))
    return [n for n in order if n in found] + [n for n in found if n not in order]


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name (``quickstart``) or a recipe file (``my.toml``).

    Raises RecipeError for an unknown name (with the closest names), a file that is not valid TOML
    (with the line), unknown keys (with the closest field names) or values of the wrong kind."""
    text_name = str(name_or_path)
    path = Path(text_name)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise RecipeError(f"recipe file {path} not found")
        name, source = path.stem, str(path.resolve())
    else:
        names = recipe_names()
        if text_name not in names:
            raise RecipeError(
                f"no recipe named {text_name!r}: {did_you_mean(text_name, names)} (dsvae recipes lists "
                "them); or give a recipe file (my.toml)"
            )
        path, name, source = RECIPE_DIR / f"{text_name}.toml", text_name, f"dsvae:{text_name}"
    try:
        # utf-8-sig: a recipe saved by an editor that writes a byte-order mark reads as any other
        text = path.read_text(encoding="utf-8-sig")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise RecipeError(f"recipe {path} is not a text file: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipe {path} is not valid TOML: {e}") from None
    about = doc.pop("about", "")
    model = doc.pop("model", {})
    if not isinstance(model, dict):
        raise RecipeError(f"recipe {path}: [model] must be a table of DSVAEConfig fields")
    doc.update(_method_entries(path, doc.pop("method", None), doc))
    _check_keys(path, doc, TrainConfig, NOT_IN_RECIPES - {"method_options"}, "training option")
    _check_keys(path, model, DSVAEConfig, set(), "model field ([model])")
    recipe = Recipe(name=name, source=source, text=text, about=str(about), train=doc, model=model)
    try:
        recipe_values_check(recipe)
    except (TypeError, ValueError) as e:
        raise RecipeError(f"recipe {path}: {e}") from None
    return recipe


def _method_entries(path: Path, given, doc: dict) -> dict:
    """TrainConfig's ``method`` and ``method_options`` from a recipe's ``method`` (a name, or a
    ``[method]`` table: ``name`` and the options). A recipe written before methods had names sets a
    built-in's options at its top level (``contrastive_f = 10.0``): read as that method, with a
    note. Raises RecipeError for a table without a name, or both forms at once."""
    flat = {k: doc.pop(k) for k in list(doc) if k in LEGACY_OPTIONS}
    if flat:
        if given is not None:
            raise RecipeError(
                f"recipe {path}: {', '.join(flat)} belong in the [method] table, beside its name"
            )
        try:
            name, options = legacy_method(flat)
        except MethodError as e:
            raise RecipeError(f"recipe {path}: {e}") from None
        warnings.warn(
            f"recipe {path}: {', '.join(flat)} at the top level are the {name} method's options; read "
            f"as such (write them as [method] name = {name!r} and the options beneath)",
            stacklevel=3,
        )
        return {"method": name, "method_options": options}
    if given is None:
        return {}
    if isinstance(given, str):
        return {"method": given}
    if not isinstance(given, dict) or not isinstance(given.get("name"), str):
        raise RecipeError(
            f'recipe {path}: method must be a name (method = "dbse") or a [method] table with a name '
            'and the method\'s options (name = "cdsvae", contrastive_f = 10.0, ...)'
        )
    table = dict(given)
    return {"method": table.pop("name"), "method_options": table}


def _check_keys(path: Path, values: dict, cls, excluded: set, what: str) -> None:
    known = [name for name in cls.known() if name not in excluded]
    for key in values:
        if key not in known:
            raise RecipeError(f"recipe {path}: unknown {what} {key!r}; {did_you_mean(key, known)}")


def recipe_values_check(recipe: Recipe) -> None:
    """Every training option of its kind and range, the method's options of its dataclass
    (:class:`~dsvae.config.ConfigBase`: one set of checks for the recipe, the command line and the
    API), and the model fields by building the DSVAEConfig of the preset with the method's switches.
    Raises ValueError."""
    tc = TrainConfig.from_dict(recipe.train)
    DSVAEConfig.preset(tc.preset, **{**method_class(tc.method).model_defaults, **recipe.model})


__all__ = [
    "RECIPE_DIR",
    "RESULTS_FILE",
    "Recipe",
    "RecipeError",
    "canonical_recipe",
    "load_recipe",
    "recipe_names",
    "recipe_sha256",
]
