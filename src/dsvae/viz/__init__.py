"""Pictures of what a DSVAE learned: swaps, samples, reconstructions and training curves.

A picture is a :class:`Grid` of clips (one sequence each) with labels saying which test sequence
gave f and which gave z. It is written twice: an animated GIF, where every cell plays its sequence
(frame t of all cells at once), and a PNG, where every cell shows its T frames side by side.
Frames are enlarged by an integer factor with nearest-neighbour sampling, so pixel art stays sharp.
Vector (speech) frames are drawn as spectrogram heatmaps, one still image per sequence.

    write_run_train_pictures(RUN)   # `dsvae train` after training: reconstructions and swaps
    visualize_run(RUN)              # `dsvae viz RUN`: everything, test split, metrics.json's latent map

The package by job (each imports only those before it, and the catalogue none of them):

- :mod:`~dsvae.viz.grids`: the pixel-grid layout engine (clips, grids, GIF and PNG);
- :mod:`~dsvae.viz.sequences`: naming and picking sequences, a model's batches as clips;
- :mod:`~dsvae.viz.plots`: matplotlib plots (curves, latent map, per-factor scores);
- :mod:`~dsvae.viz.model_pictures`: the pictures drawn from a model's decoder;
- :mod:`~dsvae.viz.speech`: spectrograms and voice conversion (WAV files);
- :mod:`~dsvae.viz.run_pictures`: a run folder's pictures (what `dsvae train` and `dsvae viz` draw);
- :mod:`~dsvae.viz.catalogue`: which pictures a run has, their names, captions and order, which are
  missing (what `dsvae report` asks).
"""

from .catalogue import LATENT_PICTURES, PICTURES
from .grids import (
    FRAME_MS,
    Grid,
    Layout,
    colormap,
    default_scale,
    heatmap,
    layout,
    render,
    stacked,
    strip,
    to_uint8,
    upscale,
    write_gif,
    write_grid,
    write_png,
)
from .model_pictures import fixed_part, interpolate_f, swap_matrix, traversals, write_train_pictures
from .plots import (
    CURVE_TERMS,
    curves_figure,
    factor_scores_figure,
    latent_map_figure,
    plot_curves,
    save_figure,
)
from .run_pictures import latent_pictures, run_latents, visualize_run, write_run_train_pictures
from .sequences import DYNAMIC_KEYS, STATIC_KEYS, ClipMaker, describe, pick
from .speech import overlap_average, spectrogram_image, voice_conversion

__all__ = [
    "CURVE_TERMS",
    "DYNAMIC_KEYS",
    "FRAME_MS",
    "LATENT_PICTURES",
    "PICTURES",
    "STATIC_KEYS",
    "ClipMaker",
    "Grid",
    "Layout",
    "colormap",
    "curves_figure",
    "default_scale",
    "describe",
    "factor_scores_figure",
    "fixed_part",
    "heatmap",
    "interpolate_f",
    "latent_map_figure",
    "latent_pictures",
    "layout",
    "overlap_average",
    "pick",
    "plot_curves",
    "render",
    "run_latents",
    "save_figure",
    "spectrogram_image",
    "stacked",
    "strip",
    "swap_matrix",
    "to_uint8",
    "traversals",
    "upscale",
    "visualize_run",
    "voice_conversion",
    "write_gif",
    "write_grid",
    "write_png",
    "write_run_train_pictures",
    "write_train_pictures",
]
