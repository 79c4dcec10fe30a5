"""What a training asks for and what it gets: the options given (a command line's, an API's
TrainConfig) over a recipe's, over the defaults for a new run or over the options a resumed run
recorded (:class:`TrainRequest`); the rules of resuming (:func:`resumed_config`) and the name of a
new run folder (:func:`new_run_dir`). Pure functions of the recorded and the asked options: the run
being trained (:mod:`dsvae.run.training`) reads RUN/train.json once and hands it here."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..methods import make_method
from ..options import TrainConfig
from ..recipes import Recipe, load_recipe
from .records import train_config_of

# what a resumed run may change: its length and the machine it runs on; everything else would make
# it another run than the one it continues
MAY_CHANGE_ON_RESUME = (
    "epochs",
    "max_steps",
    "max_minutes",
    "device",
    "progress",
    "pictures",
    "log_every",
    "checkpoint_every",
)
# the TrainConfig fields that are tables, given entry by entry (--set, --method-option)
TABLES = ("model_overrides", "method_options")
# the limits of one invocation: a resumed run runs its epochs unless given new limits
LIMITS = {"max_steps": 0, "max_minutes": 0.0}


@dataclass
class TrainRequest:
    """The options a training was asked for, before they meet a recipe or a run's record:
    ``given`` (TrainConfig fields, the tables left out), ``overrides`` (DSVAEConfig fields over the
    preset, ``--set``), ``method_options`` (``--method-option``) and ``recipe`` (a shipped recipe's
    name or a recipe file, loaded once when first asked for)."""

    given: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)
    method_options: dict = field(default_factory=dict)
    recipe: str | Path | Recipe | None = None

    @classmethod
    def resuming_with(cls, tc: TrainConfig) -> TrainRequest:
        """An API's TrainConfig on resume: of it only what a resumed run may change is asked for."""
        return cls(given={k: getattr(tc, k) for k in MAY_CHANGE_ON_RESUME})

    @property
    def loaded_recipe(self) -> Recipe | None:
        """The recipe, loaded (:func:`dsvae.recipes.load_recipe`). Raises RecipeError."""
        if self.recipe is not None and not isinstance(self.recipe, Recipe):
            self.recipe = load_recipe(self.recipe)
        return self.recipe

    def _method_options(self) -> dict:
        """The method's options asked for: the recipe's [method] table (when the method is the
        recipe's: another --method starts from that one's defaults), the given ones over it."""
        recipe = self.loaded_recipe
        if recipe is None:
            return dict(self.method_options)
        ours = recipe.train.get("method", "dsvae")
        base = recipe.train.get("method_options", {}) if self.given.get("method", ours) == ours else {}
        return {**base, **self.method_options}

    def new_config(self) -> tuple[TrainConfig, Recipe | None]:
        """The TrainConfig of a new run: the defaults, the recipe's options over them, the given
        ones over those. Raises ValueError (RecipeError, an option out of range or unknown)."""
        recipe, method_options = self.loaded_recipe, self._method_options()
        if recipe is not None:
            options = {**self.given, "method_options": method_options}
            return recipe.train_config(options, self.overrides), recipe
        return TrainConfig(**self.given, model_overrides=self.overrides, method_options=method_options), None

    def resumed_config(self, record: dict, run_dir: str | Path) -> tuple[TrainConfig, list[str]]:
        """The TrainConfig a resumed run continues with: its ``record`` (RUN/train.json) with what
        was asked for where it may change (:func:`resumed_config`); a table entry (--set,
        --method-option) that repeats the recorded value is no change. Returns the config and one
        line per option changed. Raises ValueError naming every refused change."""
        recipe, method_options = self.loaded_recipe, self._method_options()
        asked = {**LIMITS, **(recipe.train if recipe is not None else {}), **self.given}
        overrides = {**(recipe.model if recipe is not None else {}), **self.overrides}
        if overrides:
            asked["model_overrides"] = {**record.get("model_overrides", {}), **overrides}
        if method_options:
            asked["method_options"] = {**record.get("method_options", {}), **method_options}
        return resumed_config(record, asked, run_dir)


def resumed_config(record: dict, changes: dict, run_dir: str | Path) -> tuple[TrainConfig, list[str]]:
    """The TrainConfig of a run's ``record`` (RUN/train.json), with ``changes`` (TrainConfig fields)
    applied where a resumed run may change them (:data:`MAY_CHANGE_ON_RESUME`). Returns the config
    and one line per option changed ("epochs: 16 -> 20").

    Raises ValueError naming every other option of ``changes`` whose value differs from the recorded
    one (with that value): continuing a run with another learning rate, batch or model would silently
    train something else. ``data`` is not compared (a moved data folder is relocated and checked by
    its checksums, :func:`dsvae.run.data.relocate_data`)."""
    recorded = train_config_of(record)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    applied, refused = [], []
    for key, value in changes.items():
        if key not in fields:
            raise ValueError(f"unknown training option {key!r}")
        old = getattr(recorded, key)
        if key == "method_options":  # an option the method lacks: the closest names, not a difference
            value = make_method(recorded.method, value).options.to_dict()
        if key == "data" or _same(value, old):
            continue
        if key in MAY_CHANGE_ON_RESUME:
            setattr(recorded, key, value)
            applied.append(f"{key}: {_shown(old)} -> {_shown(value)}")
        else:
            flag = {"model_overrides": "--set", "method_options": "--method-option"}.get(
                key, "--" + key.replace("_", "-")
            )
            refused.append(f"{flag} {_shown(value)} (the run recorded {_shown(old)})")
    if refused:
        raise ValueError(
            f"{run_dir} was trained with other options, and a resumed run continues with the ones it "
            "recorded: " + "; ".join(refused) + ". Drop them to continue the run as it was, or train a "
            "new run into another --out (or start this one over with --force). Only "
            + ", ".join(f"--{k.replace('_', '-')}" for k in MAY_CHANGE_ON_RESUME)
            + " may change on --resume (and the learning rate on purpose, recorded in train.json, "
            "with --resume-lr LR: the way on after a diverged run)."
        )
    return recorded, applied


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _shown(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={_shown(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def new_run_dir(tc: TrainConfig, recipe: Recipe | None, root: str | Path = "runs") -> Path:
    """Where a new run goes when no folder is named: ``runs/<recipe>-<time>``, or
    ``runs/<data>-<preset>-<time>`` without a recipe (the time to the second, local)."""
    stem = recipe.name if recipe is not None else f"{Path(tc.data).name or 'data'}-{tc.preset}"
    return Path(root) / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
