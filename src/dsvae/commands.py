"""The options of every command but ``dsvae train`` (whose are :class:`dsvae.options.TrainConfig`'s)
as :class:`~dsvae.config.ConfigBase` dataclasses: each field its help, default, range and choices,
the choices taken from the modules that use them. The command line is generated from these fields
(cli.py: one flag per field, ``--`` and the name with dashes unless ``flag`` says otherwise), and
their kinds and ranges are checked where the options are made.

Field metadata beyond :func:`~dsvae.config.option`'s: ``flag`` (the flag when it is not the name's),
``positional`` (an argument without a flag), ``exclusive`` (fields of one group name exclude each
other), and any argparse setting (``action``, ``nargs``, ``metavar``, ``required``, ``choices``)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ConfigBase, Range, option
from .data import DEFAULT_DATA_ROOT
from .data.sources import judge_help
from .data.speech import DEFAULT_SEGMENT_HOP, DEFAULT_T, SpeechFeatures
from .data.sprites import LAYOUTS
from .data.video import FITS, LABELS_MISSING
from .options import device_option, force_option, out_option, precision_option

SHARE = Range(0, 1, high_open=True)  # a share held out: 0 (none) up to, not including, all
THEN_TRAIN = "dataset folder to write (train with dsvae train --data OUT)"
_SPEECH = SpeechFeatures()


def run_option():
    """The run folder a command reads (a positional argument)."""
    return option(None, "run folder written by dsvae train", positional=True)


def run_data_option():
    """``--data`` of a command on a trained run: its data in a new place."""
    return option(
        None,
        "the run's data in a new place (a folder that moved): checked against the checksums the run "
        "recorded, then recorded in RUN/train.json for later commands",
        metavar="PATH",
    )


class CommandOptions(ConfigBase):
    """The options of one command (``WHAT`` names them in messages)."""

    WHAT = "option"


@dataclass
class TrainCommand(CommandOptions):
    """``dsvae train``'s options beside the TrainConfig fields: where and how the run starts."""

    recipe: str | None = option(None, "a shipped recipe (dsvae recipes) or a recipe file (TOML)")
    out: str | None = out_option("run folder (default runs/<recipe or data>-<time>)", metavar=None)
    resume: bool = option(
        False,
        "continue the run in --out from its last checkpoint (only its length and machine may change)",
        action="store_true",
    )
    resume_lr: float | None = option(
        None,
        "with --resume: go on with this learning rate from the checkpoint's step (recorded in "
        "RUN/train.json; the way on after a diverged run)",
        metavar="LR",
    )
    force: bool = force_option("a non-empty --out anyway (starts over)")


@dataclass
class VideoImport(CommandOptions):
    """``dsvae data video`` (:func:`dsvae.data.video.import_videos`)."""

    input: str = option(
        None,
        "a video (any container FFmpeg reads: mp4, mov, mkv, webm, avi, mpg, mts, ...) or animated "
        "image (GIF, WebP), a folder of them (symlinked folders followed), or of frame folders",
        required=True,
        metavar="PATH",
    )
    out: str = out_option("dataset folder to write (then: dsvae train --data DIR)", required=True)
    size: int = option(64, "frame side in pixels", AT_LEAST_ONE)
    T: int = option(8, "frames per sequence", AT_LEAST_ONE, flag="--T")
    stride: int | None = option(
        None, "sampled frames between sequence starts (default T: no overlap)", metavar="S"
    )
    frame_step: int = option(1, "take every K-th decoded frame", AT_LEAST_ONE, metavar="K")
    fps: float | None = option(
        None,
        "resample every clip to R frames per second (the frame a player shows at each tick); "
        "default: every decoded frame once, with its own timestamp",
        metavar="R",
    )
    fit: str = option(
        "crop", "keep the aspect ratio and center-crop, or pad with black to a square", choices=FITS
    )
    labels: str | None = option(
        None,
        "labels: a 'file' column (paths relative to --input), then one column per label",
        metavar="CSV",
    )
    labels_missing: str = option(
        "error",
        "a --labels row whose file is not imported (not found, no clip, unreadable): an error, or "
        "warn: list it and import the rest",
        choices=LABELS_MISSING,
    )
    skip_truncated: bool = option(
        False,
        "skip videos that decode to fewer frames, or a shorter duration, than their container declares "
        "(cut short); default: use their frames, with a warning",
        action="store_true",
    )
    test_fraction: float = option(0.1, "share of the source files held out as the test set", SHARE)
    seed: int = option(0, "seed of the train/test split", NON_NEGATIVE)
    force: bool = force_option()


@dataclass
class SpritesBuild(CommandOptions):
    """``dsvae data sprites`` (:func:`dsvae.data.sprites.build_sprites`)."""

    sheets: str | None = option(
        None,
        "folder with body/0-5.png, bottomwear/0-5.png, topwear/0-5.png, hair/0-5.png, shoes/1.png "
        "(a clone of github.com/YingzhenLi/Sprites); without it the repository archive is downloaded",
        metavar="DIR",
        exclusive="where",
    )
    archive: str | None = option(
        None,
        "URL or local zip of the repository archive (default: GitHub's)",
        metavar="URL|ZIP",
        exclusive="where",
    )
    cache: str | None = option(
        None, "download cache (default $DSVAE_CACHE/sprites, else ~/.cache/dsvae/sprites)", metavar="DIR"
    )
    out: str = out_option(
        "dataset folder to write ($DSVAE_DATA/sprites is where --data sprites looks)",
        default=str(DEFAULT_DATA_ROOT / "sprites"),
    )
    force: bool = force_option()


@dataclass
class SpritesImport(CommandOptions):
    """``dsvae data import-sprites`` (:func:`dsvae.data.sprites.import_sprites`)."""

    from_dir: str = option(None, "folder holding the .npy files", required=True, metavar="DIR", flag="--from")
    layout: str = option(
        None,
        "generator: {walk,spellcard,slash}_{front,left,right}_{frames,attributes}_{train,test}.npy "
        "of YingzhenLi/Sprites; xad: sprites_{X,A,D}_{train,test}.npy of later papers",
        required=True,
        choices=LAYOUTS,
    )
    out: str = out_option(THEN_TRAIN, required=True, metavar=None)
    force: bool = force_option()


@dataclass
class ArraysImport(CommandOptions):
    """``dsvae data import-arrays`` (:func:`dsvae.data.arrays.import_arrays`)."""

    input: str | None = option(None, "an .npz (or .npy) file holding the arrays", metavar="FILE")
    x: list = option(
        None,
        "the frames: a key of --input or a .npy file; or --x train=KEY --x test=KEY for parts that "
        "make the split (default: the .npy itself, an .npz's x_train*/x_test* pair, or its only array)",
        action="append",
        metavar="[PART=]ARRAY",
    )
    labels: list = option(
        [],
        "a label: class ids or names (N,), one-hot (N, K), or per frame (N, T[, K]); one array per "
        "part of --x, in order (repeat for more labels)",
        action="append",
        metavar="NAME=ARRAY[,ARRAY]",
    )
    split: str | None = option(None, "0 (train) / 1 (test) per sequence", metavar="ARRAY")
    frame_shape: str | None = option(
        None,
        "shape of a flattened frame (default: the square frame with C = 1 or 3 that fits)",
        metavar="H,W,C",
    )
    quantize: bool = option(
        False,
        "round floats in [0, 1] that are not 8-bit values (value/255 or value/256) to 8 bits",
        action="store_true",
    )
    test_fraction: float = option(0.1, "without parts or --split", SHARE)
    seed: int = option(0, "seed of that random split", NON_NEGATIVE)
    out: str = out_option(THEN_TRAIN, required=True, metavar=None)
    force: bool = force_option()


@dataclass
class SpeechOptions(CommandOptions):
    """The feature and segment options of the speech sources (defaults: :mod:`dsvae.data.speech`)."""

    sr: int = option(_SPEECH.sr, "resample the audio to this rate (Hz)", AT_LEAST_ONE)
    n_fft: int = option(_SPEECH.n_fft, "FFT window in samples", AT_LEAST_ONE)
    hop: int = option(_SPEECH.hop_length, "frame hop in samples", AT_LEAST_ONE)
    n_mels: int = option(_SPEECH.n_mels, "mel bands per frame", AT_LEAST_ONE)
    fmin: float = option(_SPEECH.fmin, "lowest mel frequency in Hz", NON_NEGATIVE)
    fmax: float | None = option(_SPEECH.fmax, "highest mel frequency in Hz (default sr/2)")
    T: int = option(DEFAULT_T, "frames per segment", AT_LEAST_ONE, flag="--T")
    segment_hop: int = option(DEFAULT_SEGMENT_HOP, "frames between segment starts", AT_LEAST_ONE)
    force: bool = force_option()

    def features(self) -> SpeechFeatures:
        """The log-mel features these options describe."""
        return SpeechFeatures(
            sr=self.sr,
            n_fft=self.n_fft,
            hop_length=self.hop,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
        )


@dataclass
class FsddBuild(SpeechOptions):
    """``dsvae data fsdd`` (:func:`dsvae.data.speech.build_fsdd`)."""

    root: str | None = option(
        None,
        "FSDD's recordings/ folder (or a clone of the repository); default: download the repository "
        "archive once into the cache ($DSVAE_CACHE or ~/.cache/dsvae)",
    )
    out: str = out_option(THEN_TRAIN, required=True, metavar=None)
    pattern: str = option(
        "*",
        "only recordings whose file name matches, in any letter case (*: every file in a format "
        "soundfile reads: .wav, .WAV, .flac, .ogg, ...)",
    )


@dataclass
class TimitBuild(SpeechOptions):
    """``dsvae data timit`` (:func:`dsvae.data.speech.build_timit`)."""

    root: str = option(
        None,
        "the folder holding TRAIN/ and TEST/ (DR1..DR8/<speaker>/<utterance>.WAV, any case)",
        required=True,
    )
    out: str = out_option(THEN_TRAIN, required=True, metavar=None)


@dataclass
class JudgeTrain(CommandOptions):
    """``dsvae judge train`` (:func:`dsvae.evaluate.judge.train_judge`)."""

    data: str = option(None, judge_help(), required=True)
    out: str = out_option("judge folder to write (e.g. judges/sprites)", required=True, metavar=None)
    epochs: int = option(10, "epochs over the training split", AT_LEAST_ONE)
    batch_size: int = option(64, "sequences per step", AT_LEAST_ONE)
    lr: float = option(1e-3, "Adam learning rate", POSITIVE)
    seed: int = option(0, "seed of the initialisation and the batches", NON_NEGATIVE)
    precision: str = precision_option()
    device: str = device_option()
    force: bool = force_option()


@dataclass
class Eval(CommandOptions):
    """``dsvae eval`` (:func:`dsvae.evaluate.protocols.evaluate_run`, ``add_user_metrics``)."""

    run: str = run_option()
    judge: str = option(
        "auto",
        "judge folder (dsvae judge train); auto: the judge shipped for the data (Sprites, the embedded "
        "data), else none; none: no judge",
    )
    seeds: int = option(3, "seeds of the sampled latents and pairs", AT_LEAST_ONE)
    data: str | None = run_data_option()
    batch_size: int = option(128, "sequences per batch", AT_LEAST_ONE)
    device: str = device_option()
    precision: str = precision_option("of generating and judging videos")
    judge2: str | None = option(None, "a second judge: its audit, and how often the two agree")
    static: str = option("", "labels f should carry, a,b,... (default: from the data)")
    dynamic: str = option("", "labels z should carry, a,b,... (default: from the data)")
    dci: str = option(
        "gbt,linear", "regressors of the DCI importance matrix: gbt (boosted trees), linear, or both"
    )
    dci_train: int = option(1000, "training sequences DCI and probes fit on", AT_LEAST_ONE)
    metric: list = option(
        [],
        "a user's metric, run after the built-in protocols and stored in metrics.json's user_metrics "
        "(repeatable): a registered name, an installed package's entry point (group dsvae.metrics), "
        "FILE.py:function, FILE.py or module:function (docs/extending.md)",
        action="append",
        metavar="NAME",
    )
    metrics_only: bool = option(
        False,
        "with --metric: run only those metrics and keep the other scores of the run's metrics.json "
        "(the model must be the one it scored)",
        action="store_true",
    )


@dataclass
class Bench(CommandOptions):
    """``dsvae bench`` (:func:`dsvae.bench.bench_preset`, ``compare_losses``)."""

    preset: list = option(
        None, "preset(s) to measure (repeatable; default: the recipe's, else paper and cpu)", action="append"
    )
    recipe: str | None = option(
        None,
        "time the step this recipe trains (its method's terms, KL warm-up, clipping, [model] overrides); "
        "default: a DSVAE run's",
        metavar="NAME|FILE",
    )
    overrides: dict = option(
        {}, "override a DSVAEConfig field of every preset measured, as in dsvae train", flag="--set"
    )
    batch_size: int = option(25, "sequences per step", AT_LEAST_ONE)
    steps: int = option(5, "timed steps (the median is reported)", AT_LEAST_ONE)
    warmup: int = option(2, "untimed steps first", NON_NEGATIVE)
    device: str = device_option()
    precision: str = precision_option("of the fast path (the plain path is always fp32)")
    compile: bool = option(False, "torch.compile the fast path", action="store_true")
    channels_last: bool | None = option(None, "channels_last convolutions on the fast path")
    compare_steps: int = option(
        0, "also train N steps on both paths from the same seed and print both losses", NON_NEGATIVE
    )
    json: bool = option(False, "one JSON object per preset on stdout", action="store_true")
    parallel: int = option(
        0,
        "instead, how training uses the CPU's cores: one thread, a thread per core, and N data-parallel "
        "processes (dsvae train --processes N), at --batch-size (give the recipe's)",
        NON_NEGATIVE,
        metavar="N",
    )


@dataclass
class Viz(CommandOptions):
    """``dsvae viz`` (:func:`dsvae.viz.visualize_run`)."""

    run: str = run_option()
    out: str | None = out_option("folder for the pictures (default RUN/pictures)", metavar=None)
    rows: int = option(4, "test sequences giving f (rows of the swap matrix)", AT_LEAST_ONE)
    cols: int = option(4, "test sequences giving z (columns of the swap matrix)", AT_LEAST_ONE)
    k: int = option(6, "samples per row, and interpolation steps", AT_LEAST_ONE)
    seed: int = option(0, "seed of the chosen sequences and the prior draws", NON_NEGATIVE)
    linear: bool = option(False, "linear axes for the loss curves (default: log)", action="store_true")
    data: str | None = run_data_option()
    device: str = device_option()


@dataclass
class Compare(CommandOptions):
    """``dsvae compare`` (:func:`dsvae.evaluate.compare.compare_runs`)."""

    runs: list = option(
        None, "run folders scored by dsvae eval (e.g. the seeds of one recipe)", positional=True, nargs="+"
    )
    out: str | None = out_option("also write OUT/compare.md and OUT/compare.json", metavar=None)
    boot: int = option(10000, "bootstrap resamples", AT_LEAST_ONE)
    record: str | None = option(
        None,
        "add the runs' time and scores to a results file (runs of one recipe on one kind of machine; "
        "they replace the entry of that recipe, kind and CPU or GPU), which dsvae recipes --results "
        "FILE lists",
        metavar="FILE",
    )
    as_recipe: str | None = option(
        None,
        "with --record: record the runs under this recipe's name; its settings must be the ones the "
        "runs were trained from (the same sha256), e.g. after a recipe was renamed",
        metavar="RECIPE",
        flag="--as",
    )


@dataclass
class Report(CommandOptions):
    """``dsvae report`` (:func:`dsvae.report.build_report`)."""

    run: str = run_option()
    data: str | None = run_data_option()


@dataclass
class Recipes(CommandOptions):
    """``dsvae recipes``."""

    name: str | None = option(None, "print this recipe's file (to copy and edit)", positional=True, nargs="?")
    results: str | None = option(
        None,
        "also list the figures of this results file (written by dsvae compare --record FILE)",
        metavar="FILE",
    )


@dataclass
class Methods(CommandOptions):
    """``dsvae methods``."""

    ref: str | None = option(
        None,
        "describe this one (a name, module:Class or path/to/file.py:Class)",
        positional=True,
        nargs="?",
    )
