"""README.md stays true: its API example runs, and CI runs its install and test commands."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_api_example_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README.md has no python example"
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert " = " in proc.stdout and (tmp_path / "my_model" / "model.safetensors").exists()


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"^    (pip install torch==\S+ -e \"\.\[all\]\")$", README, flags=re.M).group(1)
    assert install.replace("pip install", "pip install -q") in ci
    test_cmd = re.search(r"## Tests\n\n    (.+)\n", README).group(1)
    assert test_cmd in ci


def test_cli_commands_in_readme_exist():
    from dsvae.cli import build_parser

    parser = build_parser()
    commands = set(re.findall(r"^\s+dsvae (\w+)", README, flags=re.M))
    sub = next(a for a in parser._actions if a.dest == "command")
    assert commands <= set(sub.choices), commands - set(sub.choices)


def test_readme_train_commands_parse_to_valid_configs():
    """Every `dsvae train` command of README.md parses, and its --set overrides make a valid model."""
    import shlex

    from dsvae.cli import build_parser
    from dsvae.config import DSVAEConfig

    text = README.replace("\\\n", " ")
    commands = re.findall(r"^\s+(dsvae train .+)$", text, flags=re.M)
    assert len(commands) >= 3, commands
    parser = build_parser()
    for cmd in commands:
        args = parser.parse_args(shlex.split(cmd.split("#")[0])[1:])
        DSVAEConfig.preset(args.preset, **dict(args.overrides))
