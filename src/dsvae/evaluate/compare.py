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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..run import DATA_LOCATION, read_log, read_train_options
from .markdown import row

# top-level keys of metrics.json that are not scores (provenance and settings)
NOT_SCORES_TOP = {"run", "kind", "dataset", "judge", "judge2", "seeds", "precision", "notes"}
# keys at any depth that are not scores (notes, matrices, settings); judge_audit.judge is a score
NOT_SCORES = {
    "notes", "paper_timit_eer", "factor_kinds", "pairs", "chance", "home", "importance", "D_i",
    "latent_names", "factors.chance", "skipped", "train_sequences", "regressor", "classes",
    "per_class", "latent", "ceiling",
}  # fmt: skip
# the scores the short table shows, in order, with their headings (where the runs have them)
HEADLINE = {
    "motion_scores.acc": "Acc",
    "motion_scores.is": "IS",
    "paper_protocol.attributes_mean": "attributes",
    "swap.attributes_mean": "swap attrs",
    "swap.motion": "swap motion",
    "factors.swap_score": "swap assignment",
    "factors.sample_score": "sample assignment",
    "latents.dci.gbt.f+z.D": "D (gbt)",
    "latents.dci.gbt.f+z.C": "C (gbt)",
    "latents.dci.gbt.f+z.I": "I (gbt)",
    "identity_eer.f": "EER f",
    "identity_eer.z": "EER z",
    "speaker_eer.f": "speaker EER f",
    "speaker_eer.z": "speaker EER z",
    "reconstruction.psnr": "PSNR",
    "reconstruction.kl_f": "KL_f",
    "reconstruction.kl_z": "KL_z",
    "train_minutes": "train min",
}


# train.json options that do not change what a run learns, or that differ between seeds by design
NOT_RECIPE = {
    "seed", "max_steps", "max_minutes", "pictures", "progress", "log_every", "checkpoint_every",
    "model_overrides",  # resolved in config.json
    *DATA_LOCATION,
}  # fmt: skip


def run_recipe(run_dir: str | Path) -> dict[str, object]:
    """What a run was trained with, less what seeds change: RUN/train.json (the training options,
    without :data:`NOT_RECIPE`) and RUN/config.json (the resolved model config, as ``model.FIELD``).
    Files that are missing or unreadable give no keys (a run copied without them is compared on its
    scores alone)."""
    recipe: dict[str, object] = {}
    readers = (
        ("", lambda: read_train_options(run_dir)),
        ("model.", lambda: json.loads((Path(run_dir) / "config.json").read_text())),
    )
    for prefix, read in readers:
        try:
            opts = read()
        except (OSError, ValueError):
            continue
        if isinstance(opts, dict):
            recipe.update((prefix + k, v) for k, v in opts.items() if k not in NOT_RECIPE)
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
    """Every score of one evaluated run as ``{dotted key: number}``: metrics.json flattened (a
    ``{"mean", "std"}`` over evaluation seeds counts as its mean), plus ``train_minutes`` (the wall
    time of the training epochs in RUN/log.csv) where the log has it."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: score the run first (dsvae eval {run_dir} --judge DIR)")
    scores: dict[str, float] = {}
    _flatten(json.loads(path.read_text()), "", scores)
    train = [r for r in read_log(run_dir) if r["split"] == "train" and "wall_s" in r]
    if train:
        scores["train_minutes"] = sum(r["wall_s"] for r in train) / 60
    return scores


def _flatten(node, prefix: str, out: dict[str, float]) -> None:
    if isinstance(node, dict):
        if set(node) == {"mean", "std"}:
            node = node["mean"]
        else:
            for k, v in node.items():
                key = f"{prefix}{k}"
                if k not in NOT_SCORES and key not in NOT_SCORES and key not in NOT_SCORES_TOP:
                    _flatten(v, key + ".", out)
            return
    if isinstance(node, (int, float)) and not isinstance(node, bool) and node is not None:
        out[prefix.rstrip(".")] = float(node)


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
    holds what the runs' recipes differ in besides the seed (:func:`recipe_differences`)."""
    if not run_dirs:
        raise ValueError("compare needs at least one run folder")
    per_run = [run_scores(r) for r in run_dirs]
    keys = list(dict.fromkeys(k for scores in per_run for k in scores))
    out: dict = {
        "runs": [str(r) for r in run_dirs],
        "differences": recipe_differences(run_dirs),
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
        }
    return out


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
    head = [k for k in HEADLINE if k in scores]
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
        lines += [row("run", *(HEADLINE[k] for k in head)), row(*["---"] * (len(head) + 1))]
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
        row("score", "runs", "mean ± std", "95% CI", "per run"),
        row(*["---"] * 5),
    ]
    for key, s in scores.items():
        per_run = ", ".join(_num(v) for v in s["per_run"])
        lines.append(row(key, s["n"], _mean_std(s), _ci(s), per_run))
    return "\n".join(lines) + "\n"


__all__ = [
    "HEADLINE",
    "bootstrap_ci",
    "compare_runs",
    "compare_table",
    "recipe_differences",
    "run_recipe",
    "run_scores",
]
