"""README.md stays true and short: its API example runs on a real run folder, every command it shows
parses (train commands resolve to a valid model), CI runs its install and test commands, its tables
are those the results file gives, and nothing in the project speaks of the development machines."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_train_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def command_lines(text: str) -> list[str]:
    """Every `dsvae ...` line of the indented command blocks, continuation lines joined."""
    text = text.replace("\\\n", " ")
    return [m.split("  #")[0].strip() for m in re.findall(r"^    (dsvae .+)$", text, flags=re.M)]


def test_readme_is_a_manual_of_at_most_300_lines():
    assert len(README.splitlines()) <= 300
    head = README[: README.index("## The Sprites benchmark") + 1]
    for section in ("## Install", "## The main job", "## Tests"):
        assert section in head


def test_api_example_runs_on_a_run_folder(tmp_path, tiny_dataset_dir):
    from dsvae.train import train

    train(tiny_train_config(tiny_dataset_dir, epochs=1), tmp_path / "runs" / "quickstart")
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README.md has no python example"
    assert len(blocks[0].strip().splitlines()) <= 12
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "elbo terms" in proc.stdout


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in README  # where the CPU build comes from
    install = re.search(r"^    (pip install -e \"\.\[all\]\")$", README, flags=re.M).group(1)
    assert install.replace("pip install", "pip install -q") in ci
    test_cmd = re.search(r"## Tests\n\n    (.+)\n", README).group(1)
    assert test_cmd in ci


def test_every_readme_command_parses(tmp_path, monkeypatch):
    """Every dsvae command of README.md and docs/ parses; train commands resolve (recipe, options) to
    a valid model config. docs/extending.md's commands run where its examples are installed: the
    example source through a package's entry point, the method and metric from examples/."""
    from conftest import fake_distribution
    from dsvae.cli import build_parser, train_config_from_args
    from dsvae.config import DSVAEConfig
    from dsvae.data import sources

    site = fake_distribution(tmp_path / "site", "dsvae.data", {"moving-balls": "moving_balls:SOURCE"})
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sources, "_LOADED", {})
    monkeypatch.chdir(ROOT)

    docs = "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    readme_commands = command_lines(README)
    assert len(readme_commands) >= 12
    parser = build_parser()
    for cmd in readme_commands + command_lines(docs):
        words = [w.replace("...", "x") for w in shlex.split(cmd)[1:]]
        try:
            args = parser.parse_args(words)
        except SystemExit as e:
            pytest.fail(f"{cmd!r} does not parse (exit {e.code})")
        if args.command == "train" and not args.resume:
            tc, _ = train_config_from_args(args)
            DSVAEConfig.preset(tc.preset, **tc.model_overrides)


def test_readme_tables_are_generated_from_the_results_file():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "tables.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nothing_speaks_of_the_development_machines():
    words = re.compile(r"\.\./shared|SPEC\.md|previous session|this session|lent GPU|a lent ")
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("src/dsvae/**/*.py")]
    files += [*ROOT.glob("src/dsvae/recipes/*.toml"), *ROOT.glob("benchmarks/*")]
    hits = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for p in files
        if p.is_file()
        for m in words.finditer(p.read_text())
    ]
    assert hits == []


def test_a_row_scored_by_an_earlier_eval_is_marked_under_its_table(monkeypatch):
    import importlib.util

    from dsvae.evaluate.records import SCORING_VERSION

    spec = importlib.util.spec_from_file_location("tables", ROOT / "docs" / "tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    assert tables._seeds({"runs": 3, "scoring": SCORING_VERSION}) == "3 seeds"
    assert tables._seeds({"runs": 1}) == "1 seed" + tables.EARLIER  # recorded before the version
    assert tables._seeds({"runs": 2, "scoring": SCORING_VERSION - 1}).endswith(tables.EARLIER)
    block = "<!-- table:t -->\nold\n<!-- /table -->"
    head = ["| where, seeds |", "| --- |"]
    monkeypatch.setattr(tables, "TABLES", {"t": lambda: [*head, "| 3 seeds |", "| 3 seeds |"]})
    assert tables.EARLIER_NOTE not in tables.render(block)
    marked = f"| 1 seed{tables.EARLIER} |"
    monkeypatch.setattr(tables, "TABLES", {"t": lambda: [*head, "| 3 seeds |", marked]})
    assert tables.render(block).endswith(tables.EARLIER_NOTE + "\n<!-- /table -->")
