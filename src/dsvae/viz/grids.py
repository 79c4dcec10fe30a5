"""The pixel-grid layout engine: clips of frames in labelled rows and columns, drawn as one image.

A clip is one sequence as uint8 pixels ``(T, h, w, 3)``. A :class:`Grid` holds clips (all of one
shape) in rows and columns with a title and labels; :func:`render` draws frame t of every cell (one
frame of an animation) or every cell's T frames side by side (a strip), and :func:`write_grid` writes
both, as an animated GIF and a PNG. Frames are enlarged by an integer factor with nearest-neighbour
sampling (:func:`upscale`), so that pixel art stays sharp; vector (speech) frames become heatmaps
(:func:`heatmap`). Nothing here knows of a model or a dataset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .._io import atomic_file

TARGET_SIZE = 128  # pixels: frames are enlarged by an integer factor to about this width
FRAME_MS = 150  # milliseconds per GIF frame
MARGIN = 4  # pixels between cells, labels and the image's edge
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
RULE = (160, 160, 160)
# matplotlib's colour map of every heatmap: spectrograms, vector sequences, the latent map
COLORMAP = "viridis"


# --- frames -> pixels -------------------------------------------------------------------------------


def to_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """Video frames ``(T, C, H, W)`` floats in [0, 1] -> uint8 ``(T, H, W, 3)`` (grey becomes RGB;
    NaN becomes 0, values outside [0, 1] are clipped). Raises ValueError for another shape."""
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
    ``scale`` x ``scale`` (or ``(rows, columns)``) identical pixels. Raises ValueError for a scale
    below 1."""
    sy, sx = (scale, scale) if isinstance(scale, int) else scale
    if sy < 1 or sx < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    return images.repeat(sy, axis=-3).repeat(sx, axis=-2)


def strip(clip: np.ndarray) -> np.ndarray:
    """A clip ``(T, h, w, 3)`` as one image ``(h, T * w, 3)``: its frames side by side."""
    return np.concatenate(list(clip), axis=1)


@functools.cache
def _colormap_table() -> np.ndarray:
    """:data:`COLORMAP` as 256 uint8 RGB rows (matplotlib imported here, on first use: a video run's
    grids need no matplotlib)."""
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


# --- grids of labelled clips -----------------------------------------------------------------------


@dataclass
class Grid:
    """Clips ``(T, h, w, 3)`` uint8 (all the same shape; None leaves a cell empty) in rows and
    columns, with a title and labels. A rule (a grey line) separates the rows and columns listed
    in ``rules_after_rows`` / ``rules_after_cols`` from the next (sources from results). Raises
    ValueError for clips of several shapes, ragged rows or label counts that do not match."""

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
    """Where :func:`render` puts things: the image size and each cell's top-left corner (pixels)."""

    size: tuple[int, int]  # (width, height)
    cells: list[list[tuple[int, int]]]  # (x, y) per row and column
    cell_size: tuple[int, int]  # (width, height) of one cell: a frame, or a strip of T frames
    label_width: int  # the row labels' column, left of the first cell


@functools.cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


_MEASURE = ImageDraw.Draw(Image.new("RGB", (1, 1)))


def _text_size(text: str) -> tuple[int, int]:
    """(width, height) in pixels of ``text`` (several lines allowed) in :func:`_font`."""
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


def _starts(first: int, sizes: list[int], rules: tuple[int, ...]) -> list[int]:
    """The start of each of ``sizes`` laid one after the other from ``first``, a margin between
    them and three margins after those listed in ``rules`` (room for the rule's line)."""
    out, pos = [], first
    for i, size in enumerate(sizes):
        out.append(pos)
        pos += size + (3 * MARGIN if i in rules else MARGIN)
    return out


def layout(grid: Grid, strips: bool) -> tuple[Layout, list[str]]:
    """The layout of ``render(grid, ...)`` (frames, or strips when ``strips``) and the column labels
    wrapped to their columns' widths (a column is as wide as its cell or its widest word)."""
    T, h, w, _ = grid.clip_shape
    cw, ch = (T * w if strips else w), h
    n_rows, n_cols = len(grid.clips), len(grid.clips[0])
    col_labels = grid.col_labels or [""] * n_cols
    widths = [max(cw, _widest_word(label)) for label in col_labels]
    wrapped = [_wrap(label, width) for label, width in zip(col_labels, widths)]
    title_h = _text_size(grid.title + " t")[1] + 2 * MARGIN
    head_h = max(_text_size(label)[1] for label in wrapped) + MARGIN if grid.col_labels else 0
    label_w = max(_text_size(label)[0] for label in grid.row_labels) + 2 * MARGIN if grid.row_labels else 0
    xs = _starts(label_w + MARGIN, widths, grid.rules_after_cols)
    ys = _starts(title_h + head_h + MARGIN, [ch] * n_rows, grid.rules_after_rows)
    title_w = _text_size(grid.title + "   t = 00/00")[0] + 2 * MARGIN
    size = (max(xs[-1] + widths[-1] + MARGIN, title_w), ys[-1] + ch + MARGIN)
    cells = [[(x + (width - cw) // 2, y) for x, width in zip(xs, widths)] for y in ys]
    return Layout(size, cells, (cw, ch), label_w), wrapped


def _draw_rules(draw: ImageDraw.ImageDraw, grid: Grid, lay: Layout) -> None:
    """The grey lines between the rows and columns the grid names, midway across the gap."""
    cw, ch = lay.cell_size
    right, bottom = lay.size[0] - MARGIN, lay.cells[-1][0][1] + ch
    first_x, first_y = lay.cells[0][0]
    for i in grid.rules_after_rows:
        y = (lay.cells[i][0][1] + ch + lay.cells[i + 1][0][1]) // 2
        draw.line([(first_x, y), (right, y)], fill=RULE, width=1)
    for j in grid.rules_after_cols:
        x = (lay.cells[0][j][0] + cw + lay.cells[0][j + 1][0]) // 2
        draw.line([(x, first_y), (x, bottom)], fill=RULE, width=1)


def render(grid: Grid, t: int | None = None) -> Image.Image:
    """An RGB image of frame ``t`` of every cell (one frame of the animation; the title says which),
    or with ``t=None`` of every cell's frames side by side (:func:`layout` gives the places)."""
    lay, col_labels = layout(grid, strips=t is None)
    img = Image.new("RGB", lay.size, BACKGROUND)
    draw = ImageDraw.Draw(img)
    font = _font()
    title = grid.title if t is None else f"{grid.title}   t = {t + 1}/{grid.T}"
    draw.text((MARGIN, MARGIN), title, fill=INK, font=font)
    cw, ch = lay.cell_size
    first_y = lay.cells[0][0][1]
    _draw_rules(draw, grid, lay)
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
    """``image`` as a PNG at ``path``, atomically."""
    return atomic_file(path, lambda p: image.save(p, format="PNG"))


def write_gif(frames: list[Image.Image], path: str | Path, frame_ms: int = FRAME_MS) -> Path:
    """An animated GIF that loops forever, ``frame_ms`` milliseconds per frame, atomically."""
    return atomic_file(
        path,
        lambda p: frames[0].save(
            p, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
        ),
    )


def write_grid(grid: Grid, out_dir: Path, name: str, png_grid: Grid | None = None) -> dict[str, Path]:
    """``name.gif`` (the grid, animated: frame t of every cell) and ``name.png`` (``png_grid``, by
    default the same grid, every cell's frames side by side) in ``out_dir``; returns file name ->
    path. Still clips (T = 1: spectrograms) give only the PNG, of the grid itself: with one frame
    per cell it needs no other layout."""
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
