"""The module map of the package: one line per module of src/dsvae with its number of lines and the
modules of the package it imports, wherever the import sits (top level or inside a function: lazy
imports count), without the ``dsvae.`` prefix.

    python benchmarks/module_map.py            # the map on stdout
    python benchmarks/module_map.py -o FILE    # written to FILE

Each line reads ``module  lines  imports`` (module padded to 33 columns, lines right-aligned in 5).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_files(src: Path = SRC) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package (a package is its __init__)."""
    files = {}
    for p in sorted((src / "dsvae").rglob("*.py")):
        name = ".".join(p.relative_to(src).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = p
    return files


def imported_modules(path: Path, mod: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``mod`` (its source at ``path``) imports anywhere in its code:
    ``from .x import y`` counts as pkg.x, and as pkg.x.y where that is a module."""
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found |= {target} | {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in known and m != mod}


def module_map(src: Path = SRC) -> list[str]:
    """The lines of the map, modules in name order."""
    files = module_files(src)
    lines = []
    for mod, path in files.items():
        deps = sorted(m.removeprefix("dsvae.") for m in imported_modules(path, mod, set(files)))
        n = len(path.read_text().splitlines())
        lines.append(f"{mod:<33}{n:>5}  {', '.join(deps)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default=None, help="write the map to this file (default: stdout)")
    args = parser.parse_args(argv)
    text = "\n".join(module_map()) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
