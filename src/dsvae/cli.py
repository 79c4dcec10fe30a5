"""`dsvae ...`: argument parsing only; every command calls the library."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .device import PRECISIONS


def _add_data(sub) -> None:
    p = sub.add_parser(
        "data",
        help="build or import datasets",
        description="Build or import a dataset folder. The sources come from the table of sources "
        "(dsvae.data.sources) and from installed packages (entry points 'dsvae.data'); "
        "dsvae data list shows every one.",
    )
    p.set_defaults(func=lambda a: p.print_help())
    # a user's source imports its package and adds its options only when it is the command chosen
    data_sub = p.add_subparsers(dest="source", parser_class=_SourceParser)
    # each data source registers itself here
    _add_data_sources(data_sub)


class _SourceParser(argparse.ArgumentParser):
    """A parser of ``dsvae data``: ``load(parser)``, when given, runs once, as the command line
    reaches this subcommand (the options of a user's source come from its package, imported then)."""

    def __init__(self, *args, load=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._load = load

    def parse_known_args(self, args=None, namespace=None):
        if self._load is not None:
            load, self._load = self._load, None
            load(self)
        return super().parse_known_args(args, namespace)


def _add_data_sources(data_sub) -> None:
    from .data.sources import user_source_names, user_source_package

    _add_data_video(data_sub)
    _add_data_sprites(data_sub)
    _add_data_import_sprites(data_sub)
    _add_data_fsdd(data_sub)
    _add_data_timit(data_sub)
    _add_data_import_arrays(data_sub)
    # users' sources (entry points; nothing is imported until one is chosen) and the list of all
    for name in user_source_names():
        data_sub.add_parser(
            name,
            help=f"a source of the package {user_source_package(name)} (dsvae data {name} --help)",
            load=_load_data_source,
        ).set_defaults(func=_cmd_data_source, source_name=name)
    _add_data_list(data_sub)
    for name, p in data_sub.choices.items():
        p.set_defaults(func=_interruptible(p.get_default("func"), f"dsvae data {name}"))


def _source_help(name: str) -> str:
    """The one-line help of a built-in ``dsvae data`` command: its source's in the table."""
    from .data.sources import builtin

    return builtin(name).description


def _load_data_source(p) -> None:
    """Add a user's source's options to its parser ``p`` (``--out``, ``--force`` and the builder's
    keyword arguments, as ``--name-with-dashes``); a package that does not import ends the command
    with the reason and the package to fix."""
    from .data import DEFAULT_DATA_ROOT
    from .data.sources import SourceError, builder_options, load_user_source

    name = p.get_default("source_name")
    try:
        source = load_user_source(name)
        options = builder_options(source)
    except SourceError as e:
        p.exit(2, f"dsvae data: error: {e}\n")
    p.description = f"{source.description} ({source.kind}; from {source.origin})"
    p.add_argument(
        "--out",
        default=str(DEFAULT_DATA_ROOT / name),
        metavar="DIR",
        help=f"dataset folder to write (default $DSVAE_DATA/{name}, where --data {name} looks)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    for o in options:
        text = (o.help + " " if o.help else "") + f"(default {o.default})"
        if o.type is bool:
            p.add_argument(
                o.flag,
                dest="opt_" + o.name,
                action=argparse.BooleanOptionalAction,
                default=o.default,
                help=text,
            )
        else:
            p.add_argument(o.flag, dest="opt_" + o.name, type=o.type, default=o.default, help=text)


def _cmd_data_source(args) -> int:
    from .data import DEFAULT_DATA_ROOT, build_source
    from .data.sources import builder_options, find

    name = args.source_name
    options = {o.name: getattr(args, "opt_" + o.name) for o in builder_options(find(name))}
    ds = build_source(name, args.out, force=args.force, **options)
    train, test = len(ds.subset("train")), len(ds.subset("test"))
    labels = ", ".join(f"{k} ({n})" for k, n in ds.num_classes.items()) or "none"
    data = name if os.path.abspath(args.out) == os.path.abspath(DEFAULT_DATA_ROOT / name) else args.out
    print(
        f"{name} built: {train} train and {test} test sequences of {ds.T} frames {ds.frame_shape}; "
        f"labels {labels}; dataset: {args.out} (dsvae train --data {data})"
    )
    return 0


def _add_data_list(data_sub) -> None:
    p = data_sub.add_parser("list", help="every data source: built-in and from installed packages")
    p.set_defaults(func=_cmd_data_list)


def _cmd_data_list(args) -> int:
    from .data.sources import BUILTIN, SourceError, load_user_source, user_source_names

    rows, broken = list(BUILTIN), []
    for name in user_source_names():
        try:
            rows.append(load_user_source(name))
        except SourceError as e:
            broken.append(str(e))
    for s in rows:
        made = {"generated": "generated when opened", "built": "built into $DSVAE_DATA/" + s.name}.get(
            s.made, "a folder: --data DIR"
        )
        judge = s.judge if s.judge is not None else "none"
        print(f"{s.name:18s} {s.kind:6s} {s.description}")
        how = "" if s.made == "generated" else f"; build: {s.build_command()}"
        print(f"{'':18s} {'':6s} {made}{how}; judge: {judge}; from {s.origin}")
    for e in broken:
        print(f"dsvae data list: {e}", file=sys.stderr)
    return 1 if broken else 0


def _interruptible(func, what: str, after=None):
    """``func(args)`` where Ctrl-C (SIGINT) and SIGTERM end the command with one line, not a
    traceback: the signal unwinds it like an error, so an atomic folder being built is removed.
    ``after(args)`` says what is left (default: nothing was written, OUT is as it was)."""

    def run(args) -> int:
        import signal

        received = []

        def on_term(signum, frame):
            received.append(signum)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            return func(args)
        except KeyboardInterrupt:
            signum = received[0] if received else signal.SIGINT
            if after is None:
                out = getattr(args, "out", None)
                left = "nothing was written" + (f"; {out} is as it was" if out else "")
            else:
                left = after(args)
            print(f"{what}: interrupted ({signal.Signals(signum).name}); {left}", file=sys.stderr)
            return 128 + signum
        finally:
            signal.signal(signal.SIGTERM, previous)

    return run


def _add_data_video(data_sub) -> None:
    p = data_sub.add_parser("video", help=_source_help("video"))
    p.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="a video (any container FFmpeg reads: mp4, mov, mkv, webm, avi, mpg, mts, ...) or animated "
        "image (GIF, WebP), a folder of them (symlinked folders followed), or of frame folders",
    )
    p.add_argument(
        "--out", required=True, metavar="DIR", help="dataset folder to write (then: dsvae train --data DIR)"
    )
    p.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    p.add_argument("--T", type=int, default=8, help="frames per sequence (default 8)")
    p.add_argument(
        "--stride",
        type=int,
        default=None,
        metavar="S",
        help="sampled frames between sequence starts (default T: no overlap)",
    )
    p.add_argument(
        "--frame-step", type=int, default=1, metavar="K", help="take every K-th decoded frame (default 1)"
    )
    p.add_argument(
        "--fps",
        type=float,
        default=None,
        metavar="R",
        help="resample every clip to R frames per second (the frame a player shows at each tick); "
        "default: every decoded frame once, with its own timestamp",
    )
    p.add_argument(
        "--fit",
        choices=("crop", "pad"),
        default="crop",
        help="keep the aspect ratio and center-crop (default) or pad with black to a square",
    )
    p.add_argument(
        "--labels",
        default=None,
        metavar="CSV",
        help="labels: a 'file' column (paths relative to --input), then one column per label",
    )
    p.add_argument(
        "--labels-missing",
        choices=("error", "warn"),
        default="error",
        help="a --labels row whose file is not imported (not found, no clip, unreadable): an error "
        "(default), or warn: list it and import the rest",
    )
    p.add_argument(
        "--skip-truncated",
        action="store_true",
        help="skip videos that decode to fewer frames, or a shorter duration, than their container "
        "declares (cut short); "
        "default: use their frames, with a warning",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.1,
        help="share of the source files held out as the test set (default 0.1)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_data_video)


def _cmd_data_video(args) -> int:
    from .data.video import import_videos

    ds = import_videos(
        args.input,
        args.out,
        size=args.size,
        T=args.T,
        stride=args.stride,
        frame_step=args.frame_step,
        fps=args.fps,
        fit=args.fit,
        labels_csv=args.labels,
        test_fraction=args.test_fraction,
        seed=args.seed,
        force=args.force,
        labels_missing=args.labels_missing,
        skip_truncated=args.skip_truncated,
    )
    c = ds.meta["counts"]
    print(
        f"{c['sequences']} sequences ({c['train']} train, {c['test']} test) of {ds.T} frames "
        f"{args.size}x{args.size} from {c['used']} of {c['files']} clips ({c['skipped']} skipped, "
        f"{c['short']} shorter than T, {c['truncated']} cut short; {c['not_clips']} other files not "
        f"read, listed in meta.json); labels: {ds.num_classes or 'none'}; dataset: {args.out}"
    )
    return 0


def _add_data_sprites(data_sub) -> None:
    from .data import DEFAULT_DATA_ROOT

    p = data_sub.add_parser("sprites", help=_source_help("sprites"))
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--sheets",
        default=None,
        metavar="DIR",
        help="folder with body/0-5.png, bottomwear/0-5.png, topwear/0-5.png, hair/0-5.png, shoes/1.png "
        "(a clone of github.com/YingzhenLi/Sprites); without it the repository archive is downloaded",
    )
    where.add_argument(
        "--archive",
        default=None,
        metavar="URL|ZIP",
        help="URL or local zip of the repository archive (default: GitHub's)",
    )
    p.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="download cache (default $DSVAE_CACHE/sprites, else ~/.cache/dsvae/sprites)",
    )
    p.add_argument(
        "--out",
        default=str(DEFAULT_DATA_ROOT / "sprites"),
        metavar="DIR",
        help="dataset folder to write (default $DSVAE_DATA/sprites, where --data sprites looks)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_data_sprites)


def _cmd_data_sprites(args) -> int:
    import time

    from .data.sprites import build_sprites

    start = time.perf_counter()
    ds = build_sprites(args.sheets, args.out, force=args.force, archive=args.archive, cache_dir=args.cache)
    train, test = len(ds.subset("train")), len(ds.subset("test"))
    print(
        f"Sprites built in {time.perf_counter() - start:.0f} s: {train} train and {test} test sequences "
        f"of {ds.T} frames 64x64; the 4 checksums match the benchmark; dataset: {args.out}"
    )
    return 0


def _add_data_import_sprites(data_sub) -> None:
    from .data.sprites import LAYOUTS

    p = data_sub.add_parser("import-sprites", help=_source_help("import-sprites"))
    p.add_argument(
        "--from", dest="from_dir", required=True, metavar="DIR", help="folder holding the .npy files"
    )
    p.add_argument(
        "--layout",
        required=True,
        choices=LAYOUTS,
        help="generator: {walk,spellcard,slash}_{front,left,right}_{frames,attributes}_{train,test}.npy "
        "of YingzhenLi/Sprites; xad: sprites_{X,A,D}_{train,test}.npy of later papers",
    )
    p.add_argument("--out", required=True, help="dataset folder to write (train with dsvae train --data OUT)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_data_import_sprites)


def _cmd_data_import_sprites(args) -> int:
    from .data.sprites import import_sprites

    ds = import_sprites(args.from_dir, args.layout, args.out, force=args.force)
    train, test = len(ds.subset("train")), len(ds.subset("test"))
    match = "is" if ds.meta["matches_benchmark"] else "is not"
    print(
        f"imported {train} train and {test} test sequences; the data {match} the complete benchmark "
        f"(train and test checksums); dataset: {args.out}"
    )
    return 0


def _add_data_import_arrays(data_sub) -> None:
    p = data_sub.add_parser("import-arrays", help=_source_help("import-arrays"))
    p.add_argument("--input", default=None, metavar="FILE", help="an .npz (or .npy) file holding the arrays")
    p.add_argument(
        "--x",
        action="append",
        default=None,
        metavar="[PART=]ARRAY",
        help="the frames: a key of --input or a .npy file; or --x train=KEY --x test=KEY for parts that "
        "make the split (default: the .npy itself, an .npz's x_train*/x_test* pair, or its only array)",
    )
    p.add_argument(
        "--labels",
        action="append",
        default=[],
        metavar="NAME=ARRAY[,ARRAY]",
        help="a label: class ids or names (N,), one-hot (N, K), or per frame (N, T[, K]); one array per "
        "part of --x, in order (repeat for more labels)",
    )
    p.add_argument("--split", default=None, metavar="ARRAY", help="0 (train) / 1 (test) per sequence")
    p.add_argument(
        "--frame-shape",
        default=None,
        metavar="H,W,C",
        help="shape of a flattened frame (default: the square frame with C = 1 or 3 that fits)",
    )
    p.add_argument(
        "--quantize",
        action="store_true",
        help="round floats in [0, 1] that are not 8-bit values (value/255 or value/256) to 8 bits",
    )
    p.add_argument("--test-fraction", type=float, default=0.1, help="without parts or --split (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of that random split")
    p.add_argument("--out", required=True, help="dataset folder to write (train with dsvae train --data OUT)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_data_import_arrays)


def _cmd_data_import_arrays(args) -> int:
    from .data.arrays import import_arrays

    def named(text: str, what: str) -> tuple[str, str]:
        name, sep, value = text.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"{what} takes NAME=VALUE, got {text!r}")
        return name, value

    x = None
    if args.x:
        parts = [named(v, "--x with parts") if "=" in v else (None, v) for v in args.x]
        if len(parts) == 1 and parts[0][0] is None:
            x = parts[0][1]
        elif all(part is not None for part, _ in parts):
            x = dict(parts)
        else:
            raise ValueError("give one --x ARRAY, or --x train=ARRAY --x test=ARRAY")
    labels = {name: value.split(",") for name, value in (named(v, "--labels") for v in args.labels)}
    frame_shape = None
    if args.frame_shape:
        try:
            frame_shape = tuple(int(v) for v in args.frame_shape.split(","))
        except ValueError:
            frame_shape = ()
        if len(frame_shape) != 3:
            raise ValueError(f"--frame-shape takes H,W,C (e.g. 64,64,3), got {args.frame_shape!r}")
    ds = import_arrays(
        args.out,
        input=args.input,
        x=x,
        labels=labels,
        split=args.split,
        frame_shape=frame_shape,
        quantize=args.quantize,
        test_fraction=args.test_fraction,
        seed=args.seed,
        force=args.force,
    )
    n_train = int((ds.split == 0).sum())
    _, _, h, w, c = ds.frames.shape
    print(
        f"imported {len(ds)} sequences ({n_train} train, {len(ds) - n_train} test) of {ds.T} frames "
        f"{h}x{w}x{c}; pixels {', '.join(sorted(set(ds.meta['pixels'].values())))}; labels: "
        f"{ds.num_classes or 'none'}; dataset: {args.out}"
    )
    return 0


def _add_speech_options(p) -> None:
    """Feature and segment options shared by the speech sources (defaults: dsvae.data.speech)."""
    from .data.speech import DEFAULT_SEGMENT_HOP, DEFAULT_T, SpeechFeatures

    d = SpeechFeatures()
    p.add_argument(
        "--sr", type=int, default=d.sr, help=f"resample the audio to this rate (default {d.sr} Hz)"
    )
    p.add_argument("--n-fft", type=int, default=d.n_fft, help=f"FFT window in samples (default {d.n_fft})")
    p.add_argument(
        "--hop", type=int, default=d.hop_length, help=f"frame hop in samples (default {d.hop_length})"
    )
    p.add_argument("--n-mels", type=int, default=d.n_mels, help=f"mel bands per frame (default {d.n_mels})")
    p.add_argument(
        "--fmin", type=float, default=d.fmin, help=f"lowest mel frequency in Hz (default {d.fmin:g})"
    )
    p.add_argument("--fmax", type=float, default=d.fmax, help="highest mel frequency in Hz (default sr/2)")
    p.add_argument("--T", type=int, default=DEFAULT_T, help=f"frames per segment (default {DEFAULT_T})")
    p.add_argument(
        "--segment-hop",
        type=int,
        default=DEFAULT_SEGMENT_HOP,
        help=f"frames between segment starts (default {DEFAULT_SEGMENT_HOP})",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out")


def _speech_features(args):
    from .data.speech import SpeechFeatures

    return SpeechFeatures(
        sr=args.sr, n_fft=args.n_fft, hop_length=args.hop, n_mels=args.n_mels, fmin=args.fmin, fmax=args.fmax
    )


def _print_speech_dataset(ds, out) -> None:
    import numpy as np

    n_train = int((ds.split == 0).sum())
    skipped = ds.meta.get("counts", {}).get("skipped", 0)
    unreadable = f" ({skipped} unreadable, skipped: see meta.json)" if skipped else ""
    kinds = ds.meta.get("file_kinds")
    if kinds:

        def text(k):
            return ", ".join(f"{n} {ext}" for ext, n in k.items()) or "none"

        print(f"files found: {text(kinds['found'])}; used: {text(kinds['used'])}")
    print(
        f"{len(ds)} segments ({n_train} train, {len(ds) - n_train} test) of {ds.T} frames x "
        f"{ds.frame_shape[0]} mel bins from {ds.meta['recordings']} recordings{unreadable}, "
        f"{len(np.unique(ds.info['utterance']))} utterances; labels: {ds.num_classes}; dataset: {out}"
    )


def _add_data_fsdd(data_sub) -> None:
    p = data_sub.add_parser("fsdd", help=_source_help("fsdd"))
    p.add_argument(
        "--root",
        default=None,
        help="FSDD's recordings/ folder (or a clone of the repository); default: download the "
        "repository archive once into the cache ($DSVAE_CACHE or ~/.cache/dsvae)",
    )
    p.add_argument("--out", required=True, help="dataset folder to write (train with dsvae train --data OUT)")
    p.add_argument(
        "--pattern",
        default="*",
        help="only recordings whose file name matches, in any letter case (default *: every file in a "
        "format soundfile reads: .wav, .WAV, .flac, .ogg, ...)",
    )
    _add_speech_options(p)
    p.set_defaults(func=_cmd_data_fsdd)


def _cmd_data_fsdd(args) -> int:
    from .data.speech import build_fsdd

    ds = build_fsdd(
        args.root,
        args.out,
        force=args.force,
        pattern=args.pattern,
        features=_speech_features(args),
        T=args.T,
        segment_hop=args.segment_hop,
    )
    _print_speech_dataset(ds, args.out)
    return 0


def _add_data_timit(data_sub) -> None:
    p = data_sub.add_parser("timit", help=_source_help("timit"))
    p.add_argument(
        "--root",
        required=True,
        help="the folder holding TRAIN/ and TEST/ (DR1..DR8/<speaker>/<utterance>.WAV, any case)",
    )
    p.add_argument("--out", required=True, help="dataset folder to write (train with dsvae train --data OUT)")
    _add_speech_options(p)
    p.set_defaults(func=_cmd_data_timit)


def _cmd_data_timit(args) -> int:
    from .data.speech import build_timit

    ds = build_timit(
        args.root,
        args.out,
        force=args.force,
        features=_speech_features(args),
        T=args.T,
        segment_hop=args.segment_hop,
    )
    _print_speech_dataset(ds, args.out)
    return 0


def _add_overrides(p, help: str) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_parse_override,
        default=[],
        metavar="FIELD=VALUE",
        help=help,
    )


def _parse_setting(flag: str):
    """An argparse type for ``FIELD=VALUE`` (``z_dim=8``, ``q_z=factorized``,
    ``conv_channels=32,64,128``): the field and its value as :meth:`dsvae.config.ConfigBase.parse`
    reads a flag's text (the config checks the kind where it is made)."""
    from .config import ConfigBase

    def parse(text: str) -> tuple[str, object]:
        if "=" not in text:
            raise argparse.ArgumentTypeError(f"{flag} takes FIELD=VALUE, got {text!r}")
        key, value = text.split("=", 1)
        return key, ConfigBase.parse(key, value)

    return parse


_parse_override = _parse_setting("--set")


def _option_type(kind):
    """The argparse type of a config field of ``kind``: int, float, str as themselves, tuples from
    comma-separated text (:meth:`dsvae.config.ConfigBase.parse`)."""
    from .config import ConfigBase

    return kind if kind in (int, float, str) else (lambda text: ConfigBase.parse("", text))


def _add_train(sub) -> None:
    import dataclasses
    import typing

    from .runfolder import TrainConfig

    p = sub.add_parser(
        "train",
        help="train a DSVAE from a recipe and/or options; writes a run folder",
        description="Train a DSVAE into a run folder. --recipe NAME|FILE sets every option (dsvae "
        "recipes lists them); any option given here overrides the recipe's. Without a recipe the "
        "defaults below apply.",
    )
    p.add_argument("--recipe", default=None, help="a shipped recipe (dsvae recipes) or a recipe file (TOML)")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model_overrides":
            _add_overrides(
                p, "override a DSVAEConfig field, e.g. --set z_dim=8 (repeatable; over the recipe's)"
            )
            continue
        if f.name == "method_options":
            p.add_argument(
                "--method-option",
                dest="method_options",
                action="append",
                type=_parse_setting("--method-option"),
                default=[],
                metavar="NAME=VALUE",
                help="an option of the method, e.g. --method-option contrastive_f=10 (repeatable; over "
                "the recipe's [method] table; dsvae methods lists each method's options)",
            )
            continue
        flag = "--" + f.name.replace("_", "-")
        meta = dict(f.metadata)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        valid = meta.pop("valid")
        shown = [f"default {_shown_default(default)}"] if default is not None else []
        shown += [str(valid)] if valid is not None else []
        text = meta.pop("help") + (f" ({'; '.join(shown)})" if shown else "")
        if hints[f.name] in (bool, bool | None):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            p.add_argument(
                flag, dest=f.name, type=_option_type(hints[f.name]), default=None, help=text, **meta
            )
    p.add_argument("--out", default=None, help="run folder (default runs/<recipe or data>-<time>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (only its length and machine may change)",
    )
    p.add_argument(
        "--resume-lr",
        type=float,
        default=None,
        metavar="LR",
        help="with --resume: go on with this learning rate from the checkpoint's step (recorded in "
        "RUN/train.json; the way on after a diverged run)",
    )
    p.add_argument("--force", action="store_true", help="train into a non-empty --out anyway (starts over)")
    p.set_defaults(
        func=_interruptible(
            _cmd_train,
            "dsvae train",
            lambda a: f"the run keeps its last checkpoint; continue with: dsvae train --resume --out {a.out}",
        )
    )


def _shown_default(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def train_config_from_args(args):
    """The TrainConfig and recipe (or None) that ``dsvae train ARGS`` trains: the recipe's options,
    with the options given on the command line over them; on --resume, the run's recorded options
    with the changes a resumed run may take (others refused, :func:`dsvae.runfolder.resumed_config`)."""
    import dataclasses

    from .recipes import load_recipe
    from .runfolder import TrainConfig, resumed_config

    tables = ("model_overrides", "method_options")
    names = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in tables]
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    overrides, method_options = dict(args.overrides), dict(args.method_options)
    recipe = load_recipe(args.recipe) if args.recipe else None
    if recipe is not None:
        # the recipe's [method] options are its method's: another --method starts from that one's
        same = given.get("method", recipe.train.get("method", "dsvae")) == recipe.train.get("method", "dsvae")
        base = recipe.train.get("method_options", {}) if same else {}
        method_options = {**base, **method_options}
    if args.resume:
        # the limits are this command's: a resumed run runs its epochs unless given new ones
        asked = {"max_steps": 0, "max_minutes": 0.0, **given}
        if recipe is not None:
            asked = {**recipe.train, **given, "model_overrides": {**recipe.model, **overrides}}
        elif overrides:
            asked["model_overrides"] = overrides
        if method_options:
            asked["method_options"] = _recorded(args.out, "method_options", method_options)
        if "model_overrides" in asked:
            asked["model_overrides"] = _recorded(args.out, "model_overrides", asked["model_overrides"])
        tc, applied = resumed_config(args.out, asked)
        for line in applied:
            print(f"dsvae train: resuming with {line}", file=sys.stderr)
        return tc, recipe
    if recipe is not None:
        return recipe.train_config({**given, "method_options": method_options}, overrides), recipe
    return TrainConfig(**given, model_overrides=overrides, method_options=method_options), None


def _cmd_train(args) -> int:
    import time
    from pathlib import Path

    from .train import TrainingDiverged, train

    if args.resume and not args.out:
        raise ValueError("--resume needs --out RUN (the run folder to continue)")
    if args.resume and args.data is not None:
        _relocate(args.out, args.data)
    tc, recipe = train_config_from_args(args)
    stem = recipe.name if recipe is not None else f"{Path(tc.data).name or 'data'}-{tc.preset}"
    out = Path(args.out or f"runs/{stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        result = train(
            tc,
            out,
            resume=args.resume,
            force=args.force,
            recipe=recipe.record() if recipe else None,
            resume_lr=args.resume_lr,
        )
    except TrainingDiverged as e:
        print(f"dsvae train: stopped: {e}", file=sys.stderr)
        return 3
    if result.test and result.epochs_done >= result.epochs:
        t = result.test
        print(
            f"done: {result.epochs_done} epochs, {result.steps} steps in {result.wall_s:.0f} s; test loss "
            f"{t['loss']:.2f} (recon {t['recon']:.2f}, kl_f {t['kl_f']:.2f}, kl_z {t['kl_z']:.2f}); "
            f"run: {out}"
        )
    finished = result.epochs_done >= result.epochs
    if tc.pictures and finished and int(os.environ.get("RANK", "0")) == 0:
        from .viz import write_run_train_pictures  # a later stage, on what training wrote

        write_run_train_pictures(out, device=tc.device)
    if not finished:  # --max-steps or --max-minutes ended it, mid-epoch or at an epoch's end
        print(
            f"stopped after {result.steps} steps, {result.epochs_done} of {result.epochs} epochs "
            f"({result.wall_s:.0f} s); resume with --resume --out {out}"
        )
    return 0


def _recorded(run: str, table: str, values: dict) -> dict:
    """A table of a resumed run's options (``model_overrides``, ``method_options``) as it recorded
    it, with ``values`` on top: a --set or --method-option that repeats the recorded value is no
    change, one that differs is (and is refused)."""
    from .run import read_train_options

    return {**read_train_options(run).get(table, {}), **values}


def _add_judge(sub) -> None:
    p = sub.add_parser("judge", help="the judge: a supervised classifier that scores generated videos")
    p.set_defaults(func=lambda a: p.print_help())
    judge_sub = p.add_subparsers(dest="action")
    t = judge_sub.add_parser("train", help="train a judge on a labelled dataset's training split")
    from .data.sources import judge_help

    t.add_argument("--data", required=True, help=judge_help())
    t.add_argument("--out", required=True, help="judge folder to write (e.g. judges/sprites)")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="bf16 autocast or fp32; auto (default) uses bf16 where the hardware has it",
    )
    t.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")
    t.add_argument("--force", action="store_true", help="replace an existing --out")
    t.set_defaults(func=_cmd_judge_train)


def _cmd_judge_train(args) -> int:
    import time

    from .data import open_dataset
    from .evaluate.judge import judge_sha256, train_judge

    start = time.perf_counter()
    acc = train_judge(
        open_dataset(args.data),
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        precision=args.precision,
        device=args.device,
        force=args.force,
    )
    print("test accuracy: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in acc.items()))
    print(f"{time.perf_counter() - start:.0f} s; judge: {args.out} (sha256 {judge_sha256(args.out)})")
    return 0


def _add_run_data(p) -> None:
    p.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help="the run's data in a new place (a folder that moved): checked against the checksums the "
        "run recorded, then recorded in RUN/train.json for later commands",
    )


def _relocate(run: str, data: str | None) -> None:
    """--data of a command on a run: point the run at its data's new place (dsvae.run.relocate_data)."""
    if data is not None:
        from .run import relocate_data

        relocate_data(run, data)


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="score a run: judge protocols, reconstruction, ELBO -> RUN/metrics.*")
    p.add_argument("run", help="run folder written by dsvae train")
    p.add_argument(
        "--judge",
        default="auto",
        help="judge folder (dsvae judge train); auto (default): the judge shipped for the data (Sprites, "
        "the embedded data), else none; none: no judge",
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds of the sampled latents and pairs (default 3)")
    _add_run_data(p)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="of generating and judging videos; auto (default) uses bf16 where the hardware has it",
    )
    p.add_argument("--judge2", default=None, help="a second judge: its audit, and how often the two agree")
    p.add_argument("--static", default="", help="labels f should carry, a,b,... (default: from the data)")
    p.add_argument("--dynamic", default="", help="labels z should carry, a,b,... (default: from the data)")
    p.add_argument(
        "--dci",
        default="gbt,linear",
        help="regressors of the DCI importance matrix: gbt (boosted trees), linear, or both (default)",
    )
    p.add_argument(
        "--dci-train",
        type=int,
        default=1000,
        help="training sequences DCI and probes fit on (1000)",
    )
    p.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help="a user's metric, run after the built-in protocols and stored in metrics.json's user_metrics "
        "(repeatable): a registered name, an installed package's entry point (group dsvae.metrics), "
        "FILE.py:function, FILE.py or module:function (docs/extending.md)",
    )
    p.add_argument(
        "--metrics-only",
        action="store_true",
        help="with --metric: run only those metrics and keep the other scores of the run's metrics.json "
        "(the model must be the one it scored)",
    )
    p.set_defaults(func=_cmd_eval)


def _names(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def _cmd_eval(args) -> int:
    from .evaluate.protocols import add_user_metrics, evaluate_run
    from .run import read_metrics_markdown

    _relocate(args.run, args.data)
    if args.metrics_only:
        if not args.metric:
            raise ValueError("--metrics-only runs the --metric NAME given: name at least one")
        add_user_metrics(args.run, args.metric, batch_size=args.batch_size, device=args.device)
        print(read_metrics_markdown(args.run) or "", end="")
        return 0
    metrics = evaluate_run(
        args.run,
        None if args.judge == "none" else args.judge,
        seeds=args.seeds,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        judge2_dir=args.judge2,
        static=_names(args.static),
        dynamic=_names(args.dynamic),
        regressors=_names(args.dci),
        max_train=args.dci_train,
        user_metrics=args.metric,
    )
    # the table evaluate_run chose for the run's data and wrote beside metrics.json
    print(read_metrics_markdown(metrics["run"]) or "", end="")
    return 0


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="training/encoding/generation throughput: plain fp32 vs the fast path")
    p.add_argument(
        "--preset",
        action="append",
        default=None,
        help="preset(s) to measure (repeatable; default: paper and cpu)",
    )
    _add_overrides(p, "override a DSVAEConfig field of every preset measured, as in dsvae train")
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--steps", type=int, default=5, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="precision of the fast path (the plain path is always fp32)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the fast path")
    p.add_argument("--channels-last", dest="channels_last", action="store_true", default=None)
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument(
        "--compare-steps",
        type=int,
        default=0,
        help="also train N steps on both paths from the same seed and print both losses",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per preset on stdout")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    from .bench import bench_preset, compare_losses, format_table

    rows = []
    for preset in args.preset or ["paper", "cpu"]:
        row = bench_preset(
            preset,
            args.batch_size,
            args.steps,
            args.warmup,
            args.device,
            args.precision,
            args.compile,
            args.channels_last,
            dict(args.overrides),
        )
        if args.compare_steps:
            row.update(
                compare_losses(
                    preset, args.compare_steps, args.batch_size, device=args.device, precision=args.precision
                )
            )
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
    if not args.json:
        print(format_table(rows))
        for r in rows:
            if "plain_final_loss" in r:
                print(
                    f"{r['preset']}: loss after {r['steps']} steps: fp32 {r['plain_final_loss']:.2f}, "
                    f"fast {r['fast_final_loss']:.2f} ({100 * r['relative_difference']:.2f}% apart)"
                )
    return 0


def _add_viz(sub) -> None:
    p = sub.add_parser("viz", help="pictures of a run: swap matrix, samples, reconstructions, curves")
    p.add_argument("run", help="run folder written by dsvae train")
    p.add_argument("--out", default=None, help="folder for the pictures (default RUN/pictures)")
    p.add_argument("--rows", type=int, default=4, help="test sequences giving f (rows of the swap matrix)")
    p.add_argument("--cols", type=int, default=4, help="test sequences giving z (columns of the swap matrix)")
    p.add_argument("--k", type=int, default=6, help="samples per row, and interpolation steps (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the chosen sequences and the prior draws")
    p.add_argument("--linear", action="store_true", help="linear axes for the loss curves (default: log)")
    _add_run_data(p)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")
    p.set_defaults(func=_cmd_viz)


def _cmd_viz(args) -> int:
    from .viz import visualize_run

    _relocate(args.run, args.data)
    paths = visualize_run(
        args.run,
        args.out,
        n_rows=args.rows,
        n_cols=args.cols,
        k=args.k,
        seed=args.seed,
        device=args.device,
        log_scale=not args.linear,
    )
    for path in paths.values():
        print(path)
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", help="scores of several evaluated runs: per run, mean, std, 95%% bootstrap interval"
    )
    p.add_argument("runs", nargs="+", help="run folders scored by dsvae eval (e.g. the seeds of one recipe)")
    p.add_argument("--out", default=None, help="also write OUT/compare.md and OUT/compare.json")
    p.add_argument("--boot", type=int, default=10000, help="bootstrap resamples (default 10000)")
    p.add_argument(
        "--record",
        default=None,
        metavar="FILE",
        help="add the runs' time and scores to a results file (runs of one recipe on one kind of machine), "
        "which dsvae recipes --results FILE lists",
    )
    p.add_argument(
        "--as",
        dest="as_recipe",
        default=None,
        metavar="RECIPE",
        help="with --record: record the runs under this recipe's name; its settings must be the ones "
        "the runs were trained from (the same sha256), e.g. after a recipe was renamed",
    )
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    from pathlib import Path

    from ._io import atomic_write_text
    from .evaluate.compare import compare_runs, compare_table

    if args.as_recipe and not args.record:
        raise ValueError("--as names the recipe to record the runs under: give --record FILE too")
    result = compare_runs(args.runs, n_boot=args.boot)
    if result["differences"]:
        print(
            "dsvae compare: warning: the runs differ in more than their seed: "
            + ", ".join(result["differences"]),
            file=sys.stderr,
        )
    text = compare_table(result)
    if args.record:
        from .evaluate.compare import record_results, results_entry

        as_recipe = None
        if args.as_recipe:
            from .recipes import load_recipe

            shipped = load_recipe(args.as_recipe)
            as_recipe = (shipped.name, shipped.sha256)
        entry = results_entry(result, as_recipe)
        record_results(args.record, entry)
        print(f"recorded {entry['recipe']} on {entry['kind']} ({entry['runs']} runs) in {args.record}")
    if args.out:
        out = Path(args.out)
        atomic_write_text(out / "compare.md", text)
        atomic_write_text(out / "compare.json", json.dumps(result, indent=2) + "\n")
    print(text, end="")
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page about a run -> RUN/report.html")
    p.add_argument("run", help="run folder written by dsvae train")
    _add_run_data(p)
    p.set_defaults(func=_cmd_report)


def _cmd_report(args) -> int:
    from .report import build_report, missing

    _relocate(args.run, args.data)
    page = build_report(args.run)
    for line in missing(args.run):  # the page names them too
        print(f"dsvae report: {line}", file=sys.stderr)
    print(page)
    return 0


def _add_recipes(sub) -> None:
    p = sub.add_parser("recipes", help="the shipped recipes: what each is for, its time and scores measured")
    p.add_argument("name", nargs="?", default=None, help="print this recipe's file (to copy and edit)")
    p.add_argument(
        "--results",
        default=None,
        metavar="FILE",
        help="also list the figures of this results file (written by dsvae compare --record FILE)",
    )
    p.set_defaults(func=_cmd_recipes)


def _cmd_recipes(args) -> int:
    from .evaluate.compare import read_results, results_lines
    from .recipes import RESULTS_FILE, load_recipe, recipe_names

    if args.name:
        print(load_recipe(args.name).text, end="")
        return 0
    results = read_results(RESULTS_FILE)
    if args.results:
        for name, entries in read_results(args.results).items():
            results.setdefault(name, []).extend(entries)
    names = recipe_names()
    w = max(map(len, names)) + 1
    for name in names:
        recipe = load_recipe(name)
        print(f"{name:<{w}} {recipe.about}")
        print(
            f"{'':<{w}} dsvae train --recipe {name} --out runs/{name}"
            + (" --data FOLDER" if not recipe.train.get("data") else "")
        )
        lines = results_lines(results.get(name, []), recipe.sha256)
        for line in lines or ["not measured yet"]:
            print(f"{'':<{w}}   {line}")
    return 0


def _add_methods(sub) -> None:
    p = sub.add_parser(
        "methods",
        help="the methods: built in and installed (entry points dsvae.methods), with options and citations",
    )
    p.add_argument(
        "ref",
        nargs="?",
        default=None,
        help="describe this one (a name, module:Class or path/to/file.py:Class)",
    )
    p.set_defaults(func=_cmd_methods)


def _cmd_methods(args) -> int:
    from .methods import available_methods, describe_method, method_class

    if args.ref:
        print("\n".join(describe_method(method_class(args.ref))))
        return 0
    for name, cls, where in available_methods():
        if cls is None:
            print(f"{name}: {where}\n")
            continue
        lines = describe_method(cls, name)
        print("\n".join([f"{lines[0]}  [{where}]", *lines[1:]]) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsvae", description="Disentangled Sequential Autoencoder: data, training, evaluation."
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"dsvae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data(sub)
    _add_train(sub)
    _add_judge(sub)
    _add_eval(sub)
    _add_bench(sub)
    _add_viz(sub)
    _add_report(sub)
    _add_compare(sub)
    _add_recipes(sub)
    _add_methods(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    from ._io import tolerant_stdout

    tolerant_stdout()  # the ± of the metrics on a stdout that is not UTF-8 (a C locale, Windows)
    # a warning is a line for the user, not a source location
    warnings.formatwarning = lambda message, *_args, **_kw: f"dsvae: warning: {message}\n"
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_temp_dir(args)
        result = args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"dsvae {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        from ._io import DISK_FULL, NOT_WRITABLE

        if e.errno not in DISK_FULL + NOT_WRITABLE:
            raise
        print(f"dsvae {args.command}: error: {_write_error(args, e, argv)}", file=sys.stderr)
        return 2
    return int(result or 0)


def _check_temp_dir(args) -> None:
    """Refuse to start without a temporary folder (:func:`dsvae.device.check_temp_dir`), naming the
    folder the command writes to as the place to point TMPDIR at."""
    from pathlib import Path

    from .device import check_temp_dir

    target = getattr(args, "out", None) or getattr(args, "run", None)
    place = Path(target).resolve().parent if target else None
    while place is not None and not place.is_dir():  # the nearest folder that exists
        place = place.parent
    check_temp_dir(place)


def _write_error(args, e: OSError, argv: list[str] | None) -> str:
    """A full (ENOSPC, EDQUOT) or read-only (EROFS, EACCES, EPERM) disk in one line: what could not
    be written, where, what is intact and the command that continues once it can be written."""
    import os
    import shlex
    from pathlib import Path

    from ._io import DISK_FULL

    file = Path(e.filename) if e.filename else None
    full = e.errno in DISK_FULL
    why = "the disk is full" if full else "the folder is read-only or not writable by you"
    what = f"cannot write {file}" if file else "cannot write"
    where = (file if file.is_dir() else file.parent) if file else Path(getattr(args, "out", None) or ".")
    again = "dsvae " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.command == "train" and getattr(args, "out", None):
        from .checkpoint import describe_last_checkpoint, last_good_checkpoint

        run = args.out
        intact = f"{describe_last_checkpoint(run)}; nothing partial is left (checkpoints are replaced whole)"
        if last_good_checkpoint(run) is not None:
            again = f"dsvae train --resume --out {shlex.quote(str(run))}"
    else:
        out = getattr(args, "out", None)
        intact = "nothing partial is left" + (f"; {out} is as it was" if out else "")
    fix = (
        f"free space on the disk of {where} (or write elsewhere with another --out)"
        if full
        else f"make {where} writable (or write elsewhere with another --out)"
    )
    return f"{what}: {why} ({os.strerror(e.errno)}); {intact}. {fix[0].upper()}{fix[1:]}, then: {again}"


if __name__ == "__main__":
    sys.exit(main())
