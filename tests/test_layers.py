"""Layers import downwards only: nothing imports the command line, no two modules import each other,
and evaluation, pictures and the benchmark import nothing from the training loop."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def import_graph() -> dict[str, set[str]]:
    files = {}
    for p in (SRC / "dsvae").rglob("*.py"):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = p
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[mod] |= {n for n in names if n in files and n != mod}
    return graph


def test_nothing_imports_the_command_line():
    graph = import_graph()
    assert [m for m, deps in graph.items() if "dsvae.cli" in deps and m != "dsvae.__main__"] == []


def test_no_two_modules_import_each_other():
    graph = import_graph()
    pairs = sorted({tuple(sorted((a, b))) for a, deps in graph.items() for b in deps if a in graph[b]})
    assert pairs == []


def test_evaluation_pictures_and_bench_do_not_lean_on_training():
    graph = import_graph()
    for mod, deps in graph.items():
        if mod.startswith(("dsvae.evaluate", "dsvae.viz", "dsvae.bench", "dsvae.report", "dsvae.device")):
            assert "dsvae.train" not in deps, mod
