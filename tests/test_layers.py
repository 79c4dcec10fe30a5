"""Layers import downwards only: nothing imports the command line, no two modules import each other,
and evaluation, pictures and the benchmark import nothing from the training loop. Imports inside
functions (lazy imports) count as much as those at the top of a module: ast.walk visits every node."""

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def imports_of(source: str, mod: str, is_package: bool = False) -> list[tuple[str, str | None]]:
    """(module, name or None) of every import in ``source``, the module ``mod``, wherever it sits
    (top level, function, method, branch): ``from .x import y`` -> (pkg.x, y)."""
    package = mod if is_package else mod.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found += [(target, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names]
    return found


def module_files() -> dict[str, Path]:
    files = {}
    for p in (SRC / "dsvae").rglob("*.py"):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = p
    return files


@functools.cache  # the sources do not change during a session: parsed once, read by every test
def imported_names() -> dict[str, list[tuple[str, str | None]]]:
    return {
        mod: imports_of(path.read_text(), mod, path.name == "__init__.py")
        for mod, path in module_files().items()
    }


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, found in imported_names().items():
        for target, name in found:
            # `from . import x` and `from .pkg import sub` import the submodule pkg.sub
            names = [target] + ([f"{target}.{name}"] if name else [])
            graph[mod] |= {n for n in names if n in files and n != mod}
    return graph


def test_lazy_imports_count():
    source = (
        "import os\n"
        "def f():\n    from .train import train\n"
        "class C:\n    def m(self):\n        if True:\n            import dsvae.viz\n"
        "async def g():\n    from ..run import load_model\n"
    )
    found = imports_of(source, "dsvae.evaluate.x")
    assert ("dsvae.evaluate.train", "train") in found and ("dsvae.viz", None) in found
    assert ("dsvae.run", "load_model") in found
    assert "dsvae.train" in import_graph()["dsvae.cli"]  # cli imports the loop inside _cmd_train only


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


def viz_modules(graph: dict) -> list[str]:
    """The pictures package and its modules (dsvae.viz, dsvae.viz.grids, ...)."""
    return [m for m in graph if m == "dsvae.viz" or m.startswith("dsvae.viz.")]


def test_no_stage_calls_a_later_one():
    """Training does not draw, pictures do not fit metrics (they draw metrics.json's), and the report
    lays out what exists without drawing: of viz it imports the catalogue of picture names only."""
    graph, names = import_graph(), imported_names()
    assert not [m for m in graph["dsvae.train"] if m.startswith("dsvae.viz")]
    assert not any(m.startswith("dsvae.evaluate") for m in graph["dsvae.train"])
    fitting = {"latent_scores", "dci", "probe_table"}
    for mod in viz_modules(graph):
        assert [(t, n) for t, n in names[mod] if t.startswith("dsvae.evaluate") and n in fitting] == [], mod
        assert not {"dsvae.evaluate.dci", "dsvae.evaluate.probes", "dsvae.evaluate.protocols"} & graph[mod]
    drawing = [
        t for t, _ in names["dsvae.report"] if t.startswith("dsvae.viz") and t != "dsvae.viz.catalogue"
    ]
    assert drawing == [], "report draws nothing: it imports viz's picture names only (the catalogue)"
    catalogue = [
        t for t, _ in names["dsvae.viz.catalogue"] if t.startswith(("dsvae", "PIL", "matplotlib", "torch"))
    ]
    assert catalogue == [], "the catalogue names pictures; it draws none"


def private_imports(names: dict[str, list[tuple[str, str | None]]], files: set[str]) -> list[tuple[str, str]]:
    """(module, "target._name") for every ``from .target import _name`` of a private name of another
    module of the package (a submodule such as ``_io`` is a module, not a name; dunders are public)."""
    return [
        (mod, f"{target}.{name}")
        for mod, found in names.items()
        for target, name in found
        if name
        and name.startswith("_")
        and not name.startswith("__")
        and target.startswith("dsvae")
        and target != mod
        and f"{target}.{name}" not in files
    ]


def test_the_private_name_check_catches_a_reach_inside():
    source = "from .video import _FramesFile\nfrom .base import write_columns\nfrom .. import _io\n"
    names = {"dsvae.data.arrays": imports_of(source, "dsvae.data.arrays")}
    files = {"dsvae.data.video", "dsvae.data.base", "dsvae._io"}
    assert private_imports(names, files) == [("dsvae.data.arrays", "dsvae.data.video._FramesFile")]


def test_no_module_imports_another_modules_private_names():
    """A module's _underscore names are its own: another module that needs one gets a public name."""
    assert private_imports(imported_names(), set(module_files())) == []


def test_speech_pictures_are_viz_and_evaluation_draws_nothing():
    """Voice conversion and spectrograms are pictures (viz); evaluation keeps the scores, imports no
    picture library, and viz does not import the speech scores."""
    graph, names = import_graph(), imported_names()
    assert not [m for m in viz_modules(graph) if "dsvae.evaluate.speech" in graph[m]]
    for mod, found in names.items():
        if mod.startswith("dsvae.evaluate"):
            assert not [t for t, _ in found if t.split(".")[0] in ("PIL", "matplotlib")], mod
    assert not {n for _, n in names["dsvae.evaluate.speech"]} & {"voice_conversion", "colormap"}


def test_one_fit_check_and_one_run_opening():
    """The model/data fit is checked by dsvae.run.check_model_fits only, and eval, viz, report and
    compare open a run through dsvae.run.TrainedRun."""
    names = imported_names()
    readers = {m: names[m] for m in ("dsvae.evaluate.protocols", "dsvae.evaluate.speech", "dsvae.report")}
    readers["dsvae.viz"] = [t for m in viz_modules(names) for t in names[m]]  # the pictures package as one
    for mod, found in readers.items():
        assert ("dsvae.run", "TrainedRun") in found, mod
        assert ("dsvae.run", "load_model") not in found and ("dsvae.run", "open_run_dataset") not in found
    assert ("dsvae.run", "TrainedRun") in names["dsvae.evaluate.compare"]
    assert ("dsvae.run", "check_model_fits") in names["dsvae.train"]


def test_the_module_map_lists_every_module_with_its_imports():
    """benchmarks/module_map.py (the map of the issue's closing note) agrees with the graph above."""
    import importlib.util

    path = SRC.parent / "benchmarks" / "module_map.py"
    spec = importlib.util.spec_from_file_location("module_map", path)
    module_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module_map)
    lines = {line[:33].strip(): line for line in module_map.module_map()}
    graph = import_graph()
    assert set(lines) == set(graph)
    for mod, deps in graph.items():
        listed = lines[mod][40:]
        assert listed == ", ".join(sorted(d.removeprefix("dsvae.") for d in deps)), mod
