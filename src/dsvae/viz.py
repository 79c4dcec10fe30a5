"""Pictures of what a DSVAE learned: swaps, samples, reconstructions and training curves.

A picture is a :class:`Grid` of clips (one sequence each) with labels saying which test sequence
gave f and which gave z. It is written twice: an animated GIF, where every cell plays its sequence
(frame t of all cells at once), and a PNG, where every cell shows its T frames side by side.
Frames are enlarged by an integer factor with nearest-neighbour sampling, so pixel art stays sharp.
Vector (speech) frames are drawn as spectrogram heatmaps, one still image per sequence.

    write_run_train_pictures(RUN)   # `dsvae train` after training: reconstructions and swaps
    visualize_run(RUN)              # `dsvae viz RUN`: everything, test split, metrics.json's latent map

Pictures read what earlier stages wrote (the model, the data, log.csv, metrics.json) and never
compute a metric: the latent map and the traversals need `dsvae eval RUN` first.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ._io import atomic_file
from .data.base import SequenceDataset
from .device import resolve_device, seeded_eval
from .evaluate.records import MetricsRecord
from .model import DSVAE
from .progress import progress
from .run import TrainedRun, check_model_fits

TARGET_SIZE = 128  # frames are enlarged by an integer factor to about this many pixels
FRAME_MS = 150  # GIF frame duration
MARGIN = 4
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
RULE = (160, 160, 160)
# columns that name the static side of a sequence (who) and the dynamic side (what it does), in order
# of preference; a label shows its value name, an info column "<short name> <value>"
STATIC_KEYS = {"character": "char", "speaker": "speaker"}
DYNAMIC_KEYS = {"motion": "motion", "digit": "digit"}
# matplotlib's colour map of every heatmap: spectrograms, vector sequences, the latent map
COLORMAP = "viridis"

# Every picture `dsvae viz` writes into RUN/pictures: title and how to read it (the report shows both).
PICTURES: dict[str, tuple[str, str]] = {
    "curves.png": (
        "Training curves",
        "Loss (the negative ELBO), reconstruction term, KL_f and KL_z per sequence, for every epoch, "
        "train (epoch mean) and test.",
    ),
    "swap_matrix.gif": (
        "Swap matrix",
        "The first row shows the test sequences that give z, the first column those that give f. Cell "
        "(i, j) decodes f of row i's sequence with z of column j's: a disentangled model keeps the "
        "row's character (f) and plays the column's motion (z). Down a column the motion should stay, "
        "along a row the character should stay.",
    ),
    "swap_matrix.png": ("Swap matrix, frame by frame", "The same matrix, each cell's T frames side by side."),
    "fixed_f.gif": (
        "Fixed f, z from the learned prior",
        "Each row keeps f of one test sequence (first column) and decodes it with z_1:T drawn from the "
        "learned prior p(z_t | z_<t); one draw per column, the same down a column. The character should "
        "stay along a row.",
    ),
    "fixed_f.png": ("Fixed f, frame by frame", "Each row's sequences one below the other."),
    "fixed_z.gif": (
        "Fixed z, f from N(0, I)",
        "Each row keeps z_1:T of one test sequence (first column) and decodes it with f drawn from "
        "N(0, I); one draw per column, the same down a column. The motion should stay along a row, the "
        "character down a column.",
    ),
    "fixed_z.png": ("Fixed z, frame by frame", "Each row's sequences one below the other."),
    "interpolate_f.gif": (
        "f interpolated between two characters",
        "Each row mixes f linearly from sequence a's (first column) to sequence b's (last column) with "
        "z of a fixed: the character should morph while the motion stays.",
    ),
    "interpolate_f.png": ("f interpolated, frame by frame", "Each row's sequences one below the other."),
    "recon.gif": (
        "Reconstructions",
        "Test sequences (top row) and their reconstructions from the posterior means of f and z "
        "(bottom row).",
    ),
    "recon.png": ("Reconstructions, frame by frame", "Each original above its reconstruction."),
    "swap.gif": (
        "Swaps of pairs",
        "Each column is a pair of test sequences a, b: rows a, b, then decode(f of a, z of b) and "
        "decode(f of b, z of a).",
    ),
    "swap.png": ("Swaps of pairs, frame by frame", "Each pair's four sequences one below the other."),
}

# The pictures of which factor lives where (labelled runs only; the report shows them in their own
# section): file name -> title and how to read it.
LATENT_PICTURES: dict[str, tuple[str, str]] = {
    "latent_map.png": (
        "Latent map",
        "One row per labelled factor, one column per latent dimension (f, then z, split by a white line): "
        "the share of the factor's importance (DCI's importance matrix) each dimension holds. A "
        "disentangled model puts each static factor in a few f dimensions and each dynamic factor in z; "
        "a static factor with weight right of the line has leaked into z.",
    ),
    "factor_scores.png": (
        "Per-factor scores",
        "Top: of swapped videos (f of a, z of b), how often the judge reads each factor's label from a "
        "(f), from b (z) or neither; bottom: with f kept and z drawn from the prior, and with z kept and "
        "f drawn. A static factor should follow f, a dynamic one z; dashed lines mark chance.",
    ),
    "traverse_*.gif": (
        "Traversal",
        "Each row moves one of the factor's most important latent dimensions across its posterior range "
        "(2nd to 98th percentile) with everything else of the first column's sequence kept: the factor "
        "should change along the row, and nothing else.",
    ),
}


# --- frames -> pixels -------------------------------------------------------------------------------


def to_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """Video frames ``(T, C, H, W)`` floats in [0, 1] -> uint8 ``(T, H, W, 3)`` (grey becomes RGB)."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().float().cpu().numpy()
    x = np.asarray(frames, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"frames must be (T, C, H, W) with C = 1 or 3, got shape {x.shape}")
    x = np.round(np.clip(np.nan_to_num(x), 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def default_scale(size: int) -> int:
    """The enlargement of frames ``size`` pixels wide: 64 -> 2, 32 -> 4, 16 -> 8; never below 1."""
    return max(1, TARGET_SIZE // size)


def upscale(images: np.ndarray, scale: int | tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour enlargement of ``(..., H, W, C)``: every pixel becomes a block of
    ``scale`` x ``scale`` (or ``(rows, columns)``) identical pixels."""
    sy, sx = (scale, scale) if isinstance(scale, int) else scale
    if sy < 1 or sx < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    return images.repeat(sy, axis=-3).repeat(sx, axis=-2)


def strip(clip: np.ndarray) -> np.ndarray:
    """A clip ``(T, h, w, 3)`` as one image ``(h, T * w, 3)``: its frames side by side."""
    return np.concatenate(list(clip), axis=1)


@functools.cache
def _colormap_table() -> np.ndarray:
    """:data:`COLORMAP` as 256 uint8 RGB rows (matplotlib imported here, on first use)."""
    try:
        from matplotlib import colormaps
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "dsvae draws heatmaps with matplotlib's colour map: pip install matplotlib"
        ) from e
    return np.round(colormaps[COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


def colormap(values: np.ndarray | float) -> np.ndarray:
    """Values in [0, 1] (any shape; clipped) -> uint8 RGB ``(..., 3)`` of matplotlib's
    :data:`COLORMAP` in 256 levels."""
    levels = np.round(np.clip(np.asarray(values, np.float64), 0.0, 1.0) * 255).astype(np.int64)
    return _colormap_table()[levels]


def heatmap(seq: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Vector frames ``(T, D)`` -> an RGB spectrogram ``(D, T, 3)`` uint8: time to the right, the
    first feature (lowest frequency) at the bottom, ``value_range`` spread over the colour map."""
    lo, hi = value_range
    return colormap((np.asarray(seq, np.float32).T[::-1] - lo) / max(hi - lo, 1e-12))


@dataclass
class ClipMaker:
    """Model-space batches -> clips ``(T', h, w, 3)`` uint8, ready to place in a :class:`Grid`:
    video frames enlarged by ``scale``; vector sequences as one heatmap frame each (T' = 1)."""

    dataset: SequenceDataset
    scale: tuple[int, int]
    value_range: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def for_dataset(cls, dataset: SequenceDataset, originals: torch.Tensor) -> ClipMaker:
        if dataset.kind == "video":
            return cls(dataset, (default_scale(dataset.frame_shape[-1]),) * 2)
        d = dataset.frame_shape[0]
        sy = default_scale(d)
        # the colour map spans the originals' values (outliers aside), the same for every cell
        values = dataset.denormalize(originals).float().cpu().numpy()
        lo, hi = np.percentile(values, [1, 99])
        return cls(dataset, (sy, max(1, d * sy // dataset.T)), (float(lo), float(hi)))

    def __call__(self, x: torch.Tensor) -> list[np.ndarray]:
        if self.dataset.kind == "video":
            return [upscale(to_uint8(seq), self.scale) for seq in x]
        values = self.dataset.denormalize(x).float().cpu().numpy()
        return [upscale(heatmap(seq, self.value_range)[None], self.scale) for seq in values]


# --- naming sequences -------------------------------------------------------------------------------


def _first_key(ds: SequenceDataset, keys: dict[str, str]) -> str | None:
    return next((k for k in keys if k in ds.labels or k in ds.info), None)


def _column(ds: SequenceDataset, key: str) -> np.ndarray:
    return ds.label_array(key) if key in ds.labels else ds.info_array(key)


def _value_text(ds: SequenceDataset, key: str, short: str, pos: int) -> str:
    if key in ds.labels:
        name = ds.label_values[key][int(ds.label_array(key)[pos])]
        return f"{short} {name}" if name.isdigit() else name
    return f"{short} {ds.info_array(key)[pos]}"


def describe(ds: SequenceDataset, pos: int, part: str | None = None) -> str:
    """Name the sequence at position ``pos`` of the view: ``"test #12 (char 345, slash_left)"``, the
    number counting within its split. ``part="f"`` names the static side only (``"f: test #12 (char
    345)"``), ``part="z"`` the dynamic side only (``"z: test #7 (slash_left)"``)."""
    row = int(ds.index[pos])
    split = int(ds.split[row])
    number = int((ds.split[:row] == split).sum())
    key_sets = {"f": [STATIC_KEYS], "z": [DYNAMIC_KEYS], None: [STATIC_KEYS, DYNAMIC_KEYS]}[part]
    bits = []
    for keys in key_sets:
        key = _first_key(ds, keys)
        if key is not None:
            bits.append(_value_text(ds, key, keys[key], pos))
    text = f"{'test' if split else 'train'} #{number}" + (f" ({', '.join(bits)})" if bits else "")
    return f"{part}: {text}" if part else text


def pick(
    ds: SequenceDataset, count: int, rng: np.random.Generator, keys: dict[str, str], exclude=()
) -> np.ndarray:
    """``count`` positions in a seeded random order, with distinct values of the first of ``keys``
    the dataset has (distinct characters, distinct motions) as far as there are; fewer if the view
    is smaller."""
    order = rng.permutation(len(ds))
    order = order[~np.isin(order, np.asarray(exclude, dtype=np.int64))]
    key = _first_key(ds, keys)
    if key is None:
        return order[:count]
    values = _column(ds, key)
    chosen: list[int] = []
    seen: set = set()
    for p in order:
        if values[p] not in seen:
            chosen.append(int(p))
            seen.add(values[p])
            if len(chosen) == count:
                return np.array(chosen)
    rest = [int(p) for p in order if int(p) not in chosen]
    return np.array(chosen + rest[: count - len(chosen)], dtype=np.int64)


# --- grids of labelled clips -----------------------------------------------------------------------


@dataclass
class Grid:
    """Clips ``(T, h, w, 3)`` uint8 (all the same shape; None leaves a cell empty) in rows and
    columns, with a title and labels. A rule (a grey line) separates the rows and columns listed
    in ``rules_after_rows`` / ``rules_after_cols`` from the next (sources from results)."""

    clips: list[list[np.ndarray | None]]
    title: str
    row_labels: list[str] | None = None
    col_labels: list[str] | None = None
    rules_after_rows: tuple[int, ...] = ()
    rules_after_cols: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        shapes = {c.shape for row in self.clips for c in row if c is not None}
        if len(shapes) != 1:
            raise ValueError(f"a grid needs clips of one shape (T, h, w, 3), got {sorted(shapes)}")
        n_cols = {len(row) for row in self.clips}
        if len(n_cols) != 1:
            raise ValueError(f"every row of a grid needs the same number of cells, got {sorted(n_cols)}")
        if self.row_labels is not None and len(self.row_labels) != len(self.clips):
            raise ValueError(f"{len(self.row_labels)} row labels for {len(self.clips)} rows")
        if self.col_labels is not None and len(self.col_labels) != n_cols.pop():
            raise ValueError(f"{len(self.col_labels)} column labels for {len(self.clips[0])} columns")

    @property
    def clip_shape(self) -> tuple[int, ...]:
        return next(c.shape for row in self.clips for c in row if c is not None)

    @property
    def T(self) -> int:
        return self.clip_shape[0]


@dataclass
class Layout:
    """Where :func:`render` puts things: the image size and each cell's top-left corner."""

    size: tuple[int, int]  # (width, height)
    cells: list[list[tuple[int, int]]]  # (x, y) per row and column
    cell_size: tuple[int, int]  # (width, height) of one cell: a frame, or a strip of T frames
    label_width: int  # the row labels' column, left of the first cell


@functools.cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


_MEASURE = ImageDraw.Draw(Image.new("RGB", (1, 1)))


def _text_size(text: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    left, top, right, bottom = _MEASURE.multiline_textbbox((0, 0), text, font=_font(), spacing=2)
    return right, bottom


def _wrap(text: str, width: int) -> str:
    """Break each line of ``text`` between words so that it fits ``width`` pixels where it can."""
    lines = []
    for line in text.split("\n"):
        current = ""
        for word in line.split(" "):
            trial = f"{current} {word}" if current else word
            if current and _text_size(trial)[0] > width:
                lines.append(current)
                current = word
            else:
                current = trial
        lines.append(current)
    return "\n".join(lines)


def _widest_word(text: str) -> int:
    return max((_text_size(w)[0] for w in text.replace("\n", " ").split(" ")), default=0)


def layout(grid: Grid, strips: bool) -> tuple[Layout, list[str]]:
    """The layout of ``render(grid, ...)`` (frames, or strips when ``strips``) and the wrapped
    column labels."""
    T, h, w, _ = grid.clip_shape
    cw, ch = (T * w if strips else w), h
    n_rows, n_cols = len(grid.clips), len(grid.clips[0])
    col_labels = grid.col_labels or [""] * n_cols
    widths = [max(cw, _widest_word(label)) for label in col_labels]
    wrapped = [_wrap(label, width) for label, width in zip(col_labels, widths)]
    title_h = _text_size(grid.title + " t")[1] + 2 * MARGIN
    head_h = max(_text_size(label)[1] for label in wrapped) + MARGIN if grid.col_labels else 0
    label_w = max(_text_size(label)[0] for label in grid.row_labels) + 2 * MARGIN if grid.row_labels else 0

    def starts(first: int, sizes: list[int], rules: tuple[int, ...]) -> list[int]:
        out, pos = [], first
        for i, size in enumerate(sizes):
            out.append(pos)
            pos += size + (3 * MARGIN if i in rules else MARGIN)
        return out

    xs = starts(label_w + MARGIN, widths, grid.rules_after_cols)
    ys = starts(title_h + head_h + MARGIN, [ch] * n_rows, grid.rules_after_rows)
    title_w = _text_size(grid.title + "   t = 00/00")[0] + 2 * MARGIN
    size = (max(xs[-1] + widths[-1] + MARGIN, title_w), ys[-1] + ch + MARGIN)
    cells = [[(x + (width - cw) // 2, y) for x, width in zip(xs, widths)] for y in ys]
    return Layout(size, cells, (cw, ch), label_w), wrapped


def render(grid: Grid, t: int | None = None) -> Image.Image:
    """Frame ``t`` of every cell (one frame of the animation; the title says which), or with
    ``t=None`` every cell's frames side by side."""
    lay, col_labels = layout(grid, strips=t is None)
    img = Image.new("RGB", lay.size, BACKGROUND)
    draw = ImageDraw.Draw(img)
    font = _font()
    title = grid.title if t is None else f"{grid.title}   t = {t + 1}/{grid.T}"
    draw.text((MARGIN, MARGIN), title, fill=INK, font=font)
    cw, ch = lay.cell_size
    right, bottom = lay.size[0] - MARGIN, lay.cells[-1][0][1] + ch
    first_x, first_y = lay.cells[0][0][0], lay.cells[0][0][1]
    for i in grid.rules_after_rows:
        y = (lay.cells[i][0][1] + ch + lay.cells[i + 1][0][1]) // 2
        draw.line([(first_x, y), (right, y)], fill=RULE, width=1)
    for j in grid.rules_after_cols:
        x = (lay.cells[0][j][0] + cw + lay.cells[0][j + 1][0]) // 2
        draw.line([(x, first_y), (x, bottom)], fill=RULE, width=1)
    for j, label in enumerate(col_labels):
        x = lay.cells[0][j][0] + cw // 2 - _text_size(label)[0] // 2
        draw.multiline_text(
            (max(x, 0), first_y - MARGIN - _text_size(label)[1]), label, fill=INK, font=font, spacing=2
        )
    for i, row in enumerate(grid.clips):
        y = lay.cells[i][0][1]
        if grid.row_labels:
            label = grid.row_labels[i]
            draw.multiline_text(
                (MARGIN, y + (ch - _text_size(label)[1]) // 2), label, fill=INK, font=font, spacing=2
            )
        for j, clip in enumerate(row):
            if clip is not None:
                img.paste(Image.fromarray(strip(clip) if t is None else clip[t]), lay.cells[i][j])
    return img


def write_png(image: Image.Image, path: str | Path) -> Path:
    return atomic_file(path, lambda p: image.save(p, format="PNG"))


def write_gif(frames: list[Image.Image], path: str | Path, frame_ms: int = FRAME_MS) -> Path:
    """An animated GIF that loops forever, ``frame_ms`` milliseconds per frame."""
    return atomic_file(
        path,
        lambda p: frames[0].save(
            p, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
        ),
    )


def write_grid(grid: Grid, out_dir: Path, name: str, png_grid: Grid | None = None) -> dict[str, Path]:
    """``name.gif`` (the grid, animated: frame t of every cell) and ``name.png`` (``png_grid``, by
    default the same grid, every cell's frames side by side). Still clips (T = 1: spectrograms) give
    only the PNG, of the grid itself: with one frame per cell it needs no other layout."""
    if grid.T == 1:
        return {f"{name}.png": write_png(render(grid), out_dir / f"{name}.png")}
    frames = [render(grid, t) for t in range(grid.T)]
    return {
        f"{name}.png": write_png(render(png_grid or grid), out_dir / f"{name}.png"),
        f"{name}.gif": write_gif(frames, out_dir / f"{name}.gif"),
    }


def stacked(blocks: list[list[tuple[str, np.ndarray]]], title: str) -> Grid:
    """One column of labelled clips, block after block, a rule between blocks (the PNG of pictures
    whose GIF puts each block in a column: strips are wide, so they go one below the other)."""
    rows = [item for block in blocks for item in block]
    ends, n = [], 0
    for block in blocks[:-1]:
        n += len(block)
        ends.append(n - 1)
    return Grid(
        [[clip] for _, clip in rows], title, [label for label, _ in rows], rules_after_rows=tuple(ends)
    )


# --- pictures from a model ------------------------------------------------------------------------------


@contextlib.contextmanager
def _evaluating(model: DSVAE) -> Iterator[None]:
    """Eval mode and no gradients inside; the model's mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _check_fits(model: DSVAE, ds: SequenceDataset) -> None:
    """Something to draw, and a model that reads it (:func:`~dsvae.run.check_model_fits`)."""
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
    decode(f_b, z_a)): recon.png/.gif, swap.png/.gif in ``out_dir`` (PNG only for vector data)."""
    device = torch.device(device)
    out_dir = Path(out_dir)
    _check_fits(model, dataset)
    pos = pick(dataset, n, np.random.default_rng(seed), STATIC_KEYS)
    with _evaluating(model):
        x = dataset.model_batch(pos, device)
        enc = model.encode(x)
        x_hat = model.decode(enc.f, enc.z)
        clips = ClipMaker.for_dataset(dataset, x)
        originals, recons = clips(x), clips(x_hat)
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
    pa, pb = pos[a], pos[b]
    gif = Grid(
        [[originals[i] for i in a], [originals[i] for i in b], ab, ba],
        "swaps: f of one sequence, z of the other",
        ["a", "b", "f of a, z of b", "f of b, z of a"],
        [f"a: {describe(dataset, p)}\nb: {describe(dataset, q)}" for p, q in zip(pa, pb)],
        rules_after_rows=(1,),
    )
    png = stacked(
        [
            [
                (f"a = {describe(dataset, p)}", originals[i]),
                (f"b = {describe(dataset, q)}", originals[j]),
                (f"{describe(dataset, p, 'f')} + {describe(dataset, q, 'z')}", ab[k]),
                (f"{describe(dataset, q, 'f')} + {describe(dataset, p, 'z')}", ba[k]),
            ]
            for k, (p, q, i, j) in enumerate(zip(pa, pb, a, b))
        ],
        "swaps: f of one sequence, z of the other",
    )
    paths.update(write_grid(gif, out_dir, "swap", png))
    return paths


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
    """Rows take f from ``n_rows`` test sequences (distinct characters where there are), columns take
    z from ``n_cols`` others (distinct motions); the first row and column show those sources."""
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
    """``keep="f"``: f of ``n_rows`` test sequences (distinct characters), each decoded with the same
    ``k`` sequences z_1:T drawn from the learned prior. ``keep="z"``: z_1:T of ``n_rows`` test
    sequences (distinct motions), each decoded with the same ``k`` draws f ~ N(0, I)."""
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
    """``n_rows`` pairs a, b of different characters: f = (1 - w) f_a + w f_b for ``k`` evenly spaced
    w from 0 to 1, decoded with z of a."""
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
    from .evaluate.codes import encode_means

    R = np.asarray(_map_of(latents)[1])
    names = latents["latent_names"]
    f_all, z_all = encode_means(model, ds, device=device)
    joint = np.concatenate([f_all, z_all.mean(axis=1)], axis=1)  # ranges of z: over frames and sequences
    z_frames = z_all.reshape(-1, z_all.shape[-1])
    f_dim = f_all.shape[1]
    pos = int(pick(ds, 1, np.random.default_rng(seed), STATIC_KEYS)[0])
    x = ds.model_batch(np.array([pos]), device)
    enc = model.encode(x)
    clips = ClipMaker.for_dataset(ds, x)
    paths: dict[str, Path] = {}
    for j, factor in enumerate(latents["factors"]):
        dims = np.argsort(-R[:, j], kind="stable")[:top]
        rows, row_labels = [], []
        for d in dims:
            values = np.percentile(z_frames[:, d - f_dim] if d >= f_dim else joint[:, d], [2, 98])
            steps = torch.linspace(float(values[0]), float(values[1]), k, device=device)
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


def _map_of(latents: dict) -> tuple[str, list]:
    """The regressor and importance matrix of the latent map: boosted trees where computed."""
    for reg in ("gbt", "linear"):
        if reg in (latents.get("dci") or {}) and "f+z" in latents["dci"][reg]:
            return reg, latents["dci"][reg]["f+z"]["importance"]
    raise ValueError("no importance matrix of (f, z) in these latent scores")


def run_latents(run: TrainedRun) -> tuple[dict | None, dict | None]:
    """The latent scores `dsvae eval` wrote into RUN/metrics.json (``latents``) and the metrics (None
    where absent). Pictures never fit a metric: without metrics.json, or with latent scores of other
    latents than the run's model's, a warning says to run `dsvae eval RUN` first and the latent
    pictures are left out."""
    run_dir, metrics = run.path, run.metrics
    if metrics is None:
        warnings.warn(
            f"no latent map or traversals: {run_dir} has no metrics.json yet; run `dsvae eval {run_dir}` "
            f"first, then `dsvae viz {run_dir}` again",
            stacklevel=3,
        )
        return None, None
    latents = MetricsRecord.from_dict(metrics).section("latents")  # any schema version
    if not (latents and latents.get("dci")):
        return None, metrics  # unlabelled, or nothing to fit: metrics.json's notes say why
    cfg = run.model.config
    if len(latents["latent_names"]) != cfg.f_dim + cfg.z_dim:
        warnings.warn(
            f"no latent map or traversals: the latent scores in {run_dir}/metrics.json are of "
            f"{len(latents['latent_names'])} latent dimensions, the model has {cfg.f_dim + cfg.z_dim}; "
            f"run `dsvae eval {run_dir}` again, then `dsvae viz {run_dir}`",
            stacklevel=3,
        )
        return None, metrics
    return latents, metrics


def latent_pictures(
    run: TrainedRun,
    test: SequenceDataset,
    out_dir: Path,
    k: int,
    seed: int,
    device: torch.device,
) -> dict[str, Path]:
    """The latent map (latent_map.png), the per-factor scores (factor_scores.png, where `dsvae eval`
    ran with a judge) and the traversals (traverse_<factor>.gif/.png; PNG of spectrograms for a vector
    run) of a labelled run, from what `dsvae eval` wrote in RUN/metrics.json (:func:`run_latents`)."""
    latents, metrics = run_latents(run)
    record = MetricsRecord.from_dict(metrics) if metrics else None
    paths: dict[str, Path] = {}
    if record and record.section("factors"):
        fig = factor_scores_figure(record.section("factors"), record.section("factor_kinds"))
        paths["factor_scores.png"] = save_figure(fig, out_dir / "factor_scores.png")
    if latents is None:
        return paths
    reg, R = _map_of(latents)
    title = f"latent map: importance of each dimension for each factor (DCI, {reg})"
    fig = latent_map_figure(np.asarray(R), latents["factors"], latents["latent_names"], title)
    paths["latent_map.png"] = save_figure(fig, out_dir / "latent_map.png")
    paths.update(traversals(run.model, test, out_dir, latents, k, seed, device))
    return paths


def visualize_run(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    n_rows: int = 4,
    n_cols: int = 4,
    k: int = 6,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log_scale: bool = True,
) -> dict[str, Path]:
    """Every picture of a run, from its test split, into ``out_dir`` (default RUN/pictures): the swap
    matrix (``n_rows`` x ``n_cols``), fixed f and fixed z with ``k`` samples each, f interpolated in
    ``k`` steps, reconstructions and swaps, and the training curves (see :data:`PICTURES`). A vector
    (speech) run gets the curves, spectrogram reconstructions and swaps, and the voice conversion
    examples of :func:`voice_conversion`."""
    for name, value in (("n_rows", n_rows), ("n_cols", n_cols), ("k", k)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "pictures"
    device = resolve_device(str(device))
    run = TrainedRun(run_dir, device)
    model, dataset, test = run.model, run.dataset, _drawn(run)

    paths: dict[str, Path] = {}
    rows = run.log
    if rows:
        paths["curves.png"] = plot_curves(rows, out_dir / "curves.png", log_scale=log_scale)
    steps = [lambda: write_train_pictures(model, test, out_dir, device=device, seed=seed)]
    if model.config.is_video:
        steps += [
            lambda: swap_matrix(model, test, out_dir, n_rows, n_cols, seed, device),
            lambda: fixed_part(model, test, out_dir, "f", n_rows, k, seed, device),
            lambda: fixed_part(model, test, out_dir, "z", n_rows, k, seed, device),
            lambda: interpolate_f(model, test, out_dir, n_rows, k, seed, device),
        ]
    if dataset.labels:
        steps.append(lambda: latent_pictures(run, test, out_dir, k, seed, device))
    with _evaluating(model):
        for step in progress(steps, desc="pictures", unit="picture", leave=False):
            paths.update(step())
    if not model.config.is_video:
        paths.update(_voice_conversion(run, out_dir, device))
    return paths


def _drawn(run: TrainedRun) -> SequenceDataset:
    """The sequences to draw of a run (its dataset already checked to fit the model): the test split,
    or for a dataset without one the training split (which the labels then say)."""
    return run.test if len(run.test) else run.train


def write_run_train_pictures(
    run_dir: str | Path, device: str | torch.device = "cpu", seed: int = 0
) -> dict[str, Path]:
    """The pictures of a training that ended, drawn from the run folder into RUN/pictures: the
    reconstructions and swaps of :func:`write_train_pictures`. ``dsvae train`` calls it after
    training (unless ``--no-pictures``); the training loop itself draws nothing."""
    run = TrainedRun(run_dir, resolve_device(str(device)))
    return write_train_pictures(run.model, _drawn(run), run.path / "pictures", device=run.device, seed=seed)


def _voice_conversion(run: TrainedRun, out_dir: Path, device: torch.device) -> dict[str, Path]:
    """The voice conversion examples (:func:`voice_conversion`) in ``out_dir``/voice, where the run's
    data is speech (recordings with speakers); otherwise a warning says why there are none."""
    try:
        return {
            f"voice/{name}": path
            for name, path in voice_conversion(run, out_dir / "voice", device=device).items()
        }
    except ValueError as e:  # vector data that is not speech recordings: nothing to convert
        warnings.warn(f"no voice conversion examples for {run.path}: {e}", stacklevel=3)
        return {}


# --- speech: spectrograms and voice conversion -------------------------------------------------------
SPEECH_COLUMNS = ("utterance", "start_frame", "recording_frames")  # info columns of speech data


def overlap_average(segments: np.ndarray, starts: np.ndarray, n_frames: int) -> np.ndarray:
    """Segments (S, T, D) cut from one recording at ``starts`` -> the recording (n_frames, D), each
    frame the mean of the segments that cover it (frames past ``n_frames`` were padding)."""
    S, T, D = segments.shape
    total = np.zeros((max(int(starts.max()) + T, n_frames), D))
    count = np.zeros((len(total), 1))
    for seg, s in zip(segments, starts):
        total[s : s + T] += seg
        count[s : s + T] += 1
    return (total / np.maximum(count, 1))[:n_frames]


def spectrogram_image(log_mel: np.ndarray, vmin: float, vmax: float, scale: int = 4) -> Image.Image:
    """Log-mel (n_frames, n_mels) -> a PIL image ``(n_mels * scale) x (n_frames * scale)`` pixels,
    time to the right, low frequencies at the bottom, [vmin, vmax] spread over :data:`COLORMAP`."""
    rgb = upscale(heatmap(log_mel, (vmin, vmax)), scale)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def _utterance_segments(ds: SequenceDataset, utterance: str) -> np.ndarray:
    """Positions of the utterance's segments in ``ds``, in time order."""
    pos = np.flatnonzero(ds.info_array("utterance") == utterance)
    if len(pos) == 0:
        raise ValueError(
            f"no test utterance {utterance!r}; e.g. {', '.join(np.unique(ds.info_array('utterance'))[:3])}"
        )
    return pos[np.argsort(ds.info_array("start_frame")[pos], kind="stable")]


def _speech_test_split(run: TrainedRun, speaker: str) -> SequenceDataset:
    """The run's test split, after checking that it holds speech recordings: vector frames, the
    recordings' columns (:data:`SPEECH_COLUMNS`), the ``speaker`` label and the feature parameters.
    Raises ValueError saying what is missing."""
    if run.model.config.is_video:
        raise ValueError("voice conversion needs a speech run (vector frames: dsvae train --preset speech)")
    test = run.test
    name = test.meta.get("name", "the dataset")
    missing = [c for c in SPEECH_COLUMNS if c not in test.info]
    if missing:
        raise ValueError(
            f"{name} has no {', '.join(repr(c) for c in missing)} column; build speech data with "
            "`dsvae data fsdd` or `dsvae data timit`"
        )
    if speaker not in test.labels:
        raise ValueError(f"{name} has no {speaker!r} label; labels: {sorted(test.labels)}")
    if "features" not in test.meta:
        raise ValueError("the dataset keeps no feature parameters (meta['features']) to invert; rebuild it")
    return test


@torch.no_grad()
def voice_conversion(
    run: str | Path | TrainedRun,
    out_dir: str | Path | None = None,
    source: str | None = None,
    target_speaker: str | None = None,
    n_iter: int = 64,
    device: str | torch.device = "cpu",
) -> dict[str, Path]:
    """Decode the z of test recording ``source`` with its own f and with ``target_speaker``'s f, of
    the speech run ``run`` (a run folder or an opened :class:`~dsvae.run.TrainedRun`).

    Writes into ``out_dir`` (default RUN/pictures/voice) a WAV (Griffin-Lim, ``n_iter`` iterations)
    and a spectrogram PNG (:func:`spectrogram_image`) of: ``source`` (the input features), ``own_f``
    (its z with its own f: the reconstruction), ``converted`` (its z with the target speaker's f: the
    mean f over that speaker's test segments) and ``target`` (a test recording of the target
    speaker, with the same digit where there is one), plus ``voice_conversion.png`` with the four
    spectrograms top to bottom. Defaults: the first test recording, and the next speaker in label
    order. Returns name -> path. Raises ValueError for a run that is not speech, an unknown
    recording or speaker."""
    from .data.speech import SPEAKER, SpeechFeatures, write_wav

    run = TrainedRun.of(run, device)
    out_dir = Path(out_dir) if out_dir is not None else run.path / "pictures" / "voice"
    model, test = run.model, _speech_test_split(run, SPEAKER)
    features = SpeechFeatures.from_dict(test.meta["features"])
    utterances = test.info_array("utterance")
    source = str(source if source is not None else np.unique(utterances)[0])
    src_pos = _utterance_segments(test, source)
    speakers = test.label_values[SPEAKER]
    speaker = test.label_array(SPEAKER)
    src_speaker = int(speaker[src_pos[0]])
    if target_speaker is None:
        present = np.unique(speaker)
        later = present[present > src_speaker]
        tgt_speaker = int(later[0] if len(later) else present[0])
    elif target_speaker in speakers:
        tgt_speaker = speakers.index(target_speaker)
    else:
        raise ValueError(f"unknown speaker {target_speaker!r}; the speakers are {', '.join(speakers)}")
    tgt_all = np.flatnonzero(speaker == tgt_speaker)
    if len(tgt_all) == 0:
        raise ValueError(f"speaker {speakers[tgt_speaker]} has no test recordings to take f from")

    def encode(pos: np.ndarray):
        return model.encode(test.model_batch(pos, device))

    def recording(pos: np.ndarray, segments: torch.Tensor) -> np.ndarray:
        """Standardized segments (S, T, D) of one recording -> its log-mel features (n_frames, D)."""
        feats = test.denormalize(segments.float()).cpu().numpy()
        n_frames = int(test.info_array("recording_frames")[pos[0]])
        return overlap_average(feats, test.info_array("start_frame")[pos], n_frames)

    enc = encode(src_pos)
    S = len(src_pos)
    own_f = enc.f.mean(0, keepdim=True).expand(S, -1)
    tgt_f = encode(tgt_all).f.mean(0, keepdim=True).expand(S, -1)
    tgt_candidates = tgt_all
    if "digit" in test.labels:
        same_digit = tgt_all[test.label_array("digit")[tgt_all] == test.label_array("digit")[src_pos[0]]]
        tgt_candidates = same_digit if len(same_digit) else tgt_all
    tgt_pos = _utterance_segments(test, str(utterances[tgt_candidates[0]]))

    spectrograms = {
        "source": recording(src_pos, test.model_batch(src_pos)),
        "own_f": recording(src_pos, model.decode(own_f, enc.z)),
        "converted": recording(src_pos, model.decode(tgt_f, enc.z)),
        "target": recording(tgt_pos, test.model_batch(tgt_pos)),
    }
    tgt_name = speakers[tgt_speaker]
    captions = {
        "source": f"{source} (speaker {speakers[src_speaker]}): input",
        "own_f": f"{source}: its z with its own f",
        "converted": f"{source}: its z with the f of {tgt_name}",
        "target": f"{utterances[tgt_pos[0]]} (speaker {tgt_name}): input",
    }
    vmin, vmax = np.percentile(spectrograms["source"], [1, 99.5])
    written, images = {}, []
    for name, log_mel in spectrograms.items():
        audio = features.to_audio(log_mel, n_iter=n_iter)
        audio = 0.9 * audio / max(float(np.abs(audio).max()), 1e-9)
        written[name] = atomic_file(out_dir / f"{name}.wav", lambda p, a=audio: write_wav(p, a, features.sr))
        img = spectrogram_image(log_mel, vmin, vmax)
        written[f"{name}_png"] = atomic_file(
            out_dir / f"{name}.png", lambda p, im=img: im.save(p, format="PNG")
        )
        images.append((captions[name], img))
    width = max(img.width for _, img in images)
    sheet = Image.new("RGB", (width, sum(img.height + 16 for _, img in images)), "white")
    draw, y = ImageDraw.Draw(sheet), 0
    for caption, img in images:
        draw.text((2, y + 2), caption, fill="black")
        sheet.paste(img, (0, y + 16))
        y += img.height + 16
    written["sheet"] = atomic_file(out_dir / "voice_conversion.png", lambda p: sheet.save(p, format="PNG"))
    return written


# --- plots (matplotlib) ----------------------------------------------------------------------------


CURVE_TERMS = {"loss": "loss (-ELBO)", "recon": "recon", "kl_f": "KL_f", "kl_z": "KL_z"}
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
    """Write a matplotlib figure as a PNG, atomically."""
    return atomic_file(path, lambda p: fig.savefig(p, format="png", dpi=100))


def curves_figure(rows: list[dict], log_scale: bool = True):
    """Rows of RUN/log.csv (:func:`dsvae.run.read_log`) -> a Figure with four axes (loss, recon, KL_f,
    KL_z per epoch), a line per split (train, test). With ``log_scale`` the loss and recon axes are
    logarithmic (when all their values are positive)."""
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
    separates the f dimensions from the z dimensions."""
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
    1/K as a dashed line; the latent each factor should follow is named under it."""
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


__all__ = [
    "PICTURES",
    "ClipMaker",
    "Grid",
    "Layout",
    "default_scale",
    "describe",
    "fixed_part",
    "interpolate_f",
    "colormap",
    "heatmap",
    "overlap_average",
    "spectrogram_image",
    "voice_conversion",
    "layout",
    "pick",
    "plot_curves",
    "render",
    "strip",
    "swap_matrix",
    "to_uint8",
    "upscale",
    "visualize_run",
    "write_gif",
    "write_grid",
    "write_png",
    "write_train_pictures",
]
