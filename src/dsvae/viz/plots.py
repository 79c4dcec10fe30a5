"""Plots of a run drawn with matplotlib (its Agg canvas, no pyplot): the training curves of
RUN/log.csv, the latent map of DCI's importance matrix and the per-factor score charts of
metrics.json. Each ``*_figure`` returns a matplotlib Figure; :func:`save_figure` writes it as a PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._io import atomic_file
from ..elbo import ELBO_TERMS
from .grids import COLORMAP

# the axes' titles of the ELBO terms log.csv holds (:data:`dsvae.elbo.ELBO_TERMS`), in their order
CURVE_TERMS = dict(zip(ELBO_TERMS, ("loss (-ELBO)", "recon", "KL_f", "KL_z"), strict=True))
LOG_TERMS = ("loss", "recon")  # the terms that fall by orders of magnitude: log axis by default
SPLITS = ("train", "test")


def _figure(**kw):
    """A matplotlib Figure drawn by the Agg canvas: no pyplot, no global backend state."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("dsvae draws its plots with matplotlib: pip install matplotlib") from e
    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as a PNG at 100 dots per inch (a 9 x 6 inch figure: 900 x 600
    pixels), atomically."""
    return atomic_file(path, lambda p: fig.savefig(p, format="png", dpi=100))


def curves_figure(rows: list[dict], log_scale: bool = True):
    """Rows of RUN/log.csv (:func:`dsvae.run.read_log`) -> a Figure with four axes (loss, recon, KL_f,
    KL_z per epoch), a line per split (train, test). With ``log_scale`` the loss and recon axes are
    logarithmic (when all their values are positive); non-finite values are left out. Raises
    ValueError for no rows or rows without log.csv's columns."""
    if not rows:
        raise ValueError("no rows to plot: RUN/log.csv is missing or empty (train the run first)")
    missing = [k for k in ("epoch", "split", *CURVE_TERMS) if k not in rows[0]]
    if missing:
        raise ValueError(f"log rows lack the columns {missing}; expected those of RUN/log.csv")
    fig = _figure(figsize=(9, 6), layout="constrained")
    for ax, (key, title) in zip(fig.subplots(2, 2).ravel(), CURVE_TERMS.items()):
        values = []
        for split in SPLITS:
            pts = sorted(
                (int(r["epoch"]), float(r[key]))
                for r in rows
                if r["split"] == split and math.isfinite(r[key])
            )
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3, label=split)
                values += [v for _, v in pts]
        log = log_scale and key in LOG_TERMS and bool(values) and min(values) > 0
        if log:
            ax.set_yscale("log")
        if not values:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title + (" (log scale)" if log else ""))
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        if values:
            ax.legend()
    return fig


def plot_curves(rows: list[dict], path: str | Path, log_scale: bool = True) -> Path:
    """:func:`curves_figure` written to ``path`` (PNG)."""
    return save_figure(curves_figure(rows, log_scale), path)


def latent_map_figure(importance: np.ndarray, factors: list[str], latent_names: list[str], title: str):
    """The latent map: a heatmap of an importance matrix ``importance`` (D latent dimensions x K
    factors; DCI's R, :mod:`dsvae.evaluate.dci`), one row per factor, one column per dimension, each
    row divided by its sum (the share of the factor's importance each dimension holds). A line
    separates the f dimensions from the z dimensions. Raises ValueError where ``importance`` is not
    ``(len(latent_names), len(factors))``."""
    R = np.asarray(importance, dtype=np.float64)
    if R.shape != (len(latent_names), len(factors)):
        raise ValueError(
            f"importance {R.shape} must be (dimensions, factors) = {(len(latent_names), len(factors))}"
        )
    share = (R / np.maximum(R.sum(axis=0, keepdims=True), 1e-12)).T  # (K, D)
    width = min(16.0, 3.0 + 0.12 * len(latent_names))
    # tall enough for the colour bar's label, also with two factors
    fig = _figure(figsize=(width, max(3.0, 1.2 + 0.45 * len(factors))), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(share, aspect="auto", cmap=COLORMAP, vmin=0.0, interpolation="nearest")
    ax.set_yticks(range(len(factors)), factors)
    n_f = sum(name.startswith("f") for name in latent_names)
    step = max(1, len(latent_names) // 40)
    ticks = list(range(0, len(latent_names), step))
    ax.set_xticks(ticks, [latent_names[i] for i in ticks], rotation=90, fontsize=7)
    if 0 < n_f < len(latent_names):
        ax.axvline(n_f - 0.5, color="white", linewidth=2)
    ax.set_xlabel("latent dimension (f | z)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="share of the factor's importance")
    return fig


def factor_scores_figure(factors: dict, kinds: dict):
    """Bar charts of the per-factor scores of ``dsvae eval`` (metrics.json ``factors``): for each
    factor the swap's rates of following f, following z and neither, and the samples' rates with f
    kept and with z kept (means over seeds, the standard deviation as error bars), the chance level
    1/K as a dashed line; the latent each factor should follow is named under it. ``kinds``:
    metrics.json's ``factor_kinds`` ({factor: {"kind": "static" | "dynamic", ...}})."""
    names = list(factors["swap"])
    fig = _figure(figsize=(max(6.0, 1.6 * len(names) + 2), 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    x = np.arange(len(names))
    panels = (
        (top, "swap", ("f", "z", "neither"), "decode (f of a, z of b): the judge reads the label of"),
        (
            bottom,
            "sample",
            ("f", "z"),
            "one latent kept, the other drawn: the judge reads the kept label with",
        ),
    )
    labels = {"f": "f (a)", "z": "z (b)", "neither": "neither"}
    for ax, which, cols, title in panels:
        w = 0.8 / len(cols)
        for i, c in enumerate(cols):
            mean = [factors[which][k][c]["mean"] for k in names]
            std = [factors[which][k][c]["std"] for k in names]
            text = labels[c] if which == "swap" else f"{c} kept"
            ax.bar(x + (i - (len(cols) - 1) / 2) * w, mean, w, yerr=std, label=text)
        for j, k in enumerate(names):
            ax.hlines(
                factors["chance"][k], j - 0.45, j + 0.45, colors="black", linestyles="dashed", linewidth=1
            )
        ax.set_xticks(x, [f"{k}\n({kinds[k]['kind']}: {factors['home'][k]})" for k in names])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("rate")
        score = factors[f"{which}_score"]["mean"]
        ax.set_title(f"{title} (assignment score {score:.2f}; dashed: chance)", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(axis="y", alpha=0.3)
    return fig
