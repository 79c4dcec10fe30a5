"""Moving balls: a data source for dsvae in one file (docs/extending.md).

Each sequence shows one ball drifting across a dark box that wraps around at its edges (a torus, so
the ball never turns: its direction holds for the whole sequence, as a label must). What stays the
same within a sequence, the static factors f should carry: the ball's ``colour`` (4) and ``size``
(3). What happens, the dynamic factor z should carry: its ``direction`` of motion (8 compass
directions). The labels are declared static or dynamic in the dataset's meta.json, so ``dsvae eval``
scores each against the latent it belongs in.

Register it in your package's pyproject.toml, install the package, then build and train::

    [project.entry-points."dsvae.data"]
    moving-balls = "moving_balls:SOURCE"

    pip install -e .
    dsvae data moving-balls --n 2000 --size 32        # -> $DSVAE_DATA/moving-balls (default data/)
    dsvae train --data moving-balls --preset cpu
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np

from dsvae.data import SequenceDataset
from dsvae.data.sources import Source

COLOURS = {"red": (230, 60, 50), "green": (60, 200, 80), "blue": (60, 110, 240), "yellow": (240, 210, 60)}
RADII = {"small": 0.12, "medium": 0.18, "large": 0.25}  # of the frame side
DIRECTIONS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")  # counter-clockwise from east, 45 degrees apart


def build(
    out: Path,
    *,
    n: Annotated[int, "sequences"] = 2000,
    T: Annotated[int, "frames per sequence"] = 8,
    size: Annotated[int, "frame side in pixels (a multiple of 16 fits every preset)"] = 32,
    speed: Annotated[float, "distance per frame, as a fraction of the side"] = 0.08,
    test_fraction: Annotated[float, "share of the sequences in the test split"] = 0.1,
    seed: Annotated[int, "the draw: same seed, same bits"] = 0,
) -> None:
    """Draw ``n`` sequences of ``T`` RGB frames ``size`` x ``size`` and write them as a dsvae dataset
    folder at ``out`` (uint8 frames (n, T, size, size, 3); labels colour, size, direction).

    Raises ValueError for a non-positive ``n``, ``T`` or ``size`` or a ``test_fraction`` outside
    [0, 1); dsvae.data.DatasetError if the arrays are not a dataset (they are)."""
    if n < 1 or T < 1 or size < 1 or not 0 <= test_fraction < 1:
        raise ValueError(
            f"need n, T, size >= 1 and 0 <= test_fraction < 1, got {n}, {T}, {size}, {test_fraction}"
        )
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, len(COLOURS), n)
    radius_class = rng.integers(0, len(RADII), n)
    direction = rng.integers(0, len(DIRECTIONS), n)
    start = rng.uniform(0.0, 1.0, (n, 2))  # (x, y) of the centre, fractions of the side

    angle = direction * (np.pi / 4)
    velocity = speed * np.stack([np.cos(angle), -np.sin(angle)], axis=1)  # image y grows downwards
    radius = np.array(list(RADII.values()))[radius_class] * size  # pixels
    rgb = np.array(list(COLOURS.values()), dtype=np.float32)[colour]  # (n, 3)

    centres = (np.arange(size) + 0.5) / size  # pixel centres, fractions of the side
    frames = np.empty((n, T, size, size, 3), dtype=np.uint8)
    for t in range(T):
        pos = (start + t * velocity) % 1.0
        # distance on the torus, per axis, in pixels: the ball shows on both sides when it crosses an edge
        dx = np.abs(centres[None, :] - pos[:, :1])
        dy = np.abs(centres[None, :] - pos[:, 1:])
        dx, dy = np.minimum(dx, 1 - dx) * size, np.minimum(dy, 1 - dy) * size
        dist = np.sqrt(dy[:, :, None] ** 2 + dx[:, None, :] ** 2)  # (n, size, size)
        # one pixel of soft edge, so a small ball does not flicker between pixel grids as it moves
        cover = np.clip(radius[:, None, None] - dist + 0.5, 0.0, 1.0)
        frames[:, t] = np.round(cover[..., None] * rgb[:, None, None, :]).astype(np.uint8)

    SequenceDataset.from_arrays(
        frames,
        labels={"colour": colour, "size": radius_class, "direction": direction},
        label_values={"colour": list(COLOURS), "size": list(RADII), "direction": list(DIRECTIONS)},
        meta={
            "name": "moving-balls",
            "source": "examples/moving_balls.py (procedural)",
            "static_labels": ["colour", "size"],  # f's: constant within a sequence
            "dynamic_labels": ["direction"],  # z's: what happens in it
        },
        test_fraction=test_fraction,
        seed=seed,
    ).save(out)


SOURCE = Source(
    "moving-balls",
    "video",
    "a ball (4 colours, 3 sizes) drifting in one of 8 directions across a wrapping box",
    builder=build,
    judge=None,  # no judge of its own: dsvae judge train --data moving-balls --out DIR trains one
)
