"""One table row per recipe, mean and spread over its seeds, from the runs' metrics.json.

    python benchmarks/seed_table.py "full q(z)=runs/sprites-full-s*" "factorized q(z)=runs/sprites-fact-s*"

Each argument is LABEL=GLOB of run folders scored by `dsvae eval`. Columns: motion accuracy with z
fixed and f sampled (Acc), IS, H(y|x), H(y), mean attribute accuracy with f fixed and z from the
prior, the swap figures (attributes of the f source, motion of the z source), PSNR, the test KL terms
and the wall time of training (from log.csv), each as mean ± standard deviation over the seeds.
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import numpy as np


def wall_minutes(run: Path) -> float:
    rows = [line.split(",") for line in (run / "log.csv").read_text().splitlines()[1:]]
    return sum(float(r[7]) for r in rows if r[1] == "train") / 60


def figures(run: Path) -> dict[str, float]:
    m = json.loads((run / "metrics.json").read_text())
    pp, ms, sw, rc = m["paper_protocol"], m["motion_scores"], m["swap"], m["reconstruction"]
    return {
        "Acc": 100 * ms["acc"]["mean"],
        "IS": ms["is"]["mean"],
        "H(y|x)": ms["h_yx"]["mean"],
        "H(y)": ms["h_y"]["mean"],
        "attributes": 100 * pp["attributes_mean"]["mean"],
        "swap attributes": 100 * sw["attributes_mean"]["mean"],
        "swap motion": 100 * sw["motion"]["mean"],
        "PSNR": rc["psnr"],
        "KL_f": rc["kl_f"],
        "KL_z": rc["kl_z"],
        "train min": wall_minutes(run),
    }


def per_attribute(run: Path) -> dict[str, float]:
    """Accuracy (%) of each attribute head with f fixed and z from the prior."""
    m = json.loads((run / "metrics.json").read_text())
    return {k: 100 * v["mean"] for k, v in m["paper_protocol"]["attributes"].items()}


def main(args: list[str]) -> None:
    if not args or any(a in ("-h", "--help") for a in args):
        raise SystemExit(__doc__)
    lines = []
    for arg in args:
        if "=" not in arg:
            raise SystemExit(f'{arg!r}: expected LABEL=GLOB, e.g. "seed 0-2=runs/quickstart*"\n{__doc__}')
        label, pattern = arg.split("=", 1)
        runs = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "metrics.json").exists())
        if not runs:
            raise SystemExit(f"{pattern}: no scored runs (run dsvae eval RUN --judge ... first)")
        rows = [figures(r) for r in runs]
        if not lines:
            cols = list(rows[0])
            head = " | ".join(c.replace("|", "\\|") for c in cols)  # a bar would end the cell
            lines += ["| recipe | seeds | " + head + " |", "| --- " * (len(cols) + 2) + "|"]
        cells = []
        for c in rows[0]:
            v = np.array([r[c] for r in rows])
            digits = 3 if c.startswith("H(") else 2 if c == "IS" else 1
            cells.append(f"{v.mean():.{digits}f} ± {v.std():.{digits}f}")
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
