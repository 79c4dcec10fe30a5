"""`dsvae compare RUN...`: uncertainty over trained models, from the runs' metrics.json.

The evaluation seeds of one run measure how much its scores move when the prior draws and pairs
change; they say nothing about another training seed. Comparing recipes needs the spread over
trained models: every score of every run (the mean over its evaluation seeds), then over the runs
their mean, their standard deviation (ddof 1: a sample of training seeds) and a 95% percentile
bootstrap interval of the mean (Efron & Tibshirani, "An Introduction to the Bootstrap", 1993,
ch. 13: resample the runs with replacement, take the 2.5th and 97.5th percentiles of the resampled
means). With few runs the interval is narrow and optimistic (three runs have only ten distinct
resamples): quote the number of runs with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..recipes import recipe_sha256
from ..run import DATA_LOCATION, TrainedRun
from .markdown import row
from .records import (
    FRACTION,
    RUN_SCORES,
    SCORING_VERSION,
    MetricsRecord,
    Score,
    headline,
    headline_of,
    part_headings,
    score_of,
)

# the scores the short table shows, in order, with their headings (where the runs have them): those
# whose record (dsvae.evaluate.records) gives them a heading
HEADLINE = headline()


# train.json options that do not change what a run learns, or that differ between seeds by design
NOT_RECIPE = {
    "seed", "max_steps", "max_minutes", "pictures", "progress", "log_every", "checkpoint_every",
    "model_overrides",  # resolved in config.json
    "method_source",  # where the method's code came from (provenance, as env.json)
    *DATA_LOCATION,
}  # fmt: skip


def _defaults(cls) -> dict[str, object]:
    """A config's field defaults (:meth:`dsvae.config.ConfigBase.defaults`) as JSON gives them back
    (tuples as lists)."""
    return json.loads(json.dumps(cls.defaults(), default=str))


def run_recipe(run_dir: str | Path) -> dict[str, object]:
    """What a run was trained with, less what seeds change: RUN/train.json (the training options,
    without :data:`NOT_RECIPE`) and RUN/config.json (the resolved model config, as ``model.FIELD``).
    A field that a run's files lack is one added to dsvae after the run was trained: it gets its
    default, which is what such a run did (as loading its model does), so that an older seed and a
    newer one of one recipe compare as seeds. The recipe is named by the sha256 of RUN/recipe.toml
    as this version computes it. Files that are missing or unreadable give no keys (a run copied
    without them is compared on its scores alone)."""
    from ..config import DSVAEConfig
    from ..options import TrainConfig

    run, recipe = TrainedRun.of(run_dir), {}
    for prefix, name, cls in (("", "train.json", TrainConfig), ("model.", "config.json", DSVAEConfig)):
        record = run.record(name)
        if record:
            record = {**_defaults(cls), **record}
        recipe.update((prefix + k, v) for k, v in record.items() if k not in NOT_RECIPE)
    identity = _run_recipe_identity(run_dir) if isinstance(recipe.get("recipe"), dict) else None
    if identity is not None:  # trained from a recipe whose text the run keeps
        recipe["recipe"] = {**recipe["recipe"], "name": identity[0], "sha256": identity[1]}
    return recipe


def recipe_differences(run_dirs: Sequence[str | Path]) -> dict[str, list]:
    """``{key: [value per run]}`` for every recipe key (:func:`run_recipe`) whose value is not the
    same in all the runs (a run without the key counts as None): runs compared as seeds of one
    recipe should give ``{}``."""
    recipes = [run_recipe(r) for r in run_dirs]
    keys = dict.fromkeys(k for r in recipes for k in r)
    values = {k: [r.get(k) for r in recipes] for k in keys}
    return {k: vs for k, vs in values.items() if any(v != vs[0] for v in vs)}


def run_scores(run_dir: str | Path) -> dict[str, float]:
    """Every score of one evaluated run as ``{dotted key: number}``: the score fields of
    metrics.json's records (:class:`~dsvae.evaluate.records.MetricsRecord`; a ``{"mean", "std"}``
    over evaluation seeds counts as its mean; user metrics as ``user_metrics.NAME.KEY``), plus
    ``train_minutes`` (the wall time of the training epochs in RUN/log.csv) where the log has it."""
    return {k: v for k, (v, _) in run_score_items(run_dir).items()}


def run_score_items(run_dir: str | Path) -> dict[str, tuple[float, Score]]:
    """:func:`run_scores` with each score's :class:`~dsvae.evaluate.records.Score` (direction, unit).
    Raises FileNotFoundError for a run not scored yet, ValueError for a metrics.json this version
    cannot read."""
    record = run_record(run_dir)
    items = record.score_items()
    train = [r for r in TrainedRun.of(run_dir).log if r["split"] == "train" and "wall_s" in r]
    if train:
        items["train_minutes"] = (sum(r["wall_s"] for r in train) / 60, RUN_SCORES["train_minutes"])
    return items


def run_record(run_dir: str | Path) -> MetricsRecord:
    """RUN/metrics.json as records (any schema version). Raises FileNotFoundError for a run not
    scored yet."""
    run = TrainedRun.of(run_dir)
    if run.metrics is None:
        raise FileNotFoundError(
            f"{run.path / 'metrics.json'} not found: score the run first (dsvae eval {run_dir} --judge DIR)"
        )
    return MetricsRecord.from_dict(run.metrics)


def metric_sources(run_dirs: Sequence[str | Path]) -> dict[str, list]:
    """``{"user_metrics.NAME.source": [source per run]}`` for every user metric whose source (file
    sha256, package version, module) is not the same in all the runs that have it: scores of two
    versions of a metric do not pool as seeds."""
    records = [run_record(r) for r in run_dirs]
    names = dict.fromkeys(n for rec in records for n in rec.user_metrics)
    out = {}
    for name in names:
        sources = [rec.user_metrics[name].source if name in rec.user_metrics else None for rec in records]
        present = [s for s in sources if s is not None]
        if any(_source_identity(s) != _source_identity(present[0]) for s in present):
            out[f"user_metrics.{name}.source"] = sources
    return out


def _source_identity(source: dict) -> tuple:
    # where a metric was found (its folder) may change between runs; what it is may not
    return tuple(source.get(k) for k in ("function", "sha256", "package", "version"))


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, n_boot: int = 10000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one per run): ``n_boot`` resamples
    with replacement (seeded), the (1 - level)/2 and (1 + level)/2 quantiles of their means (Efron &
    Tibshirani 1993, ch. 13). One value gives (value, value)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0 or not np.isfinite(v).all():
        raise ValueError(f"values must be a non-empty 1-D array of finite numbers, got {v!r}")
    means = v[np.random.default_rng(seed).integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def compare_runs(run_dirs: Sequence[str | Path], n_boot: int = 10000, seed: int = 0) -> dict:
    """Scores of several runs of one recipe: ``{"runs": [paths], "scores": {key: {"per_run":
    [value or None], "n", "mean", "std", "ci95": [lo, hi]}}}``; the statistics over the runs that
    have the score (std with ddof 1; None, printed "-", for a score of one run). ``"differences"``
    holds what the runs' recipes differ in besides the seed (:func:`recipe_differences`), and user
    metrics whose source differs between the runs (:func:`metric_sources`). Each score also has
    its record's ``direction`` ("higher", "lower" or None) and ``unit``
    (:mod:`dsvae.evaluate.records`). Raises ValueError for runs scored by different judges or
    scoring versions (:func:`run_scoring`): their scores do not pool."""
    if not run_dirs:
        raise ValueError("compare needs at least one run folder")
    _same_in_all(
        run_dirs, lambda r: run_judge(r) or "no judge", "different judges",
        "Score them all with one judge (dsvae eval RUN, the shipped judge by default, or --judge DIR "
        "for every run)",
    )  # fmt: skip
    _same_in_all(
        run_dirs, lambda r: f"scoring version {run_scoring(r)}", "different versions of dsvae eval",
        f"Score them again with this dsvae (scoring version {SCORING_VERSION}): dsvae eval RUN",
    )  # fmt: skip
    items = [run_score_items(r) for r in run_dirs]
    per_run = [{k: v for k, (v, _) in i.items()} for i in items]
    declared = {k: s for i in reversed(items) for k, (_, s) in i.items()}  # the first run's wins
    keys = list(dict.fromkeys(k for scores in per_run for k in scores))
    out: dict = {
        "runs": [str(r) for r in run_dirs],
        "differences": {**recipe_differences(run_dirs), **metric_sources(run_dirs)},
        "scores": {},
    }
    for key in keys:
        values = [s.get(key) for s in per_run]
        present = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
        if len(present) == 0:
            continue
        out["scores"][key] = {
            "per_run": values,
            "n": int(len(present)),
            "mean": float(present.mean()),
            "std": float(present.std(ddof=1)) if len(present) > 1 else None,  # undefined for one run
            "ci95": list(bootstrap_ci(present, n_boot=n_boot, seed=seed)),
            "direction": declared[key].direction,
            "unit": declared[key].unit,
        }
    return out


def _same_in_all(run_dirs, value, what: str, fix: str) -> None:
    """Raise ValueError, naming each run's ``value`` and the ``fix``, unless it is the same for all:
    scores of runs ``what`` (e.g. "different judges") do not pool."""
    values = {str(r): value(r) for r in run_dirs}
    if len(set(values.values())) > 1:
        raise ValueError(
            f"the runs were scored by {what}, so their scores do not pool: "
            + "; ".join(f"{r}: {v}" for r, v in values.items())
            + f". {fix}"
        )


def run_judge(run_dir: str | Path) -> str | None:
    """sha256 of the judge that scored the run (RUN/metrics.json), None when it was scored without
    one. Raises FileNotFoundError for a run not scored yet."""
    return (_scored(run_dir).get("judge") or {}).get("sha256")


def _scored(run_dir: str | Path) -> dict:
    """RUN/metrics.json as written; raises FileNotFoundError for a run not scored yet."""
    run = TrainedRun.of(run_dir)
    if not (run.path / "metrics.json").exists():
        raise FileNotFoundError(
            f"{run.path / 'metrics.json'} not found: score the run first (dsvae eval {run_dir})"
        )
    return run.record("metrics.json")


def run_scoring(run_dir: str | Path) -> int:
    """The version of dsvae eval's numbers that scored the run (RUN/metrics.json ``scoring``, 1 for a
    file without it: :data:`~dsvae.evaluate.records.SCORING_VERSION`). Raises FileNotFoundError for a
    run not scored yet."""
    return int(_scored(run_dir).get("scoring", 1))


def run_kind(run_dir: str | Path) -> str:
    """The kind of machine whose kernels trained the run, from RUN/env.json: the GPU's name, or the
    CPU's instruction set (AMX, AVX-512 BF16, AVX2, and whether it was capped) and the precision.
    Runs of one recipe are bit-identical only on one kind, on one CPU vendor (docs/performance.md)."""
    env = TrainedRun.of(run_dir).record("env.json")
    precision = env.get("precision", "?")
    if str(env.get("device", "")).startswith("cuda"):
        return f"{env.get('cuda') or 'CUDA GPU'}, {precision}"
    cpu = env.get("cpu") or {}
    capped = " (capped)" if cpu.get("capped_by") else ""
    return f"CPU {cpu.get('isa', '?')}{capped}, {precision}"


def results_entry(result: dict, recipe: tuple[str, str] | None = None) -> dict:
    """The entry of ``dsvae recipes``' results file for the runs of :func:`compare_runs`: the recipe
    (name, sha256), the kind of machine (:func:`run_kind`), the CPU model, the torch threads, the
    judge, the scoring version (:func:`run_scoring`), and for every headline score and the training
    minutes the mean, std and 95% interval over the runs.

    ``recipe`` = (name, settings sha256) records the runs under another recipe's name (a recipe
    renamed, or a study promoted to a shipped name, without a changed value); its sha256 must be the
    runs' recipe's. Raises ValueError unless every run was trained from the same recipe settings on
    the same kind, or when ``recipe``'s settings are not the runs'."""
    runs = result["runs"]
    if result.get("differences"):
        raise ValueError(
            "--record needs runs of one recipe that differ only in their seed; these differ in "
            + ", ".join(result["differences"])
        )
    recipes = {_run_recipe_identity(r) for r in runs}
    kinds = {run_kind(r) for r in runs}
    if len(recipes) != 1 or None in recipes:
        raise ValueError(
            "--record needs runs trained from one recipe (dsvae train --recipe NAME), the same "
            f"settings for every run; these runs name {len(recipes)} different recipes (or none)"
        )
    if len(kinds) != 1:
        raise ValueError(f"--record needs runs of one kind of machine; these ran on {sorted(kinds)}")
    name, sha256 = next(iter(recipes))
    if recipe is not None:
        if recipe[1] != sha256:
            raise ValueError(
                f"--as {recipe[0]}: that recipe's settings (sha256 {recipe[1][:12]}) are not the ones "
                f"these runs were trained from ({name}, sha256 {sha256[:12]}); a recipe's figures are "
                "only recorded for runs of its exact settings: train them with --recipe "
                f"{recipe[0]}"
            )
        name = recipe[0]
    env = TrainedRun.of(runs[0]).record("env.json")
    # each run's torch threads: one number when they agree, else the range (e.g. "1-2"), so a table
    # never names the first run's threads for all
    threads = sorted({TrainedRun.of(r).record("env.json").get("torch_threads") for r in runs}, key=str)
    # the headline, the rest of the motion head's scores, what the linear probes read from f and z,
    # and the judged scores of the parts of a split label (dsvae.data.parts)
    keys = [*HEADLINE, "motion_scores.h_yx", "motion_scores.h_y"]
    keys += [k for k in result["scores"] if k.startswith("latents.probes.") and k.endswith(".linear")]
    keys += [k for k in result["scores"] if _judged_part(k)]
    return {
        "recipe": name,
        "sha256": sha256,
        "kind": next(iter(kinds)),
        "machine": env.get("cuda") or machine_name((env.get("cpu") or {}).get("model")),
        "threads": threads[0] if len(threads) == 1 else f"{threads[0]}-{threads[-1]}",
        "dsvae": env.get("dsvae"),
        "judge": run_judge(runs[0]),
        "scoring": run_scoring(runs[0]),
        "runs": len(runs),
        "scores": {
            k: {n: result["scores"][k][n] for n in ("mean", "std", "ci95", "per_run")}
            for k in keys
            if k in result["scores"]
        },
    }


def machine_name(model: str | None) -> str | None:
    """A CPU's model name as a table shows it: ``/proc/cpuinfo``'s ``model name`` without the
    trademark signs, the words "CPU" and "Processor" and the clock ("Intel(R) Xeon(R) Processor" ->
    "Intel Xeon", "Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz" -> "Intel Xeon Platinum 8480+");
    ``None`` stays ``None``."""
    if model is None:
        return None
    name = re.sub(r"\((R|TM|tm|r)\)|@\s*[\d.]+\s*GHz|\b(CPU|Processor)\b", " ", model)
    return " ".join(name.split()) or model


def _judged_part(key: str) -> bool:
    """Whether ``key`` is a judged score of a part of a split label (the paper's protocol, Acc, the
    swap, the per-factor rates; not the judge's audit) that a results entry keeps."""
    section, *path = key.split(".")
    return section in ("paper_protocol", "motion_scores", "swap", "factors") and bool(
        {"parts", "acc_parts"} & set(path)
    )


def _run_recipe_identity(run_dir: str | Path) -> tuple[str, str] | None:
    """(name, settings sha256) of the recipe a run was trained from, from its RUN/recipe.toml (the
    recipe's text as it was), None for a run trained without one."""
    run = TrainedRun.of(run_dir)
    recorded = run.options.get("recipe")
    path = run.path / "recipe.toml"
    if not recorded or not path.exists():
        return None
    return recorded["name"], recipe_sha256(path.read_text(encoding="utf-8"))


def record_results(path: str | Path, entry: dict) -> None:
    """Add ``entry`` (:func:`results_entry`) to the results file at ``path``, replacing the entry of
    the same recipe version, kind and machine (an Intel and an AMD CPU of one kind give different
    bits, so neither row replaces the other); written atomically."""
    from .._io import atomic_write_text

    doc = read_results(path)
    key = ("sha256", "kind", "machine")
    entries = [
        e
        for e in doc.get(entry["recipe"], [])
        if tuple(e.get(k) for k in key) != tuple(entry[k] for k in key)
    ]
    doc[entry["recipe"]] = [*entries, entry]
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def read_results(path: str | Path) -> dict:
    """``{recipe name: [entry, ...]}`` of a results file (:func:`record_results`); a missing file is
    empty. Raises ValueError for a file that is not one."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a dsvae results file (JSON): {e}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, list) for v in doc.values()):
        raise ValueError(f"{path} is not a dsvae results file: expected {{recipe: [entries]}}")
    return doc


# the scores `dsvae recipes` shows per entry, when measured (named by their headline heading, shown in
# their record's unit)
RESULT_LINE = (
    "train_minutes",
    "motion_scores.acc",
    "paper_protocol.attributes_mean",
    "swap.attributes_mean",
    "swap.motion",
    "speaker_eer.f",
    "speaker_eer.z",
)


def results_lines(entries: list[dict], sha256: str | None = None) -> list[str]:
    """One line per results entry: kind, machine, runs, then mean [95% interval] of the scores of
    :data:`RESULT_LINE` (with the parts of a split label, :func:`~dsvae.evaluate.records.part_headings`);
    entries of another version of the recipe (``sha256``) are marked."""
    lines = []
    for e in entries:
        cells, headings = [], {}
        for key in RESULT_LINE:  # each followed by its parts' where a label is split (Acc action, ...)
            headings[key] = HEADLINE.get(key)
            headings.update(part_headings(key, e.get("scores", {})))
        for key, heading in headings.items():
            s, declared = e.get("scores", {}).get(key), score_of(key)
            one = e.get("runs") == 1
            if s and key == "train_minutes":  # runs that shared the machine only ran slower
                times = [t for t in s.get("per_run", []) if t is not None]
                cells.append(f"train {min(times):.1f} min" + ("" if one else " (the fastest run)"))
            elif s:
                pct = declared.unit == FRACTION
                unit = "%" if pct else f" {declared.unit}" if declared.unit else ""
                scale = 100 if pct and abs(s["mean"]) <= 1 else 1
                lo, hi = (scale * v for v in s["ci95"])
                interval = "" if one else f" [{lo:.1f}-{hi:.1f}]"  # one run has no interval
                cells.append(f"{heading} {scale * s['mean']:.1f}{unit}{interval}")
        old = " (an earlier version of the recipe)" if sha256 and e.get("sha256") != sha256 else ""
        if "scoring" not in e:
            old += " (recorded before dsvae eval kept a scoring version)"
        elif e["scoring"] < SCORING_VERSION:
            old += f" (scored by an earlier dsvae eval: scoring version {e['scoring']})"
        runs = f"{e.get('runs')} run{'s' * (e.get('runs') != 1)}"
        lines.append(f"{e.get('kind')} ({e.get('machine')}), {runs}{old}: " + ", ".join(cells))
    return lines


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _mean_std(s: dict) -> str:
    return f"{_num(s['mean'])} ± {_num(s['std'])}"


def _ci(s: dict) -> str:
    return f"{_num(s['ci95'][0])} – {_num(s['ci95'][1])}"


def compare_table(result: dict) -> str:
    """:func:`compare_runs` as markdown: the headline scores per run and over the runs, then every
    score with its mean, standard deviation, 95% bootstrap interval and per-run values."""
    runs, scores = result["runs"], result["scores"]
    headings = headline_of(scores)  # with the parts of a split label after their label's scores
    head = list(headings)
    lines = [f"# {len(runs)} runs compared", ""]
    differences = result.get("differences") or {}
    if differences:
        lines += [
            "**The runs differ in more than their seed**, so the spread below is not only over "
            "training seeds:",
            "",
        ]
        lines += [f"- {k}: " + " / ".join(json.dumps(v) for v in vs) for k, vs in differences.items()]
        lines.append("")
    if head:
        lines += [row("run", *(headings[k] for k in head)), row(*["---"] * (len(head) + 1))]
        lines += [row(run, *(_num(scores[k]["per_run"][i]) for k in head)) for i, run in enumerate(runs)]
        lines.append(
            row("mean ± std", *(f"{_num(scores[k]['mean'])} ± {_num(scores[k]['std'])}" for k in head))
        )
        lines.append(
            row("95% bootstrap CI", *("{} – {}".format(*map(_num, scores[k]["ci95"])) for k in head))
        )
        lines.append("")
    lines += [
        "## Every score (mean over runs; std ddof 1; 95% percentile bootstrap interval of the mean)",
        "",
        row("score", "better", "unit", "runs", "mean ± std", "95% CI", "per run"),
        row(*["---"] * 7),
    ]
    for key, s in scores.items():
        per_run = ", ".join(_num(v) for v in s["per_run"])
        better = {"higher": "higher", "lower": "lower"}.get(s.get("direction"), "")
        lines.append(row(key, better, s.get("unit", ""), s["n"], _mean_std(s), _ci(s), per_run))
    return "\n".join(lines) + "\n"


__all__ = [
    "HEADLINE",
    "read_results",
    "record_results",
    "results_entry",
    "results_lines",
    "run_judge",
    "run_kind",
    "bootstrap_ci",
    "compare_runs",
    "compare_table",
    "recipe_differences",
    "run_recipe",
    "run_record",
    "run_score_items",
    "run_scores",
    "metric_sources",
]
