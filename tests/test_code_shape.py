"""The code reads top-down in functions of a readable length: no function outside model.py (whose
forward passes are the paper's equations in one place) runs past about 80 lines of code, not
counting its signature and docstring."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "dsvae"
MAX_LINES = 80


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's end."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:] or body
    return node.end_lineno - body[0].lineno + 1


def long_functions(source: str, max_lines: int = MAX_LINES) -> list[tuple[str, int]]:
    return [
        (node.name, body_lines(node))
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > max_lines
    ]


def test_the_measure_counts_code_not_docstrings():
    doc = '    """' + "words\n" * 100 + '    """\n'
    source = "def f():\n" + doc + "    return 1\n\ndef g():\n" + "    x = 1\n" * 90
    assert long_functions(source) == [("g", 90)]


def test_no_function_outside_the_model_runs_past_80_lines():
    found = [
        f"{path.relative_to(SRC)}: {name} ({n} lines)"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "model.py"
        for name, n in long_functions(path.read_text(encoding="utf-8"))
    ]
    assert found == []
