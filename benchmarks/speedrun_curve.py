"""Quality against minutes for a recipe: the same recipe cut to several budgets, each trained and
judged, one row per budget.

    python benchmarks/speedrun_curve.py --recipe sprites-quick --epochs 3 5 7 9 --out runs/curve
    python benchmarks/speedrun_curve.py --recipe sprites-quick --epochs 3 5 7 --out runs/curve --seeds 0 1 2

A budget of E epochs trains the recipe with ``--epochs E`` and its schedule scaled with it: the KL
warm-up and the learning-rate decay keep their fraction of all the steps, as they are in the recipe
(a recipe's schedule is written for its own epochs). Each run is scored by ``dsvae eval`` (``--eval``
passes its options; default the full protocol); runs already trained and scored in ``--out`` are
read, not trained again, so the curve can be drawn over several sessions. Minutes are the training
epochs' wall time from RUN/log.csv (what ``dsvae train`` spent on steps and test ELBOs, without the
start-up), on this machine as it was when the run trained: time on a quiet machine.

Prints a markdown table (budget, minutes, Acc, attributes, swap attributes, swap motion, PSNR) and
writes it with the rows as JSON into OUT/curve.md and OUT/curve.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

from seed_table import figures  # beside this file

from dsvae.recipes import load_recipe

COLUMNS = ("Acc", "attributes", "swap attributes", "swap motion", "PSNR")


def scaled_options(recipe_name: str, epochs: int) -> list[str]:
    """The ``dsvae train`` options of ``recipe_name`` cut to ``epochs``, its schedule scaled."""
    train = load_recipe(recipe_name).train
    ratio = epochs / train.get("epochs", 10)
    options = ["--recipe", recipe_name, "--epochs", str(epochs)]
    for key in ("kl_warmup_steps", "lr_decay_steps", "terms_start_step", "terms_warmup_steps"):
        if train.get(key):
            options += ["--" + key.replace("_", "-"), str(round(train[key] * ratio))]
    return options


def train_minutes(run: Path) -> float:
    """Minutes of training epochs (the sum of RUN/log.csv's epoch wall times)."""
    with open(run / "log.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
    return sum(float(r["wall_s"]) for r in rows) / 60


def point(recipe: str, epochs: int, seed: int, out: Path, eval_options: list[str]) -> dict:
    """One budget's run: trained and scored unless already there; its figures."""
    run = out / f"e{epochs}-s{seed}"
    if not (run / "model").exists():
        cmd = ["dsvae", "train", *scaled_options(recipe, epochs), "--seed", str(seed), "--out", str(run)]
        subprocess.run([*cmd, "--force", "--no-pictures"], check=True)
    if not (run / "metrics.json").exists():
        subprocess.run(["dsvae", "eval", str(run), *eval_options], check=True)
    return {"epochs": epochs, "seed": seed, "minutes": train_minutes(run), **figures(run)}


def table(rows: list[dict]) -> str:
    """Rows grouped by budget: mean (min-max over seeds) of each column."""
    lines = [
        "| epochs | seeds | training min | " + " | ".join(COLUMNS) + " |",
        "|" + " --- |" * (3 + len(COLUMNS)),
    ]
    for e in sorted({r["epochs"] for r in rows}):
        group = [r for r in rows if r["epochs"] == e]
        cells = [f"{statistics.mean(r['minutes'] for r in group):.1f}"]
        for c in COLUMNS:
            vals = [r[c] for r in group if c in r]
            shown = f"{statistics.mean(vals):.1f}" if vals else "-"
            if len(vals) > 1:
                shown += f" ({min(vals):.1f}-{max(vals):.1f})"
            cells.append(shown)
        lines.append(f"| {e} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", required=True)
    p.add_argument("--epochs", type=int, nargs="+", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--eval", default="", help='dsvae eval options, e.g. "--seeds 1 --dci linear"')
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    rows = [point(a.recipe, e, s, a.out, a.eval.split()) for e in a.epochs for s in a.seeds]
    text = f"Quality against training minutes: recipe {a.recipe}\n\n" + table(rows)
    print(text, end="")
    (a.out / "curve.md").write_text(text, encoding="utf-8")
    (a.out / "curve.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
