"""Pictures of what a model learned, drawn from its decoder: reconstructions, swaps of f and z, the
swap matrix, samples with one latent kept, f interpolated and traversals of single dimensions.

Each function takes a model and a dataset view (the test split, usually), encodes the sequences it
picks (:func:`~dsvae.viz.sequences.pick`), decodes new combinations of their f and z, and writes a
:class:`~dsvae.viz.grids.Grid` as GIF + PNG (:func:`~dsvae.viz.grids.write_grid`); each returns file
name -> path. Callers hold the model in eval mode without gradients
(:func:`dsvae.device.evaluating`), except :func:`write_train_pictures`, which does so itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.base import SequenceDataset
from ..device import evaluating, seeded_eval
from ..model import DSVAE
from ..run import check_model_fits
from .grids import Grid, stacked, write_grid
from .sequences import DYNAMIC_KEYS, STATIC_KEYS, ClipMaker, describe, pick


def _check_fits(model: DSVAE, ds: SequenceDataset) -> None:
    """Something to draw, and a model that reads it (:func:`~dsvae.run.check_model_fits`). Raises
    ValueError for an empty view or data the model was not made for."""
    if len(ds) == 0:
        raise ValueError("no sequences to draw: the dataset view is empty")
    check_model_fits(model.config, ds, advice="Draw a model with the dataset it was trained on.")


def write_train_pictures(
    model: DSVAE,
    dataset: SequenceDataset,
    out_dir: str | Path,
    device: str | torch.device = "cpu",
    n: int = 8,
    seed: int = 0,
) -> dict[str, Path]:
    """Reconstructions of ``n`` sequences of ``dataset`` (originals above, reconstructions from the
    posterior means below) and swaps of ``n // 2`` pairs a, b (rows a, b, decode(f_a, z_b),
    decode(f_b, z_a)): recon.png/.gif, swap.png/.gif in ``out_dir`` (PNG only for vector data).
    Raises ValueError for an empty view or data the model does not read."""
    device = torch.device(device)
    out_dir = Path(out_dir)
    _check_fits(model, dataset)
    pos = pick(dataset, n, np.random.default_rng(seed), STATIC_KEYS)
    with evaluating(model):
        x = dataset.model_batch(pos, device)
        enc = model.encode(x)
        clips = ClipMaker.for_dataset(dataset, x)
        originals, recons = clips(x), clips(model.decode(enc.f, enc.z))
        names = [describe(dataset, p) for p in pos]
        paths = write_grid(
            Grid(
                [originals, recons],
                "reconstructions (posterior means)",
                ["original", "reconstruction"],
                names,
            ),
            out_dir,
            "recon",
            stacked(
                [[(name, o), ("reconstruction", r)] for name, o, r in zip(names, originals, recons)],
                "reconstructions (posterior means): each original above its reconstruction",
            ),
        )
        n_pairs = len(pos) // 2
        if n_pairs == 0:
            return paths
        a, b = np.arange(n_pairs) * 2, np.arange(n_pairs) * 2 + 1
        ab = clips(model.decode(enc.f[a], enc.z[b]))
        ba = clips(model.decode(enc.f[b], enc.z[a]))
    clips_a, clips_b = [originals[i] for i in a], [originals[i] for i in b]
    paths.update(_write_pair_swaps(dataset, out_dir, pos[a], pos[b], clips_a, clips_b, ab, ba))
    return paths


def _write_pair_swaps(
    ds: SequenceDataset,
    out_dir: Path,
    pa: np.ndarray,
    pb: np.ndarray,
    clips_a: list[np.ndarray],
    clips_b: list[np.ndarray],
    ab: list[np.ndarray],
    ba: list[np.ndarray],
) -> dict[str, Path]:
    """swap.gif (a column per pair: a, b, f of a with z of b, f of b with z of a) and swap.png (each
    pair's four strips one below the other) of the pairs at positions ``pa``, ``pb`` of ``ds``."""
    title = "swaps: f of one sequence, z of the other"
    gif = Grid(
        [clips_a, clips_b, ab, ba],
        title,
        ["a", "b", "f of a, z of b", "f of b, z of a"],
        [f"a: {describe(ds, p)}\nb: {describe(ds, q)}" for p, q in zip(pa, pb)],
        rules_after_rows=(1,),
    )
    png = stacked(
        [
            [
                (f"a = {describe(ds, p)}", clips_a[k]),
                (f"b = {describe(ds, q)}", clips_b[k]),
                (f"{describe(ds, p, 'f')} + {describe(ds, q, 'z')}", ab[k]),
                (f"{describe(ds, q, 'f')} + {describe(ds, p, 'z')}", ba[k]),
            ]
            for k, (p, q) in enumerate(zip(pa, pb))
        ],
        title,
    )
    return write_grid(gif, out_dir, "swap", png)


def _samples_png(grid: Grid, row_labels: list[str], col_labels: list[str]) -> Grid:
    """A sample grid's PNG: each row (a source and what was made from it) as a block of strips."""
    return stacked(
        [
            [
                (f"{row_label}\n{col_label}" if j == 0 else col_label, clip)
                for j, (col_label, clip) in enumerate(zip(col_labels, row))
            ]
            for row_label, row in zip(row_labels, grid.clips)
        ],
        grid.title,
    )


def swap_matrix(
    model: DSVAE,
    ds: SequenceDataset,
    out_dir: Path,
    n_rows: int,
    n_cols: int,
    seed: int,
    device: torch.device,
) -> dict[str, Path]:
    """swap_matrix.gif/.png: rows take f from ``n_rows`` test sequences (distinct characters where
    there are), columns take z from ``n_cols`` others (distinct motions); the first row and column
    show those sources."""
    rng = np.random.default_rng(seed)
    f_pos = pick(ds, n_rows, rng, STATIC_KEYS)
    z_pos = pick(ds, n_cols, rng, DYNAMIC_KEYS, exclude=f_pos)
    if len(z_pos) == 0:
        z_pos = f_pos  # a single test sequence: the matrix shrinks to its own reconstruction
    x_f, x_z = ds.model_batch(f_pos, device), ds.model_batch(z_pos, device)
    enc_f, enc_z = model.encode(x_f), model.encode(x_z)
    n, m = len(f_pos), len(z_pos)
    cells = model.decode(enc_f.f.repeat_interleave(m, dim=0), enc_z.z.repeat(n, 1, 1))  # row-major
    clips = ClipMaker.for_dataset(ds, x_f)
    swapped = clips(cells)
    grid = Grid(
        [[None] + clips(x_z)] + [[src] + swapped[i * m : (i + 1) * m] for i, src in enumerate(clips(x_f))],
        "swap matrix: decode(f of the row's sequence, z of the column's)",
        ["(sources of z)"] + [describe(ds, p, "f") for p in f_pos],
        ["(sources of f)"] + [describe(ds, p, "z") for p in z_pos],
        rules_after_rows=(0,),
        rules_after_cols=(0,),
    )
    return write_grid(grid, out_dir, "swap_matrix")


def fixed_part(
    model: DSVAE,
    ds: SequenceDataset,
    out_dir: Path,
    keep: str,
    n_rows: int,
    k: int,
    seed: int,
    device: torch.device,
) -> dict[str, Path]:
    """fixed_<keep>.gif/.png. ``keep="f"``: f of ``n_rows`` test sequences (distinct characters),
    each decoded with the same ``k`` sequences z_1:T drawn from the learned prior. ``keep="z"``:
    z_1:T of ``n_rows`` test sequences (distinct motions), each decoded with the same ``k`` draws
    f ~ N(0, I). The draws are seeded by ``seed`` and leave the caller's random state alone. Raises
    ValueError for another ``keep``."""
    if keep not in ("f", "z"):
        raise ValueError(f"keep must be 'f' or 'z', got {keep!r}")
    pos = pick(ds, n_rows, np.random.default_rng(seed), STATIC_KEYS if keep == "f" else DYNAMIC_KEYS)
    n = len(pos)
    x = ds.model_batch(pos, device)
    enc = model.encode(x)
    with seeded_eval(model, seed, device):
        if keep == "f":
            f, z = enc.f.repeat_interleave(k, dim=0), model.sample_prior_z(k).repeat(n, 1, 1)
            title, drawn = "fixed f (row), z_1:T from the learned prior (column)", "z ~ prior"
        else:
            f, z = model.sample_prior_f(k).repeat(n, 1), enc.z.repeat_interleave(k, dim=0)
            title, drawn = "fixed z_1:T (row), f ~ N(0, I) (column)", "f ~ N(0, I)"
    clips = ClipMaker.for_dataset(ds, x)
    samples = clips(model.decode(f, z))  # row-major: source i, draw j
    row_labels = [describe(ds, p, keep) for p in pos]
    col_labels = ["original"] + [f"{drawn} #{j + 1}" for j in range(k)]
    grid = Grid(
        [[src] + samples[i * k : (i + 1) * k] for i, src in enumerate(clips(x))],
        title,
        row_labels,
        col_labels,
        rules_after_cols=(0,),
    )
    return write_grid(grid, out_dir, f"fixed_{keep}", _samples_png(grid, row_labels, col_labels))


def interpolate_f(
    model: DSVAE, ds: SequenceDataset, out_dir: Path, n_rows: int, k: int, seed: int, device: torch.device
) -> dict[str, Path]:
    """interpolate_f.gif/.png: ``n_rows`` pairs a, b of different characters: f = (1 - w) f_a + w f_b
    for ``k`` evenly spaced w from 0 to 1, decoded with z of a. Nothing (an empty dict) for a view
    of fewer than two sequences."""
    pos = pick(ds, 2 * n_rows, np.random.default_rng(seed), STATIC_KEYS)
    n = len(pos) // 2
    if n == 0:
        return {}
    a, b = pos[:n], pos[n : 2 * n]
    x_a, x_b = ds.model_batch(a, device), ds.model_batch(b, device)
    enc_a, enc_b = model.encode(x_a), model.encode(x_b)
    w = torch.linspace(0.0, 1.0, k, device=device)
    f = (1 - w)[None, :, None] * enc_a.f[:, None] + w[None, :, None] * enc_b.f[:, None]  # (n, k, f_dim)
    clips = ClipMaker.for_dataset(ds, x_a)
    mixes = clips(model.decode(f.reshape(n * k, -1), enc_a.z.repeat_interleave(k, dim=0)))
    row_labels = [f"a = {describe(ds, p)}\nb = {describe(ds, q)}" for p, q in zip(a, b)]
    col_labels = ["a"] + [f"{1 - v:.2f} f_a + {v:.2f} f_b" for v in w.tolist()] + ["b"]
    grid = Grid(
        [[sa] + mixes[i * k : (i + 1) * k] + [sb] for i, (sa, sb) in enumerate(zip(clips(x_a), clips(x_b)))],
        "f from a's to b's (linear), z of a",
        row_labels,
        col_labels,
        rules_after_cols=(0, k),
    )
    return write_grid(grid, out_dir, "interpolate_f", _samples_png(grid, row_labels, col_labels))


def importance_map(latents: dict) -> tuple[str, list]:
    """The regressor and importance matrix ``(D, K)`` of the latent map of ``latents`` (metrics.json's
    ``latents``): boosted trees where computed, else linear. Raises ValueError where neither has an
    importance matrix of (f, z)."""
    for reg in ("gbt", "linear"):
        if reg in (latents.get("dci") or {}) and "f+z" in latents["dci"][reg]:
            return reg, latents["dci"][reg]["f+z"]["importance"]
    raise ValueError("no importance matrix of (f, z) in these latent scores")


def _latent_ranges(model: DSVAE, ds: SequenceDataset, device: torch.device) -> np.ndarray:
    """``(D, 2)``: the 2nd and 98th percentiles of each latent dimension's posterior means over
    ``ds``; f's over sequences, z's over every frame of every sequence."""
    from ..evaluate.codes import encode_means  # reads codes only: viz fits no metric

    f_all, z_all = encode_means(model, ds, device=device)
    f_ranges = np.percentile(f_all, [2, 98], axis=0).T
    z_ranges = np.percentile(z_all.reshape(-1, z_all.shape[-1]), [2, 98], axis=0).T
    return np.concatenate([f_ranges, z_ranges])


def traversals(
    model: DSVAE,
    ds: SequenceDataset,
    out_dir: Path,
    latents: dict,
    k: int,
    seed: int,
    device: torch.device,
    top: int = 2,
) -> dict[str, Path]:
    """For every factor of the latent map ``latents`` (:func:`dsvae.evaluate.codes.latent_scores`, or
    metrics.json's ``latents``), its ``top`` most important dimensions of (f, z): one row per
    dimension, a test sequence (seeded choice) decoded ``k`` times while that one dimension moves
    evenly from the 2nd to the 98th percentile of its posterior means over ``ds`` (every other
    dimension kept). A dimension of f changes the whole sequence; one of z changes it at every
    frame. Writes traverse_<factor>.gif/.png."""
    R = np.asarray(importance_map(latents)[1])
    names = latents["latent_names"]
    ranges = _latent_ranges(model, ds, device)
    f_dim = model.config.f_dim
    pos = int(pick(ds, 1, np.random.default_rng(seed), STATIC_KEYS)[0])
    x = ds.model_batch(np.array([pos]), device)
    enc = model.encode(x)
    clips = ClipMaker.for_dataset(ds, x)
    paths: dict[str, Path] = {}
    for j, factor in enumerate(latents["factors"]):
        rows, row_labels = [], []
        for d in np.argsort(-R[:, j], kind="stable")[:top]:
            steps = torch.linspace(float(ranges[d, 0]), float(ranges[d, 1]), k, device=device)
            f, z = enc.f.repeat(k, 1), enc.z.repeat(k, 1, 1)
            if d < f_dim:
                f[:, d] = steps
            else:
                z[:, :, d - f_dim] = steps[:, None]
            rows.append(clips(x) + clips(model.decode(f, z)))
            share = R[d, j] / max(R[:, j].sum(), 1e-12)
            row_labels.append(f"{names[d]} ({100 * share:.0f}% of {factor})")
        col_labels = ["original"] + [f"step {i + 1}/{k}" for i in range(k)]
        grid = Grid(
            rows,
            f"{factor}: its strongest dimensions moved across their posterior range ({describe(ds, pos)})",
            row_labels,
            col_labels,
            rules_after_cols=(0,),
        )
        name = "traverse_" + "".join(c if c.isalnum() else "_" for c in factor)
        paths.update(write_grid(grid, out_dir, name, _samples_png(grid, row_labels, col_labels)))
    return paths
