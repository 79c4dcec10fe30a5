"""The config base (dsvae.config.ConfigBase): one set of rules for every options dataclass (kinds,
ranges, names, JSON and flags), and DSVAEConfig's presets on it."""

import json
from dataclasses import dataclass

import pytest

from dsvae.config import (
    NON_NEGATIVE,
    POSITIVE,
    PRESETS,
    ConfigBase,
    DSVAEConfig,
    Range,
    did_you_mean,
    option,
)


@dataclass
class Example(ConfigBase):
    WHAT = "example option"

    steps: int = option(10, "how many", NON_NEGATIVE)
    rate: float = option(0.5, "a rate", Range(0, 1, high_open=True))
    widths: tuple[int, ...] = option((8, 16), "widths")
    pair: tuple[float, float] = option((0.9, 0.999), "two numbers", Range(0, 1, high_open=True))
    name: str = option("a", "a name")
    switch: bool | None = option(None, "on, off or unset")
    table: dict = option({}, "names and values")


def test_kinds_are_checked_and_kept_as_declared():
    e = Example(steps=3, rate=0, widths=[1, 2, 3], pair=[0, 0.5], switch=True)
    assert (e.rate, e.widths, e.pair) == (0.0, (1, 2, 3), (0.0, 0.5))  # ints to floats, lists to tuples
    assert isinstance(e.rate, float) and Example(widths=4).widths == (4,)
    for bad, says in [
        (dict(steps=1.5), "steps must be a whole number, got 1.5"),
        (dict(steps=True), "steps must be a whole number"),
        (dict(rate="fast"), "rate must be a number"),
        (dict(widths=["a"]), "widths must be whole numbers separated by commas"),
        (dict(pair=[0.5]), "pair must be 2 numbers separated by commas"),
        (dict(name=3), "name must be a string"),
        (dict(switch="yes"), "switch must be on or off"),
        (dict(table=[1]), "table must be a table of names and values"),
    ]:
        with pytest.raises(ValueError, match=says):
            Example(**bad)


def test_ranges_are_checked_where_the_options_are_made():
    for bad, says in [
        (dict(steps=-1), r"example option steps \(--steps\) = -1 is out of range: steps must be >= 0"),
        (dict(rate=1.0), r"rate must be in \[0, 1\)"),
        (dict(rate=float("nan")), "rate must be in"),
        (dict(pair=(0.5, 1.5)), r"each of pair must be in \[0, 1\)"),
    ]:
        with pytest.raises(ValueError, match=says):
            Example(**bad)
    assert Example(steps=0, rate=0.0).steps == 0  # the bounds themselves
    assert str(POSITIVE) == "> 0" and str(Range(0, 1, low_open=True)) == "in (0, 1]"
    assert not POSITIVE.holds(float("inf")) and Range(1).holds(1.0)


def test_from_dict_names_unknown_fields_with_the_closest_and_to_dict_round_trips():
    with pytest.raises(
        ValueError, match=r"recipe x: unknown example option 'stpes' \(--stpes ...\): did you mean steps"
    ):
        Example.from_dict({"stpes": 3}, where="recipe x")
    e = Example(steps=4, widths=(1, 2), table={"a": 1})
    d = e.to_dict()
    assert d["widths"] == [1, 2] and json.loads(json.dumps(d)) == d
    assert Example.from_dict(d) == e
    assert Example.defaults()["widths"] == (8, 16)
    assert Example.parse("widths", "1,2,3") == [1, 2, 3] and Example.parse("name", "abc") == "abc"
    assert Example.parse("rate", "0.25") == 0.25


def test_did_you_mean_gives_the_closest_or_the_list():
    assert did_you_mean("z_dimm", ["z_dim", "f_dim", "T"]) == "did you mean z_dim or f_dim?"
    assert did_you_mean("qqq", ["a", "b"]) == "known: a, b"


def test_dsvae_config_is_one_of_them():
    cfg = DSVAEConfig.preset("tiny", z_dim=3)
    assert DSVAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown DSVAEConfig field 'zz' \(--set zz=...\)"):
        DSVAEConfig.preset("tiny", zz=1)
    with pytest.raises(ValueError, match="every width of conv_channels must be positive"):
        DSVAEConfig.preset("tiny", conv_channels=(8, 0))
    for name in PRESETS:
        DSVAEConfig.preset(name)  # every preset is a valid config
