"""One row per recipe over its seeds, from the runs' metrics.json: a thin wrapper of `dsvae compare`.

    python benchmarks/seed_table.py "full q(z)=runs/sprites-full-s*" "factorized q(z)=runs/sprites-fact-s*"

Each argument is LABEL=GLOB of run folders scored by `dsvae eval`; each recipe gets the table of
`dsvae compare` (per run, mean ± std, 95% bootstrap interval over the runs, every score).
``figures`` and ``per_attribute`` serve benchmarks/sprites_sweep.py.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path

from dsvae.evaluate.compare import compare_runs, compare_table, run_scores

FIGURES = {  # heading -> (metrics key, factor)
    "Acc": ("motion_scores.acc", 100),
    "IS": ("motion_scores.is", 1),
    "H(y|x)": ("motion_scores.h_yx", 1),
    "H(y)": ("motion_scores.h_y", 1),
    "attributes": ("paper_protocol.attributes_mean", 100),
    "swap attributes": ("swap.attributes_mean", 100),
    "swap motion": ("swap.motion", 100),
    "PSNR": ("reconstruction.psnr", 1),
    "KL_f": ("reconstruction.kl_f", 1),
    "KL_z": ("reconstruction.kl_z", 1),
    "train min": ("train_minutes", 1),
}


def figures(run: Path) -> dict[str, float]:
    """The sweep's columns of one scored run (percentages for accuracies)."""
    scores = run_scores(run)
    return {name: scale * scores[key] for name, (key, scale) in FIGURES.items() if key in scores}


def per_attribute(run: Path) -> dict[str, float]:
    """Accuracy (%) of each attribute head with f fixed and z from the prior."""
    prefix = "paper_protocol.attributes."
    return {k[len(prefix) :]: 100 * v for k, v in run_scores(run).items() if k.startswith(prefix)}


def main(args: list[str]) -> None:
    if not args or any(a in ("-h", "--help") for a in args):
        raise SystemExit(__doc__)
    for arg in args:
        if "=" not in arg:
            raise SystemExit(f'{arg!r}: expected LABEL=GLOB, e.g. "seed 0-2=runs/quickstart*"\n{__doc__}')
        label, pattern = arg.split("=", 1)
        runs = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "metrics.json").exists())
        if not runs:
            raise SystemExit(f"{pattern}: no scored runs (run dsvae eval RUN --judge ... first)")
        print(f"\n{label}\n")
        print(compare_table(compare_runs(runs)), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
