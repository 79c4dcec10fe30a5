"""`dsvae ...`: argument parsing only; every command calls the library.

Every command's options are generated from an options dataclass (:mod:`dsvae.commands`, and
:class:`dsvae.options.TrainConfig` for ``dsvae train``): one argparse argument per field, with the
field's help, default, range and choices (:func:`_add_fields`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import types
import typing

# --- options from dataclasses -------------------------------------------------------------------------


def _add_fields(p, cls, given_only: bool = False) -> None:
    """One argument of ``p`` per field of the options dataclass ``cls`` (a ConfigBase: help, range,
    choices and argparse settings in the field's metadata; :mod:`dsvae.commands`). Tables (dict
    fields) take ``NAME=VALUE`` repeatedly; switches (bool) take ``--name`` / ``--no-name`` unless
    the field says ``action="store_true"``. ``given_only``: every default None, so that what was not
    given can be told from what was (over a recipe)."""
    kinds, defaults, groups = cls.kinds(), cls.defaults(), {}
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        text, valid = meta.pop("help"), meta.pop("valid", None)
        flag = meta.pop("flag", "--" + f.name.replace("_", "-"))
        positional, group = meta.pop("positional", False), meta.pop("exclusive", None)
        if group is not None and group not in groups:
            groups[group] = p.add_mutually_exclusive_group()
        where = p if group is None else groups[group]
        kind, default = kinds[f.name], defaults.get(f.name)
        text += _shown(default, valid, meta)
        if positional:
            where.add_argument(
                f.name, help=text, **({"default": default} if meta.get("nargs") == "?" else {}), **meta
            )
        elif kind is dict or typing.get_origin(kind) is dict:
            meta.setdefault("metavar", "FIELD=VALUE" if flag == "--set" else "NAME=VALUE")
            where.add_argument(
                flag, dest=f.name, action="append", type=_parse_setting(flag), default=[], help=text, **meta
            )
        elif "action" in meta:
            where.add_argument(flag, dest=f.name, default=default, help=text, **meta)
        elif _plain(kind) is bool:
            action = argparse.BooleanOptionalAction
            where.add_argument(
                flag, dest=f.name, action=action, default=None if given_only else default, help=text
            )
        else:
            where.add_argument(
                flag,
                dest=f.name,
                type=_option_type(kind),
                default=None if given_only else default,
                help=text,
                **meta,
            )


def _shown(default, valid, meta: dict) -> str:
    """What a field's help adds: its default (where it has one worth saying) and its range."""
    if meta.get("action") == "store_true" or meta.get("required") or default in (None, "", [], {}):
        shown = []
    elif isinstance(default, bool):
        shown = [f"default {'on' if default else 'off'}"]
    elif isinstance(default, (tuple, list)):
        shown = [f"default {','.join(str(v) for v in default)}"]
    else:
        shown = [f"default {default}"]
    shown += [str(valid)] if valid is not None else []
    return f" ({'; '.join(shown)})" if shown else ""


def _plain(kind):
    """``kind`` without its ``| None``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(kind) if a is not type(None))
    return kind


def _option_type(kind):
    """The argparse type of a config field of ``kind``: int, float, str as themselves (also where
    the field may be unset), lists as text (each item of a repeated option), tuples from
    comma-separated text (:meth:`dsvae.config.ConfigBase.parse`)."""
    from .config import ConfigBase

    kind = _plain(kind)
    if kind in (int, float, str):
        return kind
    if kind is list or typing.get_origin(kind) is list:
        return str
    return lambda text: ConfigBase.parse("", text)


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


def _options(cls, args):
    """The options dataclass ``cls`` of the parsed ``args`` (its kinds and ranges checked there:
    ValueError naming the option)."""
    kinds = cls.kinds()
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)}
    return cls(**{k: dict(v) if kinds[k] is dict else v for k, v in values.items()})


def _command(sub, name: str, cls, func, **parser_kw):
    """The subcommand ``name`` with the options of ``cls``, calling ``func(options)``."""
    p = sub.add_parser(name, **parser_kw)
    _add_fields(p, cls)
    p.set_defaults(func=lambda args: func(_options(cls, args)), options=cls)
    return p


# --- dsvae data -------------------------------------------------------------------------------------------


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
    from .commands import ArraysImport, FsddBuild, SpritesBuild, SpritesImport, TimitBuild, VideoImport
    from .data.sources import user_source_names, user_source_package

    for name, cls, func in (
        ("video", VideoImport, _cmd_data_video),
        ("sprites", SpritesBuild, _cmd_data_sprites),
        ("import-sprites", SpritesImport, _cmd_data_import_sprites),
        ("fsdd", FsddBuild, _cmd_data_fsdd),
        ("timit", TimitBuild, _cmd_data_timit),
        ("import-arrays", ArraysImport, _cmd_data_import_arrays),
    ):
        _command(data_sub, name, cls, func, help=_source_help(name))
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
    from .commands import CommandOptions
    from .data import DEFAULT_DATA_ROOT
    from .data.sources import SourceError, builder_options, load_user_source
    from .options import force_option, out_option

    name = p.get_default("source_name")
    try:
        source = load_user_source(name)
        options = builder_options(source)
    except SourceError as e:
        p.exit(2, f"dsvae data: error: {e}\n")
    p.description = f"{source.description} ({source.kind}; from {source.origin})"
    where = out_option(
        f"dataset folder to write ($DSVAE_DATA/{name} is where --data {name} looks)",
        default=str(DEFAULT_DATA_ROOT / name),
    )
    fields = [("out", str, where), ("force", bool, force_option())]
    _add_fields(p, dataclasses.make_dataclass("SourceBuild", fields, bases=(CommandOptions,)))
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


def _cmd_data_video(o) -> int:
    from .data.video import import_videos

    ds = import_videos(
        o.input,
        o.out,
        size=o.size,
        T=o.T,
        stride=o.stride,
        frame_step=o.frame_step,
        fps=o.fps,
        fit=o.fit,
        labels_csv=o.labels,
        test_fraction=o.test_fraction,
        seed=o.seed,
        force=o.force,
        labels_missing=o.labels_missing,
        skip_truncated=o.skip_truncated,
    )
    c = ds.meta["counts"]
    print(
        f"{c['sequences']} sequences ({c['train']} train, {c['test']} test) of {ds.T} frames "
        f"{o.size}x{o.size} from {c['used']} of {c['files']} clips ({c['skipped']} skipped, "
        f"{c['short']} shorter than T, {c['truncated']} cut short; {c['not_clips']} other files not "
        f"read, listed in meta.json); labels: {ds.num_classes or 'none'}; dataset: {o.out}"
    )
    return 0


def _cmd_data_sprites(o) -> int:
    import time

    from .data.sprites import build_sprites

    start = time.perf_counter()
    ds = build_sprites(o.sheets, o.out, force=o.force, archive=o.archive, cache_dir=o.cache)
    train, test = len(ds.subset("train")), len(ds.subset("test"))
    print(
        f"Sprites built in {time.perf_counter() - start:.0f} s: {train} train and {test} test sequences "
        f"of {ds.T} frames 64x64; the 4 checksums match the benchmark; dataset: {o.out}"
    )
    return 0


def _cmd_data_import_sprites(o) -> int:
    from .data.sprites import import_sprites

    ds = import_sprites(o.from_dir, o.layout, o.out, force=o.force)
    train, test = len(ds.subset("train")), len(ds.subset("test"))
    match = "is" if ds.meta["matches_benchmark"] else "is not"
    print(
        f"imported {train} train and {test} test sequences; the data {match} the complete benchmark "
        f"(train and test checksums); dataset: {o.out}"
    )
    return 0


def _cmd_data_import_arrays(o) -> int:
    from .data.arrays import import_arrays

    def named(text: str, what: str) -> tuple[str, str]:
        name, sep, value = text.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"{what} takes NAME=VALUE, got {text!r}")
        return name, value

    x = None
    if o.x:
        parts = [named(v, "--x with parts") if "=" in v else (None, v) for v in o.x]
        if len(parts) == 1 and parts[0][0] is None:
            x = parts[0][1]
        elif all(part is not None for part, _ in parts):
            x = dict(parts)
        else:
            raise ValueError("give one --x ARRAY, or --x train=ARRAY --x test=ARRAY")
    labels = {name: value.split(",") for name, value in (named(v, "--labels") for v in o.labels)}
    frame_shape = None
    if o.frame_shape:
        try:
            frame_shape = tuple(int(v) for v in o.frame_shape.split(","))
        except ValueError:
            frame_shape = ()
        if len(frame_shape) != 3:
            raise ValueError(f"--frame-shape takes H,W,C (e.g. 64,64,3), got {o.frame_shape!r}")
    ds = import_arrays(
        o.out,
        input=o.input,
        x=x,
        labels=labels,
        split=o.split,
        frame_shape=frame_shape,
        quantize=o.quantize,
        test_fraction=o.test_fraction,
        seed=o.seed,
        force=o.force,
    )
    n_train = int((ds.split == 0).sum())
    _, _, h, w, c = ds.frames.shape
    print(
        f"imported {len(ds)} sequences ({n_train} train, {len(ds) - n_train} test) of {ds.T} frames "
        f"{h}x{w}x{c}; pixels {', '.join(sorted(set(ds.meta['pixels'].values())))}; labels: "
        f"{ds.num_classes or 'none'}; dataset: {o.out}"
    )
    return 0


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


def _cmd_data_fsdd(o) -> int:
    from .data.speech import build_fsdd

    ds = build_fsdd(
        o.root,
        o.out,
        force=o.force,
        pattern=o.pattern,
        features=o.features(),
        T=o.T,
        segment_hop=o.segment_hop,
    )
    _print_speech_dataset(ds, o.out)
    return 0


def _cmd_data_timit(o) -> int:
    from .data.speech import build_timit

    ds = build_timit(
        o.root,
        o.out,
        force=o.force,
        features=o.features(),
        T=o.T,
        segment_hop=o.segment_hop,
    )
    _print_speech_dataset(ds, o.out)
    return 0


# --- dsvae train ----------------------------------------------------------------------------------------


def _add_train(sub) -> None:
    from .commands import TrainCommand
    from .options import TrainConfig

    p = sub.add_parser(
        "train",
        help="train a DSVAE from a recipe and/or options; writes a run folder",
        description="Train a DSVAE into a run folder. --recipe NAME|FILE sets every option (dsvae "
        "recipes lists them); any option given here overrides the recipe's. Without a recipe the "
        "defaults below apply.",
    )
    _add_fields(p, TrainConfig, given_only=True)  # (None: not given, the recipe's or the run's applies)
    _add_fields(p, TrainCommand)
    p.set_defaults(
        func=_interruptible(
            _cmd_train,
            "dsvae train",
            lambda a: f"the run keeps its last checkpoint; continue with: dsvae train --resume --out {a.out}",
        )
    )


def _train_request(args):
    """What ``dsvae train ARGS`` asks for (:class:`dsvae.run.TrainRequest`): the options given (those
    left out are None), the --set and --method-option tables and the recipe."""
    from .options import TrainConfig
    from .run import TrainRequest

    tables = ("model_overrides", "method_options")
    names = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in tables]
    return TrainRequest(
        given={k: getattr(args, k) for k in names if getattr(args, k) is not None},
        overrides=dict(args.model_overrides),
        method_options=dict(args.method_options),
        recipe=args.recipe,
    )


def train_config_from_args(args):
    """The TrainConfig and recipe (or None) that ``dsvae train ARGS`` trains as a new run
    (:meth:`dsvae.run.TrainRequest.new_config`)."""
    return _train_request(args).new_config()


def _cmd_train(args) -> int:
    from .elbo import format_parts
    from .run import new_run_dir
    from .train import TrainingDiverged, train

    if args.resume and not args.out:
        raise ValueError("--resume needs --out RUN (the run folder to continue)")
    # a new run's options are resolved here, to name its folder; a resumed run's where its record is read
    request, recipe = _train_request(args), None
    if not args.resume:
        request, recipe = request.new_config()
    out = args.out or new_run_dir(request, recipe)
    try:
        result = train(
            request,
            out,
            resume=args.resume,
            force=args.force,
            recipe=recipe.record() if recipe is not None else None,
            resume_lr=args.resume_lr,
        )
    except TrainingDiverged as e:
        print(f"dsvae train: stopped: {e}", file=sys.stderr)
        return 3
    if result.test and result.epochs_done >= result.epochs:
        t = result.test
        print(
            f"done: {result.epochs_done} epochs, {result.steps} steps in {result.wall_s:.0f} s; test loss "
            f"{t['loss']:.2f} ({format_parts(t)}); "
            f"run: {out}"
        )
    finished = result.epochs_done >= result.epochs
    if result.options.pictures and finished and int(os.environ.get("RANK", "0")) == 0:
        from .viz import write_run_train_pictures  # a later stage, on what training wrote

        write_run_train_pictures(out, device=result.options.device)
    if not finished:  # --max-steps or --max-minutes ended it, mid-epoch or at an epoch's end
        print(
            f"stopped after {result.steps} steps, {result.epochs_done} of {result.epochs} epochs "
            f"({result.wall_s:.0f} s); resume with --resume --out {out}"
        )
    return 0


# --- the other commands ---------------------------------------------------------------------------------


def _add_judge(sub) -> None:
    from .commands import JudgeTrain

    p = sub.add_parser("judge", help="the judge: a supervised classifier that scores generated videos")
    p.set_defaults(func=lambda a: p.print_help())
    judge_sub = p.add_subparsers(dest="action")
    _command(
        judge_sub,
        "train",
        JudgeTrain,
        _cmd_judge_train,
        help="train a judge on a labelled dataset's training split",
    )


def _cmd_judge_train(o) -> int:
    import time

    from .data import open_dataset
    from .evaluate.judge import judge_sha256, train_judge

    start = time.perf_counter()
    acc = train_judge(
        open_dataset(o.data),
        o.out,
        epochs=o.epochs,
        batch_size=o.batch_size,
        lr=o.lr,
        seed=o.seed,
        precision=o.precision,
        device=o.device,
        force=o.force,
    )
    print("test accuracy: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in acc.items()))
    print(f"{time.perf_counter() - start:.0f} s; judge: {o.out} (sha256 {judge_sha256(o.out)})")
    return 0


def _relocate(run: str, data: str | None) -> None:
    """--data of a command on a run: point the run at its data's new place (dsvae.run.relocate_data)."""
    if data is not None:
        from .run import relocate_data

        relocate_data(run, data)


def _names(text: str) -> list[str]:
    return [t for t in (s.strip() for s in text.split(",")) if t]


def _cmd_eval(o) -> int:
    from .evaluate.protocols import add_user_metrics, evaluate_run
    from .run import read_metrics_markdown

    _relocate(o.run, o.data)
    if o.metrics_only:
        if not o.metric:
            raise ValueError("--metrics-only runs the --metric NAME given: name at least one")
        add_user_metrics(o.run, o.metric, batch_size=o.batch_size, device=o.device)
        print(read_metrics_markdown(o.run) or "", end="")
        return 0
    metrics = evaluate_run(
        o.run,
        None if o.judge == "none" else o.judge,
        seeds=o.seeds,
        batch_size=o.batch_size,
        device=o.device,
        precision=o.precision,
        judge2_dir=o.judge2,
        static=_names(o.static),
        dynamic=_names(o.dynamic),
        regressors=_names(o.dci),
        max_train=o.dci_train,
        user_metrics=o.metric,
    )
    # the table evaluate_run chose for the run's data and wrote beside metrics.json
    print(read_metrics_markdown(metrics["run"]) or "", end="")
    return 0


def _cmd_bench(o) -> int:
    from .bench import bench_preset, compare_losses, format_table

    options, overrides, presets = None, dict(o.overrides), o.preset or ["paper", "cpu"]
    if o.recipe:  # the step the recipe trains: its options and its model overrides under --set
        from .recipes import load_recipe

        recipe = load_recipe(o.recipe)
        options = recipe.train_config({"data": recipe.train.get("data") or "synthetic"})
        overrides = {**recipe.model, **overrides}
        presets = o.preset or [options.preset]
    if o.parallel:
        return _bench_parallel(o, presets, overrides, options)
    rows = []
    for preset in presets:
        row = bench_preset(
            preset, o.batch_size, o.steps, o.warmup, o.device, o.precision, o.compile, o.channels_last,
            overrides, options=options,
        )  # fmt: skip
        if o.compare_steps:
            row.update(
                compare_losses(
                    preset,
                    o.compare_steps,
                    o.batch_size,
                    device=o.device,
                    precision=o.precision,
                    options=options,
                )
            )
        rows.append(row)
        if o.json:
            print(json.dumps(row), flush=True)
    if not o.json:
        print(format_table(rows))
        for r in rows:
            if "plain_final_loss" in r:
                print(
                    f"{r['preset']}: loss after {r['steps']} steps: fp32 {r['plain_final_loss']:.2f}, "
                    f"fast {r['fast_final_loss']:.2f} ({100 * r['relative_difference']:.2f}% apart)"
                )
    return 0


def _bench_parallel(o, presets, overrides, options) -> int:
    from .bench import format_parallel, parallel_efficiency

    for preset in presets:
        row = parallel_efficiency(preset, o.parallel, o.batch_size, o.steps, o.warmup, overrides, options)
        print(json.dumps(row) if o.json else format_parallel(row), flush=True)
    return 0


def _cmd_viz(o) -> int:
    from .viz import visualize_run

    _relocate(o.run, o.data)
    paths = visualize_run(
        o.run,
        o.out,
        n_rows=o.rows,
        n_cols=o.cols,
        k=o.k,
        seed=o.seed,
        device=o.device,
        log_scale=not o.linear,
    )
    for path in paths.values():
        print(path)
    return 0


def _cmd_compare(o) -> int:
    from pathlib import Path

    from ._io import atomic_write_text
    from .evaluate.compare import compare_runs, compare_table

    if o.as_recipe and not o.record:
        raise ValueError("--as names the recipe to record the runs under: give --record FILE too")
    result = compare_runs(o.runs, n_boot=o.boot)
    if result["differences"]:
        print(
            "dsvae compare: warning: the runs differ in more than their seed: "
            + ", ".join(result["differences"]),
            file=sys.stderr,
        )
    text = compare_table(result)
    if o.record:
        from .evaluate.compare import record_results, results_entry

        as_recipe = None
        if o.as_recipe:
            from .recipes import load_recipe

            shipped = load_recipe(o.as_recipe)
            as_recipe = (shipped.name, shipped.sha256)
        entry = results_entry(result, as_recipe)
        record_results(o.record, entry)
        print(f"recorded {entry['recipe']} on {entry['kind']} ({entry['runs']} runs) in {o.record}")
    if o.out:
        out = Path(o.out)
        atomic_write_text(out / "compare.md", text)
        atomic_write_text(out / "compare.json", json.dumps(result, indent=2) + "\n")
    print(text, end="")
    return 0


def _cmd_report(o) -> int:
    from .report import build_report, missing

    _relocate(o.run, o.data)
    page = build_report(o.run)
    for line in missing(o.run):  # the page names them too
        print(f"dsvae report: {line}", file=sys.stderr)
    print(page)
    return 0


def _cmd_recipes(o) -> int:
    from .evaluate.compare import read_results, results_lines
    from .recipes import RESULTS_FILE, load_recipe, recipe_names

    if o.name:
        print(load_recipe(o.name).text, end="")
        return 0
    results = read_results(RESULTS_FILE)
    if o.results:
        for name, entries in read_results(o.results).items():
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


def _cmd_methods(o) -> int:
    from .methods import available_methods, describe_method, method_class

    if o.ref:
        print("\n".join(describe_method(method_class(o.ref))))
        return 0
    for name, cls, where in available_methods():
        if cls is None:
            print(f"{name}: {where}\n")
            continue
        lines = describe_method(cls, name)
        print("\n".join([f"{lines[0]}  [{where}]", *lines[1:]]) + "\n")
    return 0


# the commands whose options are one dataclass of dsvae.commands and whose work is one function:
# (name, options class, handler, help)
SIMPLE_COMMANDS = (
    ("eval", "Eval", _cmd_eval, "score a run: judge protocols, reconstruction, ELBO -> RUN/metrics.*"),
    ("bench", "Bench", _cmd_bench, "training/encoding/generation throughput: plain fp32 vs the fast path"),
    ("viz", "Viz", _cmd_viz, "pictures of a run: swap matrix, samples, reconstructions, curves"),
    ("report", "Report", _cmd_report, "one self-contained HTML page about a run -> RUN/report.html"),
    (
        "compare",
        "Compare",
        _cmd_compare,
        "scores of several evaluated runs: per run, mean, std, 95%% bootstrap interval",
    ),
    (
        "recipes",
        "Recipes",
        _cmd_recipes,
        "the shipped recipes: what each is for, its time and scores measured",
    ),
    (
        "methods",
        "Methods",
        _cmd_methods,
        "the methods: built in and installed (entry points dsvae.methods), with options and citations",
    ),
)


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
    from . import commands

    for name, options, handler, text in SIMPLE_COMMANDS:
        _command(sub, name, getattr(commands, options), handler, help=text)
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
    except BrokenPipeError:  # the reader went away (`dsvae methods | head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's docs, "SIGPIPE"
        return 1
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
        from .run import continue_after_failed_write

        intact, resume = continue_after_failed_write(args.out)
        again = resume or again
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
