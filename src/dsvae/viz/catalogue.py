"""The run's catalogue of pictures: which pictures RUN/pictures holds or should hold, their file
names, titles and captions, the order a reader sees them in, and which are missing.

`dsvae train` writes recon and swap (:func:`dsvae.viz.write_run_train_pictures`); `dsvae viz`
writes everything of :data:`PICTURES` and, for a labelled run evaluated by `dsvae eval`, those of
:data:`LATENT_PICTURES`; `dsvae report` asks this module what to show and what to name as missing.
It reads file names only: no picture library, no model, no run folder reader is imported here.
"""

from __future__ import annotations

from pathlib import Path

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

VECTOR_PICTURES = ("curves.png", "recon.png", "swap.png")  # what `dsvae viz` draws for speech runs
LEAD = "swap_matrix.gif"  # the picture a reader sees first: does the model keep f and z apart?
STRIPS_SHOWN = ("swap_matrix.png",)  # the one frame-by-frame PNG shown beside its animation
MEDIA_SUFFIXES = (".png", ".gif", ".wav")  # files of RUN/pictures a reader is shown


def expected_pictures(is_video: bool, has_log: bool) -> list[str]:
    """The file names of :data:`PICTURES` that `dsvae viz` draws for a run of video (``is_video``)
    or vector frames, in their order; the curves only where RUN/log.csv has rows (``has_log``)."""
    names = [name for name in PICTURES if is_video or name in VECTOR_PICTURES]
    return [name for name in names if has_log or name != "curves.png"]


def missing_pictures(folder: str | Path, is_video: bool, has_log: bool) -> list[str]:
    """The pictures of :func:`expected_pictures` that ``folder`` (RUN/pictures) lacks, in order."""
    folder = Path(folder)
    return [name for name in expected_pictures(is_video, has_log) if not (folder / name).exists()]


def caption(name: str) -> tuple[str, str]:
    """(title, how to read it) of a file of RUN/pictures, ``name`` relative to it: those of
    :data:`PICTURES` and :data:`LATENT_PICTURES`, a traversal's (its factor named in the title), or
    for another file (a voice conversion example) its name as the title and no caption."""
    if name in PICTURES:
        return PICTURES[name]
    if name in LATENT_PICTURES:
        return LATENT_PICTURES[name]
    if name.startswith("traverse_"):
        title, how = LATENT_PICTURES["traverse_*.gif"]
        return f"{title}: {Path(name).stem.removeprefix('traverse_')}", how
    return Path(name).stem.replace("_", " "), ""


def lead_picture(folder: str | Path) -> str | None:
    """:data:`LEAD` where ``folder`` holds it, else None."""
    return LEAD if (Path(folder) / LEAD).exists() else None


def latent_pictures(folder: str | Path) -> list[str]:
    """The latent map, the per-factor scores and the traversals that ``folder`` holds, in that order:
    a traversal's animation (video), or its spectrogram rows where it has no animation (vector)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    traversals = sorted(
        p.name
        for p in folder.glob("traverse_*.*")
        if p.suffix == ".gif" or (p.suffix == ".png" and not p.with_suffix(".gif").exists())
    )
    return [n for n in (*LATENT_PICTURES, *traversals) if (folder / n).exists()]


def _others(folder: Path) -> list[str]:
    """Files of ``folder`` (and below) a reader is shown that the catalogue does not name: the voice
    conversion examples of a speech run, a user's own pictures. Paths relative to ``folder``."""
    return [
        p.relative_to(folder).as_posix()
        for p in sorted(folder.rglob("*"))
        if p.suffix in MEDIA_SUFFIXES
        and not p.name.startswith(".")  # a writer's work file
        and p.relative_to(folder).as_posix() not in PICTURES
        and p.name not in LATENT_PICTURES
        and not p.name.startswith("traverse_")
    ]


def model_pictures(folder: str | Path, leave_out: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(shown, strips) of the pictures of what the model learned that ``folder`` holds: shown, those of
    :data:`PICTURES` in order (but ``leave_out``), then the files the catalogue does not name; strips,
    the frame-by-frame PNGs left out because their animation is shown (all but :data:`STRIPS_SHOWN`:
    the PNG strips are several times the animation's size and show the same frames)."""
    folder = Path(folder)
    names = [n for n in PICTURES if n not in leave_out and (folder / n).exists()]
    if folder.is_dir():
        names += _others(folder)

    def strip_with_animation(name: str) -> bool:
        animation = (folder / name).with_suffix(".gif")
        return name.endswith(".png") and name not in STRIPS_SHOWN and animation.exists()

    return [n for n in names if not strip_with_animation(n)], [n for n in names if strip_with_animation(n)]


__all__ = [
    "LATENT_PICTURES",
    "LEAD",
    "PICTURES",
    "STRIPS_SHOWN",
    "VECTOR_PICTURES",
    "caption",
    "expected_pictures",
    "latent_pictures",
    "lead_picture",
    "missing_pictures",
    "model_pictures",
]
