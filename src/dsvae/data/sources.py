"""The table of data sources: every name ``--data NAME`` and ``dsvae data NAME`` know, in one place.

A :class:`Source` says what a source is (video or vector frames), how its data comes to be, the
command that builds it, the files it reads, the judge that scores its runs and one line about it.
The built-in sources are :data:`BUILTIN`; a user's source comes from an installed package's entry
point in the group ``dsvae.data`` (:data:`ENTRY_POINT_GROUP`)::

    # pyproject.toml of the user's package
    [project.entry-points."dsvae.data"]
    bouncing-balls = "bouncing_balls:SOURCE"     # a Source, or a builder function

How a source's data comes to be (:attr:`Source.made`):

- ``"generated"``: made in memory when opened (``--data synthetic``), by ``Source.generator``;
- ``"built"``: built once by ``dsvae data NAME`` into ``$DSVAE_DATA/NAME`` (default ``data/NAME``),
  where ``--data NAME`` opens it (sprites, fsdd, every user source);
- ``"folder"``: ``dsvae data NAME --out DIR`` turns the user's files into a dataset folder that is
  passed by its path (``--data DIR``: video, timit, import-arrays, import-sprites).

A user's builder is a function ``builder(out: Path, *, option=default, ...) -> None`` that writes a
dataset folder (docs/CONTRACTS.md "Dataset") at ``out``, a path that does not exist yet; its
keyword-only arguments with defaults become the options of ``dsvae data NAME`` (``Annotated[int,
"help"]`` gives an option its help). :func:`dsvae.data.build_source` runs it and checks what it
wrote. Nothing is unpickled anywhere: entry points are imported as code, and dataset folders are
read with numpy's ``allow_pickle=False``.

This module is a leaf of :mod:`dsvae.data` (only the standard library): ``base`` reads its file
kinds and build commands for the advice it gives about a folder that is not a dataset.
"""

from __future__ import annotations

import importlib
import inspect
import typing
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import did_you_mean

ENTRY_POINT_GROUP = "dsvae.data"
KINDS = ("video", "vector")
MADE = ("generated", "built", "folder")

# --- file kinds: the one list of each (what `dsvae data` reads, and what a folder is taken to hold) ---
# containers: a file with one of these extensions is a video even when it does not open (it is then
# reported as unreadable, not skipped as "not a clip"); .ts is MPEG-TS here (camcorders, broadcasts)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts")
# animated images, read as clips by Pillow (a still one joins its folder's frame clip)
ANIMATED_IMAGE_EXTENSIONS = (".gif", ".webp")
# still images: the frames of a frame folder (one folder per clip), or Sprites' layer sheets
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
# recordings; the speech builders read every format the installed soundfile reads
# (dsvae.data.speech.audio_extensions), these are the common ones a folder is recognised by
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".sph")
ARRAY_EXTENSIONS = (".npy", ".npz")
# what a folder that is not a dataset may hold, in the order its advice looks for them
FILE_GROUPS = (
    ("video clips", VIDEO_EXTENSIONS + ANIMATED_IMAGE_EXTENSIONS),
    ("audio recordings", AUDIO_EXTENSIONS),
    ("arrays", ARRAY_EXTENSIONS),
    ("images", FRAME_EXTENSIONS),
)


class SourceError(ValueError):
    """A source name that is unknown, a user's source whose package does not import or whose entry
    point is not a source, or a builder whose options or output are not what dsvae expects; the
    message says what to install, fix or type instead."""


@dataclass(frozen=True)
class Source:
    """One data source.

    ``name``: what ``--data`` and ``dsvae data`` take (letters, digits, ``-``, ``_``).
    ``kind``: ``"video"`` (uint8 frames (N, T, H, W, C)) or ``"vector"`` (float32 (N, T, D)).
    ``description``: one line for ``dsvae data --help`` and ``dsvae data list``.
    ``made``: ``"generated"``, ``"built"`` or ``"folder"`` (module docstring).
    ``build``: the build command as the advice prints it, ``{out}`` standing for the folder
    (default ``dsvae data NAME --out {out}``); ``folder_command``: the command that builds a dataset
    from a folder holding its ``file_kinds`` (extensions, lower case), ``{path}`` and ``{name}``
    standing for the folder and its name.
    ``judge``: the judge that scores its runs by default: the name of a judge shipped with dsvae
    (``"sprites"``, ``"synthetic"``: a folder of ``dsvae/judges``), the path of a judge folder of the
    source's own (``dsvae judge train`` writes one), or None (train one with ``dsvae judge train``);
    ``judge_sha256``: the sha256 of that folder's model.safetensors, checked when it is loaded.
    ``meta_names``: other ``meta.json`` names its datasets carry (the judge lookup goes by them).
    ``generator``: ``"module:function"`` of a generated source, called ``function(seed=,
    **generator_options)`` -> SequenceDataset. ``builder``: a user's builder (module docstring).
    ``origin``: ``"dsvae"``, or the package and version the entry point came from.
    """

    name: str
    kind: str
    description: str
    made: str = "built"
    build: str = ""
    folder_command: str = ""
    file_kinds: tuple[str, ...] = ()
    judge: str | Path | None = None
    judge_sha256: str | None = None
    meta_names: tuple[str, ...] = ()
    generator: str | None = None
    generator_options: Mapping = field(default_factory=dict)
    builder: Callable | None = None
    origin: str = "dsvae"

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise SourceError(f"a data source name is letters, digits, - and _, got {self.name!r}")
        if self.kind not in KINDS:
            raise SourceError(f"data source {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.made not in MADE:
            raise SourceError(f"data source {self.name!r}: made must be one of {MADE}, got {self.made!r}")
        if self.made == "generated" and not self.generator:
            raise SourceError(f"data source {self.name!r} is generated but names no generator")
        object.__setattr__(self, "file_kinds", tuple(e.lower() for e in self.file_kinds))
        object.__setattr__(self, "meta_names", tuple(self.meta_names))

    def build_command(self, out: str | Path | None = None) -> str:
        """The command that builds this source (into ``out``; default where ``--data NAME`` looks)."""
        where = str(out) if out is not None else (f"data/{self.name}" if self.made == "built" else "DIR")
        return (self.build or f"dsvae data {self.name} --out {{out}}").format(out=where)

    @property
    def names(self) -> tuple[str, ...]:
        """The meta.json names of its datasets: its own name (not for a folder source: its datasets
        are named after the user's files), then ``meta_names``."""
        return (*((self.name,) if self.made != "folder" else ()), *self.meta_names)


BUILTIN: tuple[Source, ...] = (
    Source(
        "synthetic",
        "video",
        "procedural pixel characters (skin, top, bottom, hair) x 9 motions, 8 frames 64x64; no download",
        made="generated",
        judge="synthetic",
        generator="dsvae.data.synthetic:make_synthetic",
        generator_options={"max_x_offset": 0},
    ),
    Source(
        "synthetic-shifted",
        "video",
        "the synthetic data, each sequence at its own horizontal position (harder)",
        made="generated",
        judge="synthetic",
        generator="dsvae.data.synthetic:make_synthetic",
        generator_options={"max_x_offset": 8},
    ),
    Source(
        "sprites",
        "video",
        "build the Sprites benchmark (Li & Mandt 2018) bit-exactly from the LPC layer sheets",
        build="dsvae data sprites --out {out} (downloads the sheets; or --sheets DIR)",
        folder_command="dsvae data sprites --sheets {path} (LPC sheets)",
        file_kinds=(".png",),
        judge="sprites",
    ),
    Source(
        "fsdd",
        "vector",
        "Free Spoken Digit Dataset -> log-mel segments (speaker, digit)",
        build="dsvae data fsdd --out {out} (downloads the recordings; or --root DIR)",
        folder_command="dsvae data fsdd --root {path} --out data/{name} (spoken digits; dsvae data timit "
        "for TIMIT)",
        file_kinds=AUDIO_EXTENSIONS,
    ),
    Source(
        "timit",
        "vector",
        "your licensed TIMIT copy -> log-mel segments (speaker)",
        made="folder",
        build="dsvae data timit --root TIMIT --out {out}",
        file_kinds=(".wav",),
    ),
    Source(
        "video",
        "video",
        "import your own videos: a video file, a folder of videos or of frame folders",
        made="folder",
        build="dsvae data video --input CLIPS --out {out}",
        folder_command="dsvae data video --input {path} --out data/{name}",
        file_kinds=VIDEO_EXTENSIONS + ANIMATED_IMAGE_EXTENSIONS + FRAME_EXTENSIONS,
    ),
    Source(
        "import-sprites",
        "video",
        "convert Sprites .npy files you already have",
        made="folder",
        build="dsvae data import-sprites --from NPY_DIR --layout generator|xad --out {out}",
        file_kinds=(".npy",),
        judge="sprites",  # it names its folders "sprites": the benchmark's judge scores them
        meta_names=("sprites",),
    ),
    Source(
        "import-arrays",
        "video",
        "video arrays from .npy/.npz: (N, T, H, W, C) or flattened (N, T, H*W*C), uint8 or [0, 1]",
        made="folder",
        build="dsvae data import-arrays --input ARRAYS --out {out}",
        folder_command="dsvae data import-arrays --input {path} --out data/{name}",
        file_kinds=ARRAY_EXTENSIONS,
    ),
)
_BUILTIN = {s.name: s for s in BUILTIN}
COMMANDS = ("list",)  # dsvae data's commands that are no source: no user's source may take their names


def builtin(name: str) -> Source | None:
    """The built-in source called ``name``, or None."""
    return _BUILTIN.get(name)


def folder_advice() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    """What a folder that is not a dataset may hold and how to build one from it, from the table:
    ``(what, extensions, command)`` per :data:`FILE_GROUPS` entry that a built-in source reads, the
    command being its sources' ``folder_command`` joined by " or " (``{path}``, ``{name}`` unfilled)."""
    advice = []
    for what, exts in FILE_GROUPS:
        commands = [s.folder_command for s in BUILTIN if s.folder_command and set(s.file_kinds) & set(exts)]
        if commands:
            advice.append((what, exts, " or ".join(commands)))
    return tuple(advice)


def data_commands() -> tuple[str, ...]:
    """The built-in ``dsvae data`` commands (sources that are built: all but the generated)."""
    return tuple(s.name for s in BUILTIN if s.made != "generated")


# --- users' sources: entry points of the group dsvae.data ------------------------------------------------
def _entry_points() -> dict[str, list]:
    """name -> the entry points of :data:`ENTRY_POINT_GROUP` of that name (several: a conflict)."""
    from importlib.metadata import entry_points

    found: dict[str, list] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, []).append(ep)
    return found


def _package(ep) -> str:
    """``"package version"`` of the distribution that declares ``ep`` (``"?"`` when unknown)."""
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "?"


def _package_name(ep) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else ep.value.split(":")[0].split(".")[0]


def user_source_names() -> tuple[str, ...]:
    """Names of the users' sources installed (entry points; nothing is imported), sorted. A name of a
    built-in source is skipped with a warning (the built-in keeps it)."""
    names = []
    for name, eps in sorted(_entry_points().items()):
        if name in _BUILTIN or name in COMMANDS:
            warnings.warn(
                f"data source {name!r} of package {_package(eps[0])} has the name of a built-in source "
                "or command and is ignored; rename its entry point",
                stacklevel=2,
            )
            continue
        names.append(name)
    return tuple(names)


def user_source_package(name: str) -> str | None:
    """``"package version"`` of the installed package that declares the user's source ``name``,
    without importing it; None if no package does."""
    eps = _entry_points().get(name)
    return _package(eps[0]) if eps and name not in _BUILTIN and name not in COMMANDS else None


_LOADED: dict[tuple[str, str], Source] = {}


def load_user_source(name: str) -> Source:
    """The user's source ``name``, imported from its entry point (once per process).

    Raises :class:`SourceError` when no installed package declares it (with the closest names), when
    two packages declare it, when its module does not import (naming the package to install or fix)
    or when the entry point is neither a :class:`Source` nor a builder function."""
    eps = _entry_points().get(name, []) if name not in _BUILTIN and name not in COMMANDS else []
    if not eps:
        raise SourceError(unknown_message(name))
    if len(eps) > 1:
        raise SourceError(
            f"data source {name!r} is declared by {len(eps)} installed packages "
            f"({', '.join(f'{_package(ep)}: {ep.value}' for ep in eps)}); uninstall all but one"
        )
    ep = eps[0]
    key = (name, ep.value)
    if key in _LOADED:
        return _LOADED[key]
    origin = f"package {_package(ep)} (entry point {ep.value})"
    try:
        obj = ep.load()
    except Exception as e:  # whatever the user's module raises on import: name the package
        raise SourceError(
            f"data source {name!r} comes from {origin}, which failed to import: {type(e).__name__}: {e}. "
            f"Install or fix the package {_package_name(ep)} (pip install {_package_name(ep)})"
        ) from e
    if isinstance(obj, Source):
        if obj.name != name:
            raise SourceError(
                f"the entry point {name!r} of {origin} holds the source {obj.name!r}: name the entry "
                "point as the source"
            )
        if obj.made != "built" or obj.builder is None:
            raise SourceError(
                f"data source {name!r} of {origin}: a user's source is made='built' with a builder"
            )
        source = _replace(obj, origin=origin)
    elif callable(obj):
        doc = (inspect.getdoc(obj) or "").strip().splitlines()
        source = Source(
            name, getattr(obj, "kind", "video"), doc[0] if doc else "", builder=obj, origin=origin
        )
    else:
        raise SourceError(
            f"the entry point {name!r} of {origin} is a {type(obj).__name__}, not a "
            "dsvae.data.sources.Source nor a builder function"
        )
    builder_options(source)  # refuse a builder whose options cannot be options before anything runs
    _LOADED[key] = source
    return source


def _replace(source: Source, **changes) -> Source:
    import dataclasses

    return dataclasses.replace(source, **changes)


def find(name: str) -> Source:
    """The source called ``name``: a built-in, else a user's (:func:`load_user_source`).

    Raises :class:`SourceError` for an unknown name (with the closest names) or a user's source that
    cannot be loaded."""
    return _BUILTIN.get(name) or load_user_source(name)


def all_names(openable: bool = False) -> tuple[str, ...]:
    """Every source name: the built-ins in table order, then the users' (sorted); ``openable``: only
    those ``--data`` takes by name (not the kinds of folder a user builds, such as ``video``)."""
    builtin = [s.name for s in BUILTIN if not (openable and s.made == "folder")]
    return (*builtin, *user_source_names())


def unknown_message(name: str) -> str:
    """``"no data source NAME; did you mean A, B? ..."``, the closest of every source's names."""
    names = all_names()
    return f"no data source {name!r}: {did_you_mean(name, names)}"


def data_help() -> str:
    """The help of ``--data`` (``dsvae train``, recipes): the names it takes, from the table."""
    names = [s.name for s in BUILTIN if s.made != "folder"]
    return (
        f"{', '.join(names)}, a source of an installed package (dsvae data list), or a dataset folder "
        "(dsvae data ...); with --resume: the run's data in a new place (checked against the run's "
        "checksums)"
    )


def judge_help() -> str:
    """The help of ``dsvae judge train --data``: the labelled video sources, or a folder."""
    names = [s.name for s in BUILTIN if s.made != "folder" and s.kind == "video"]
    return f"{', '.join(names)}, or a labelled dataset folder"


def not_built_message(source: Source, path: Path) -> str:
    """Advice for ``--data NAME`` of a built source whose folder ``path`` holds no dataset yet."""
    return (
        f"the {source.name} dataset is not built at {path}; build it first:\n  {source.build_command()}\n"
        f"(or set DSVAE_DATA to the folder that holds {source.name}/, or pass its path)"
    )


def judge_for(meta: Mapping) -> str | Path | None:
    """The default judge of a dataset whose meta.json holds ``meta``: the ``judge`` of the source
    that made it (a shipped judge's name, the path of a source's own judge folder, or None).

    Built-in sources are found by ``meta["name"]``; a user's source by the ``data_source`` record
    :func:`dsvae.data.build_source` writes (so an imported folder that happens to share a user
    source's name is not scored by that source's judge). Raises :class:`SourceError` when the user's
    source that made the data cannot be loaded (the message names its package)."""
    name = str(meta.get("name", ""))
    for source in BUILTIN:
        if name in source.names:
            return source.judge
    made_by = meta.get("data_source")
    if isinstance(made_by, Mapping) and made_by.get("name") == name and name in user_source_names():
        judge = load_user_source(name).judge
        if judge is None or isinstance(judge, Path):
            return judge
        return judge if judge in _shipped_judges() else Path(judge)  # a shipped judge's name, else a path
    return None


def judge_sha256_for(meta: Mapping) -> str | None:
    """The sha256 a user's source declares for its own judge folder (:func:`judge_for`), or None."""
    made_by = meta.get("data_source")
    name = str(meta.get("name", ""))
    if isinstance(made_by, Mapping) and made_by.get("name") == name and name in user_source_names():
        return load_user_source(name).judge_sha256
    return None


def _shipped_judges() -> set[str]:
    return {s.judge for s in BUILTIN if isinstance(s.judge, str)}


def shipped_for() -> dict[str, str]:
    """meta.json name -> the shipped judge that scores it, for the built-in sources."""
    return {n: s.judge for s in BUILTIN if isinstance(s.judge, str) for n in s.names}


# --- a builder's options ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One option of a user's builder: its keyword argument ``name``, type (int, float, str, bool or
    Path), default and help text (from ``Annotated[type, "help"]``)."""

    name: str
    type: type
    default: object
    help: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTION_TYPES = (bool, int, float, str, Path)
RESERVED = ("out", "force")  # dsvae data's own options


def builder_options(source: Source) -> tuple[Option, ...]:
    """The options of ``source``'s builder: every keyword argument after ``out`` (which must have a
    default). Raises :class:`SourceError` for an argument without a default, one named like dsvae
    data's own (``out``, ``force``) or of a type other than :data:`OPTION_TYPES`."""
    if source.builder is None:
        return ()
    try:
        sig = inspect.signature(source.builder)
        hints = typing.get_type_hints(source.builder, include_extras=True)
    except (TypeError, ValueError, NameError) as e:
        raise SourceError(f"the builder of data source {source.name!r} ({source.origin}): {e}") from e
    params = list(sig.parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise SourceError(
            f"the builder of data source {source.name!r} ({source.origin}) must take the folder to "
            "write as its first argument: def build(out, *, option=default, ...)"
        )
    options = []
    for p in params[1:]:
        where = f"option {p.name!r} of the builder of data source {source.name!r} ({source.origin})"
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise SourceError(f"{where}: *args / **kwargs cannot be options; name each one")
        if p.default is p.empty:
            raise SourceError(f"{where} has no default: every option needs one")
        if p.name in RESERVED:
            raise SourceError(f"{where}: {', '.join(RESERVED)} are dsvae data's own; rename it")
        hint = hints.get(p.name, type(p.default))
        help_text = ""
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            help_text = " ".join(str(x) for x in extras if isinstance(x, str))
        if hint not in OPTION_TYPES:
            raise SourceError(f"{where} is {hint}; options are {', '.join(t.__name__ for t in OPTION_TYPES)}")
        options.append(Option(p.name, hint, p.default, help_text))
    return tuple(options)


def resolve(reference: str):
    """The object ``"module:attribute"`` names (a generator of the table)."""
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


__all__ = [
    "ANIMATED_IMAGE_EXTENSIONS",
    "ARRAY_EXTENSIONS",
    "AUDIO_EXTENSIONS",
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "FILE_GROUPS",
    "FRAME_EXTENSIONS",
    "Option",
    "Source",
    "SourceError",
    "VIDEO_EXTENSIONS",
    "all_names",
    "builder_options",
    "builtin",
    "data_help",
    "find",
    "folder_advice",
    "judge_for",
    "load_user_source",
    "not_built_message",
    "shipped_for",
    "unknown_message",
    "user_source_names",
]
