"""A machine whose locale is not UTF-8 (bug report "real-world inputs, round 4", case 7): with
``LANG=C LC_ALL=C PYTHONUTF8=0`` (as Windows is by default) Python opens text files and writes
stdout in ASCII, and `dsvae eval` ended with "'ascii' codec can't encode character '\\xb1'" after
metrics.json was written. Every text file dsvae writes or reads is UTF-8 whatever the locale, and the
command line prints characters its stdout cannot hold as backslash escapes."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import moving_squares, tiny_train_config
from dsvae.train import train

SRC = Path(__file__).resolve().parents[1] / "src" / "dsvae"
ASCII_LOCALE = {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


def _mode(call: ast.Call, position: int) -> str | None:
    """The mode of an open-like call: its argument at ``position`` or ``mode=``; "r" when absent,
    None when it is not a literal (then it cannot be checked here)."""
    node = call.args[position] if len(call.args) > position else None
    node = next((k.value for k in call.keywords if k.arg == "mode"), node)
    if node is None:
        return "r"
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _has_encoding(call: ast.Call, position: int) -> bool:
    return len(call.args) > position or any(k.arg in ("encoding", None) for k in call.keywords)


def text_io_without_encoding(source: str) -> list[tuple[int, str]]:
    """(line, call) of every text-mode file access in ``source`` that leaves the encoding to the
    locale: builtin ``open``/``os.fdopen``/``io.open`` and ``Path.open`` in a text mode (no "b"),
    ``read_text``/``write_text``, and ``subprocess`` calls with ``text=True`` or
    ``universal_newlines=True``, none of them naming an ``encoding``. Calls of ``.open`` with a
    first argument that is no mode (``Image.open(path)``, ``SequenceDataset.open(dir)``,
    ``ZipFile.open(name)``, ``os.open(path, flags)``) are other opens and are not counted."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        attribute = isinstance(func, ast.Attribute)
        name = func.attr if attribute else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if attribute and isinstance(func.value, ast.Name) else None
        bad = False
        if name == "open" and (not attribute or owner == "io"):  # open(file, mode, buffering, encoding)
            mode = _mode(node, 1)
            bad = mode is not None and "b" not in mode and not _has_encoding(node, 3)
        elif name == "fdopen":  # os.fdopen(fd, mode, buffering, encoding)
            mode = _mode(node, 1)
            bad = mode is not None and "b" not in mode and not _has_encoding(node, 3)
        elif name == "open" and owner != "os":  # Path.open(mode, buffering, encoding)
            first = node.args[0] if node.args else None
            is_mode = first is None or (isinstance(first, ast.Constant) and isinstance(first.value, str))
            is_mode = is_mode and (first is None or set(first.value) <= set("rwaxbt+"))
            text_kw = any(k.arg in ("newline", "errors") for k in node.keywords)
            if is_mode or text_kw:
                mode = _mode(node, 0)
                bad = mode is not None and "b" not in mode and not _has_encoding(node, 2)
        elif name == "read_text":
            bad = not _has_encoding(node, 0)
        elif name == "write_text":
            bad = not _has_encoding(node, 1)
        elif any(
            k.arg in ("text", "universal_newlines") and isinstance(k.value, ast.Constant) and k.value.value
            for k in node.keywords
        ):
            bad = not any(k.arg == "encoding" for k in node.keywords)
        if bad:
            found.append((node.lineno, ast.unparse(node)[:80]))
    return found


def test_the_check_finds_text_io_that_leaves_the_encoding_to_the_locale():
    source = (
        "open(p)\nopen(p, 'w')\nopen(p, 'rb')\nopen(p, encoding='utf-8')\nos.fdopen(fd, 'w')\n"
        "path.read_text()\npath.read_text(encoding='utf-8')\np.write_text(s)\n"
        "p.write_text(s, encoding='utf-8')\n"
        "path.open('a', newline='')\npath.open(newline='')\npath.open('rb')\nImage.open(path)\n"
        "SequenceDataset.open(out)\nos.open(path, os.O_RDONLY)\nzf.open('x.npy')\npath.open()\n"
        "subprocess.run(cmd, text=True)\nsubprocess.run(cmd, text=True, encoding='utf-8')\n"
        "path.open('w', newline='', encoding='utf-8')\n"
    )
    assert [line for line, _ in text_io_without_encoding(source)] == [1, 2, 5, 6, 8, 10, 11, 17, 18]


def test_every_text_file_of_dsvae_is_read_and_written_as_utf8():
    """The kind stays fixed: no module of src/dsvae (data/ included) opens a text file, or reads a
    process's text output, in the locale's encoding."""
    found = [
        f"{path.relative_to(SRC.parent)}:{line}: {call}"
        for path in sorted(SRC.rglob("*.py"))
        for line, call in text_io_without_encoding(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "text I/O without encoding='utf-8':\n" + "\n".join(found)


@pytest.fixture(scope="module")
def ascii_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("ascii")
    moving_squares().save(base / "squares")
    train(tiny_train_config(base / "squares", epochs=1), base / "run")
    return base / "run"


# one process in an ASCII (C) locale runs the three commands as `python -m dsvae` runs each (a fresh
# interpreter per command would import torch three times more); each command's stdout follows its mark
ASCII_SCRIPT = """
import json, locale, sys
from dsvae.cli import main
print(sys.stdout.encoding, locale.getpreferredencoding(False), flush=True)
for args in json.loads(sys.argv[1]):
    print("@@ dsvae", args[0], flush=True)
    code = main(args)
    sys.stdout.flush()
    print("@@ exit", code, flush=True)
"""


def dsvae_ascii(*commands: list[str]) -> tuple[str, list[tuple[int, bytes]], str]:
    """The commands run by ``dsvae.cli.main`` in one process in an ASCII (C) locale: (that process's
    stdout encoding and preferred encoding, (exit code, stdout as bytes) per command, its stderr)."""
    env = {**os.environ, **ASCII_LOCALE}
    done = subprocess.run(
        [sys.executable, "-c", ASCII_SCRIPT, json.dumps(commands)], env=env, capture_output=True, timeout=600
    )
    err = done.stderr.decode("ascii", "backslashreplace")[-3000:]
    assert done.returncode == 0, err
    probe, *parts = done.stdout.split(b"@@ dsvae ")
    results = []
    for part, args in zip(parts, commands):
        out, code = part.rsplit(b"@@ exit ", 1)
        assert out.startswith(args[0].encode() + b"\n"), out[:200]
        results.append((int(code), out))
    assert len(results) == len(commands), done.stdout[-2000:]
    return probe.decode("ascii", "backslashreplace"), results, err


def test_eval_viz_and_report_under_an_ascii_locale(ascii_run):
    probe, done, err = dsvae_ascii(
        ["eval", str(ascii_run), "--seeds", "1", "--dci", "linear", "--device", "cpu"],
        ["viz", str(ascii_run), "--rows", "2", "--cols", "2", "--k", "2"],
        ["report", str(ascii_run)],
    )
    assert "utf" not in probe.lower(), f"the locale is not ASCII here: {probe}"
    (evaluated, printed), (drawn, _), (reported, _) = done

    assert evaluated == 0, err
    md = (ascii_run / "metrics.md").read_text(encoding="utf-8")
    assert "±" in md and json.loads((ascii_run / "metrics.json").read_text(encoding="utf-8"))["seeds"] == 1
    assert b"\\xb1" in printed  # the ± of the printed tables, escaped for an ASCII stdout

    assert drawn == 0, err
    assert (ascii_run / "pictures" / "latent_map.png").exists()

    assert reported == 0, err
    page = (ascii_run / "report.html").read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in page and "±" in page
