"""Write the result tables of README.md and docs/family.md from the recipes' results file, never by
hand.

    python docs/tables.py            # rewrite the tables between <!-- table:NAME --> markers
    python docs/tables.py --check    # exit 1 if a file is not what the results file gives

The results file (src/dsvae/recipes/results.json) is written from scored run folders by
``dsvae compare RUN... --record src/dsvae/recipes/results.json``; the judges' table from the judges
shipped in the package. The rows of other papers are their published figures (cited in the row).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from dsvae._io import atomic_write_text
from dsvae.evaluate.compare import read_results
from dsvae.evaluate.judge import SHIPPED_DIR, SHIPPED_JUDGES, read_judge_metrics
from dsvae.evaluate.records import FRACTION, SCORING_VERSION, score_of
from dsvae.recipes import RESULTS_FILE, load_recipe

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FILES = (README, ROOT / "docs" / "family.md")  # the files whose tables are generated

# Sprites, motion head with z kept and f sampled: Acc, IS, H(y|x), H(y), as the papers print them
# (DSVAE's row as re-measured by the later papers; Bai et al. 2021 table 1, Berman et al. 2024 table 1)
PAPER_SPRITES = [
    ("DSVAE (Li & Mandt 2018), as reported by C-DSVAE", "90.73", "8.384", "0.072", "2.192"),
    ("S3VAE (Zhu et al. 2020)", "99.49", "8.637", "0.041", "2.197"),
    ("C-DSVAE (Bai et al. 2021)", "99.99", "8.871", "0.014", "2.197"),
    ("SKD (Berman et al. 2023) / DBSE (Berman et al. 2024)", "100", "8.999", "~0", "2.197"),
]


def _score(entry: dict, key: str, digits: int = 1) -> str:
    """A score's mean [95% interval] over the entry's runs; a fraction (its record's unit,
    :mod:`dsvae.evaluate.records`) in percent, without the sign (the heading says it)."""
    s = entry["scores"].get(key)
    if not s:
        return "-"
    declared = score_of(key)
    k = 100 if declared is not None and declared.unit == FRACTION else 1
    if s.get("n", len(s.get("per_run", []))) == 1:  # one run: no interval to show
        return f"{k * s['mean']:.{digits}f}"
    lo, hi = (k * v for v in s["ci95"])
    return f"{k * s['mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _seeds(entry: dict) -> str:
    mark = EARLIER if entry.get("scoring", 1) < SCORING_VERSION else ""
    return f"{entry['runs']} seed{'s' * (entry['runs'] != 1)}{mark}"


# an entry scored by an earlier version of dsvae eval's numbers, and what that means, under its table
EARLIER = r" (\*)"
EARLIER_NOTE = (
    "(\\*) scored by an earlier `dsvae eval`, or recorded before it kept a scoring version (this one "
    f"is {SCORING_VERSION}): retraining gives the same model, and today's `dsvae eval` of it may "
    'differ in a few judged sequences (docs/results.md, "Scoring versions").'
)


def _minutes(entry: dict) -> str:
    """The fastest seed's training time (the epochs in RUN/log.csv): runs that shared the machine only
    ran slower, so the fastest is the one closest to the machine's speed."""
    per_run = [v for v in entry["scores"].get("train_minutes", {}).get("per_run", []) if v is not None]
    return f"{min(per_run):.1f} min" if per_run else "-"


def _mean_of(entry: dict, keys: list[str]) -> str:
    present = [entry["scores"][k]["mean"] for k in keys if k in entry["scores"]]
    return f"{100 * sum(present) / len(present):.1f}" if present else "-"


def _current(name: str) -> list[dict]:
    sha = load_recipe(name).sha256
    entries = [e for e in read_results(RESULTS_FILE).get(name, []) if e.get("sha256") == sha]
    # a kind's row stays where it was when re-recorded; one kind on two machines: by the machine
    return sorted(entries, key=lambda e: (e["kind"], e.get("machine") or ""))


def _where(e: dict) -> str:
    if not e.get("threads"):
        return e["kind"]
    return f"{e['kind']} ({e['machine']}, {e['threads']} thread{'s' * (e['threads'] != 1)})"


def _attribute_probe_keys(entry: dict, latent: str) -> list[str]:
    return [
        k
        for k in entry["scores"]
        if re.fullmatch(rf"latents\.probes\.(?!motion\.)[^.]+\.from_{latent}\.linear", k)
    ]


# the family's recipes per benchmark: (method, recipe), the main job's recipe first
QUICKSTART_FAMILY = [
    ("DBSE", "quickstart"),
    ("DSVAE + silhouette view", "quickstart-silhouette"),
    ("C-DSVAE", "quickstart-cdsvae"),
    ("SPYL as published", "quickstart-spyl"),
]
SPRITES_FAMILY = [
    ("DSVAE", "sprites"),
    ("C-DSVAE", "sprites-cdsvae"),
    ("DBSE", "sprites-dbse"),
    ("SPYL", "sprites-spyl"),
    ("SPYL as published", "sprites-spyl-published"),
]
FSDD_FAMILY = [
    ("DSVAE", "fsdd"),
    ("C-DSVAE", "fsdd-cdsvae"),
    ("DBSE", "fsdd-dbse"),
    ("SPYL", "fsdd-spyl"),
    ("SPYL as published", "fsdd-spyl-published"),
]
# TIMIT speaker verification EER % with f / with z as each paper reports its own method (DSVAE: Li &
# Mandt 2018, table 3): another corpus (630 speakers, 462 in training), shown for reference only
PAPER_TIMIT = [
    ("DSVAE (Li & Mandt 2018)", "5.64", "19.20"),
    ("C-DSVAE (Bai et al. 2021)", "4.03", "31.81"),
    ("DBSE (Berman et al. 2024)", "3.50", "34.62"),
]


def _family_rows(family: list[tuple[str, str]], name, cells) -> list[str]:
    """One row per recorded entry of each (method, recipe): the method's cell (``name``), where and
    how many seeds, the training time, then ``cells(entry)`` (the table's own columns)."""
    return [
        f"| {name(method, recipe)} | {_where(e)}, {_seeds(e)} | {_minutes(e)} | {cells(e)} |"
        for method, recipe in family
        for e in _current(recipe)
    ]


def _method_and_recipe(method: str, recipe: str) -> str:
    return f"{method} (`{recipe}`)"


def quickstart() -> list[str]:
    rows = [
        "| method (recipe) | where, seeds | training | Acc | attributes | swap attrs | swap motion "
        "| PSNR dB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = ["motion_scores.acc", "paper_protocol.attributes_mean", "swap.attributes_mean", "swap.motion"]
    return rows + _family_rows(
        QUICKSTART_FAMILY,
        _method_and_recipe,
        lambda e: " | ".join([*(_score(e, k) for k in keys), _score(e, "reconstruction.psnr")]),
    )


def _parts(entry: dict, key: str) -> str:
    """The motion's action / direction (Sprites' split, dsvae.data.parts) of a score whose key has
    ``{part}`` in it; "-" for an entry recorded before the split was scored."""
    return " / ".join(_score(entry, key.format(part=part)) for part in ("action", "direction"))


def sprites() -> list[str]:
    rows = [
        "| method | where, seeds | training | Acc | Acc action / direction | IS | H(y\\|x) | H(y) "
        "| attributes | swap attrs / motion | swap action / direction | motion read from f "
        "| attributes read from z |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows += _family_rows(
        SPRITES_FAMILY,
        lambda method, recipe: f"**{method}, dsvae `{recipe}` recipe**",
        lambda e: (
            f"{_score(e, 'motion_scores.acc')} | {_parts(e, 'motion_scores.acc_parts.{part}')} | "
            f"{_score(e, 'motion_scores.is', digits=2)} | "
            f"{_score(e, 'motion_scores.h_yx', digits=3)} | "
            f"{_score(e, 'motion_scores.h_y', digits=3)} | "
            f"{_score(e, 'paper_protocol.attributes_mean')} | {_score(e, 'swap.attributes_mean')} / "
            f"{_score(e, 'swap.motion')} | {_parts(e, 'swap.parts.motion.{part}')} | "
            f"{_score(e, 'latents.probes.motion.from_f.linear')} | "
            f"{_mean_of(e, _attribute_probe_keys(e, 'z'))}"
        ),
    )
    for name, acc, *scores in PAPER_SPRITES:
        rows.append(f"| {name} | paper | | {acc} | | {' | '.join(scores)} | | | | | |")
    return rows


def fsdd() -> list[str]:
    rows = [
        "| method (recipe) | where, seeds | training | speaker EER % with f (lower is better) "
        "| with z (higher is better) | speaker read from f / z | digit read from f / z |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cells(e: dict) -> str:
        eer = [_score(e, f"speaker_eer.{latent}", digits=2) for latent in ("f", "z")]
        probes = [
            " / ".join(_score(e, f"latents.probes.{factor}.from_{latent}.linear") for latent in ("f", "z"))
            for factor in ("speaker", "digit")
        ]
        return " | ".join(eer + probes)

    rows += _family_rows(FSDD_FAMILY, _method_and_recipe, cells)
    for name, eer_f, eer_z in PAPER_TIMIT:
        rows.append(f"| {name} | paper, TIMIT | | {eer_f} | {eer_z} | | |")
    return rows


def judges() -> list[str]:
    rows = ["| data | judge | sha256 | test accuracy per head |", "| --- | --- | --- | --- |"]
    for name, sha in SHIPPED_JUDGES.items():
        acc = read_judge_metrics(SHIPPED_DIR / name).get("test_accuracy") or {}
        heads = ", ".join(f"{k} {100 * v:.1f}%" for k, v in acc.items())
        rows.append(f"| {name} | `src/dsvae/judges/{name}` | `{sha}` | {heads} |")
    return rows


TABLES = {"quickstart": quickstart, "sprites": sprites, "fsdd": fsdd, "judges": judges}


def render(text: str, where: str = "README.md") -> str:
    """``text`` (of the file ``where``) with every ``<!-- table:NAME -->...<!-- /table -->`` block
    regenerated."""

    def block(m: re.Match) -> str:
        name = m.group(1)
        if name not in TABLES:
            raise SystemExit(f"{where} names an unknown table {name!r}; known: {', '.join(TABLES)}")
        rows = TABLES[name]()
        body = "\n".join(rows) if len(rows) > 2 else "(not measured yet)"
        if any(EARLIER in r for r in rows):
            body += "\n\n" + EARLIER_NOTE
        return f"<!-- table:{name} -->\n{body}\n<!-- /table -->"

    return re.sub(r"<!-- table:([\w-]+) -->\n.*?<!-- /table -->", block, text, flags=re.S)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = parser.parse_args()
    stale = []
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        new = render(text, path.name)
        if new != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                atomic_write_text(path, new)
    if args.check and stale:
        print(f"{', '.join(stale)}: tables not those of the results file: run python docs/tables.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
