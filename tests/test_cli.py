"""The command line only parses: every command's options come from an options dataclass, and the
options every command shares (--device, --precision, --force, --out) are made by one helper each."""

import argparse

from dsvae.cli import build_parser
from dsvae.data.sprites import LAYOUTS
from dsvae.device import DEVICES_HELP, PRECISIONS


def parsers(parser=None, name="dsvae"):
    """(command words, parser) of every (sub)command."""
    parser = parser or build_parser()
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield from parsers(sub, f"{name} {word}")


def option_of(parser, flag):
    return next((a for a in parser._actions if flag in a.option_strings), None)


def test_shared_options_read_the_same_everywhere():
    seen = {"--device": set(), "--precision": set(), "--force": set()}
    for name, p in parsers():
        for flag in seen:
            action = option_of(p, flag)
            if action is not None:
                seen[flag].add(action.help.split(" (default")[0].split("; auto uses")[0])
                if flag == "--precision":
                    assert tuple(action.choices) == PRECISIONS, name
    assert seen["--device"] == {DEVICES_HELP}
    assert all(h.startswith("replace ") for h in seen["--force"])
    assert all(h.startswith("bf16 autocast or fp32") for h in seen["--precision"])


def test_choices_come_from_the_library():
    p = dict(parsers())["dsvae data import-sprites"]
    assert tuple(option_of(p, "--layout").choices) == LAYOUTS


def test_options_are_checked_where_they_are_made(capsys):
    from dsvae.cli import main

    assert main(["eval", "run", "--seeds", "0"]) == 2
    assert "seeds" in capsys.readouterr().err


def test_nothing_but_parsing_reads_the_run_folder():
    """The recipe/resume merge, run naming and the checkpoints' advice live in dsvae.run."""
    import dsvae.cli as cli

    source = open(cli.__file__).read()
    for word in ("train.json", "read_train_options", "last_good_checkpoint", "strftime", "checkpoints/"):
        assert word not in source, word
