"""DSVAEConfig: every size and switch of the model, and the named presets.

One tensor layout everywhere: a batch of sequences is ``(B, T, C, H, W)`` for video frames and
``(B, T, D)`` for vector frames (speech features), values of video frames in ``[0, 1]``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

Q_Z_CHOICES = ("factorized", "full", "full-no-f")
Q_F_CHOICES = ("sequence", "first-frame", "shared-lstm")
F_HEAD_CHOICES = ("affine", "leaky-relu")
Z_INPUT_CHOICES = ("frames", "minus-first")
FRAME_CONTEXT_CHOICES = ("frame", "sequence")
LIKELIHOOD_CHOICES = ("gaussian", "bernoulli")
Z_VIEW_CHOICES = ("shared", "silhouette", "silhouette-change", "gray")


def _example(default) -> str:
    """A field's default as a flag writes it (tuples comma-separated)."""
    if isinstance(default, (tuple, list)):
        return ",".join(str(i) for i in default) or "16,32"
    return str(default)


# --- the config base: one set of rules for every options dataclass -----------------------------------


def did_you_mean(key: str, known: Sequence[str], n: int = 3) -> str:
    """``"did you mean a or b?"`` for the names of ``known`` closest to ``key``, else the list of them:
    the one hint of every unknown name (fields, recipe keys, methods, metrics, sources)."""
    close = difflib.get_close_matches(key, list(known), n=n)
    return f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(known)}"


@dataclass(frozen=True)
class Range:
    """The values a number option may take: ``low`` <= v (or < v when ``low_open``) and, where
    ``high`` is set, v <= ``high`` (or < with ``high_open``); always finite. Checked once where the
    options are made (:meth:`ConfigBase.check`: recipe, command line and API alike)."""

    low: float
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        ok = v > self.low if self.low_open else v >= self.low
        if self.high is not None:
            ok = ok and (v < self.high if self.high_open else v <= self.high)
        return ok

    def __str__(self) -> str:
        low = f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is None:
            return low
        return (
            f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        )


NON_NEGATIVE, POSITIVE, AT_LEAST_ONE = Range(0), Range(0, low_open=True), Range(1)


def option(default, help: str, valid: Range | None = None, **argparse_kw):
    """A field of a :class:`ConfigBase` dataclass whose command-line option is generated from it:
    the help text, the values it may take (``valid``) and any argparse settings (choices, metavar)
    live here, written once."""
    metadata = {"help": help, "valid": valid, **argparse_kw}
    if isinstance(default, (dict, list, tuple)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class ConfigBase:
    """What every options dataclass of dsvae shares (:class:`DSVAEConfig`, :class:`dsvae.options.
    TrainConfig`, the judge's config, each method's options): every field of its annotated kind
    (ints stay ints, floats take ints, tuples take lists or, for ``tuple[int, ...]`` and
    ``tuple[str, ...]``, one item; ``bool | None``, ``str``, ``dict``), every number field within
    its ``valid`` :class:`Range`, then the class's own cross-field rules (:meth:`validate`);
    ``from_dict`` / ``to_dict`` for JSON and TOML (unknown names with the closest ones), and
    :meth:`parse` for a flag's text. Subclasses are dataclasses; ``WHAT`` names them in messages and
    ``flag`` says how a field is set."""

    WHAT = "option"

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Kinds, ranges, then :meth:`validate`. Raises ValueError naming the field."""
        self._check_kinds()
        self._check_ranges()
        self.validate()

    def validate(self) -> None:
        """The class's rules between fields (none here). Raises ValueError."""

    @classmethod
    def flag(cls, name: str) -> str:
        """How a user sets the field ``name``: ``--name`` (DSVAEConfig: ``--set name=...``)."""
        return "--" + name.replace("_", "-")

    @classmethod
    def kinds(cls) -> dict[str, object]:
        """Each field's annotated kind (typing.get_type_hints)."""
        return typing.get_type_hints(cls)

    @classmethod
    def defaults(cls) -> dict[str, object]:
        """Each field's default (a fresh copy of a mutable one)."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out

    def _check_kinds(self) -> None:
        kinds, defaults = self.kinds(), self.defaults()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            ok, what, value = _of_kind(value, kinds[f.name])
            if not ok:
                raise ValueError(
                    f"{self.WHAT} {f.name} must be {what}, got {getattr(self, f.name)!r} "
                    f"({type(getattr(self, f.name)).__name__}); e.g. {self._example(f.name, defaults)}"
                )
            object.__setattr__(self, f.name, value)

    @classmethod
    def _example(cls, name: str, defaults: dict) -> str:
        flag = cls.flag(name)
        sep = "=" if flag.endswith("=") else " "
        return f"{flag.rstrip('=')}{sep}{_example(defaults.get(name, ''))}"

    def _check_ranges(self) -> None:
        """Every number field within its ``valid`` range: a negative clip would reverse the gradients,
        a negative warm-up make the KL weight negative, 0 epochs train nothing, and each would still
        end with exit 0. Raises ValueError naming the field, its flag, its value and its range."""
        for f in dataclasses.fields(self):
            valid = f.metadata.get("valid")
            if valid is None:
                continue
            value = getattr(self, f.name)
            if value is None and _optional(self.kinds()[f.name]):
                continue  # unset: the field's kind says it may be
            values = value if isinstance(value, (list, tuple)) else (value,)
            if all(v is not None and valid.holds(float(v)) for v in values):
                continue
            shown = ",".join(map(str, values)) if isinstance(value, (list, tuple)) else repr(value)
            each = "each of " if isinstance(value, (list, tuple)) else ""
            raise ValueError(
                f"{self.WHAT} {f.name} ({self.flag(f.name).rstrip('=')}) = {shown} is out of range: "
                f"{each}{f.name} must be {valid} ({f.metadata['help']})"
            )

    @classmethod
    def known(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def check_names(cls, names, where: str = "") -> None:
        """Raise ValueError for the first name that is not a field, with the closest fields."""
        known = cls.known()
        for key in names:
            if key not in known:
                at = f"{where}: " if where else ""
                flag = cls.flag(key) + ("..." if cls.flag(key).endswith("=") else " ...")
                raise ValueError(f"{at}unknown {cls.WHAT} {key!r} ({flag}): {did_you_mean(key, known)}")

    @classmethod
    def from_dict(cls, d: dict, where: str = ""):
        """The config of a JSON or TOML table ``d`` (lists for tuples). Raises ValueError for an
        unknown name (with the closest) or a value of the wrong kind or range."""
        cls.check_names(d, where)
        return cls(**d)

    def to_dict(self) -> dict:
        """The fields as JSON writes them (tuples as lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def parse(cls, name: str, text: str) -> object:
        """A field's value from a flag's text: numbers as numbers (JSON), ``a,b`` as a list, anything
        else as text; the kind is checked where the config is made."""

        def one(v: str) -> object:
            try:
                return json.loads(v)
            except json.JSONDecodeError:
                return v

        if "," in text:
            return [one(v) for v in text.split(",")]
        return one(text)


def _optional(kind) -> bool:
    """Whether a field of ``kind`` may be None (``X | None``)."""
    return typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)


def _of_kind(value, kind) -> tuple[bool, str, object]:
    """(value is of ``kind``, what the kind is in words, the value as the field keeps it)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return isinstance(value, bool), "on or off (true/false)", value
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool), "a whole number", value
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, "a number", float(value) if ok else value
    if kind is str:
        return isinstance(value, str), "a string", value
    if kind is dict or origin is dict:
        return isinstance(value, dict), "a table of names and values", value
    if origin in (typing.Union, types.UnionType) and type(None) in args:  # X | None
        if value is None:
            return True, "", None
        inner = [a for a in args if a is not type(None)][0]
        ok, what, kept = _of_kind(value, inner)
        return ok, f"{what} or unset", kept
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[int, ...], tuple[str, ...]: one or more
            what = "names separated by commas" if args[0] is str else "whole numbers separated by commas"
            one = isinstance(value, args[0]) and not isinstance(value, bool)
            items = (value,) if one else value
            if not isinstance(items, (list, tuple)):
                return False, what, value
            checked = [_of_kind(i, args[0]) for i in items]
            return all(c[0] for c in checked), what, tuple(c[2] for c in checked)
        n = len(args)
        if not isinstance(value, (list, tuple)) or len(value) != n:
            return False, f"{n} numbers separated by commas", value
        checked = [_of_kind(i, a) for i, a in zip(value, args)]
        return all(c[0] for c in checked), f"{n} numbers separated by commas", tuple(c[2] for c in checked)
    return True, "", value


@dataclass
class DSVAEConfig(ConfigBase):
    # frames: video (channels x frame_size x frame_size) unless frame_dim > 0 (vectors of that width)
    channels: int = 3
    frame_size: int = 64
    frame_dim: int = 0
    T: int = 8
    # latents
    f_dim: int = 256
    z_dim: int = 32
    hidden_dim: int = 512  # every RNN: q(f), full q(z), the prior
    # per-frame encoder; the decoder mirrors it
    conv_channels: tuple[int, ...] = (256, 256, 256, 256)
    conv_strides: tuple[int, ...] = (1, 2, 2, 2)
    conv_kernel: int = 5
    fc_dim: int = 4096  # width of the affine layer between the conv stack and the frame feature; 0: none
    feature_dim: int = 2048  # frame feature v_t
    mlp_hidden: tuple[int, ...] = (256, 256)  # per-frame MLP for vector frames (frame_dim > 0)
    factorized_hidden: int = 512  # factorized q(z_t | x_t): affine -> LeakyReLU to this width
    # switches
    # q(z): "full" q(z_1:T | x_1:T, f), a BiLSTM over [v_t, f] then an RNN (the paper); "full-no-f" the
    # same without f, q(z_1:T | x_1:T) (C-DSVAE's and DBSE's public code); "factorized" q(z_t | x_t)
    q_z: str = "full"
    # q(f): "sequence" a BiLSTM over the T frame features (the paper); "first-frame" an affine layer
    # and tanh over the first frame's features alone (DBSE, Berman et al. 2024, sec. 4);
    # "shared-lstm" the end states of q(z)'s BiLSTM, one BiLSTM feeding both posteriors (C-DSVAE's and
    # SPYL's public code: JunwenBai/C-DSVAE model.py:135-163, azencot-group/SPYL cdsvae/model.py:
    # 127-157; needs q_z "full-no-f" over the frame features themselves)
    q_f: str = "sequence"
    # q(f)'s head: "affine" the mean and log-variance from affine layers (the paper, SPYL); "leaky-relu"
    # each ending in a LeakyReLU(0.2), as C-DSVAE's LinearUnit (JunwenBai/C-DSVAE model.py:8-20, 136-137)
    f_head: str = "affine"
    # what q(z) reads of the frame features v_t: "frames" v_t itself; "minus-first" v_t - v_1, the
    # subtraction of the static frame's features (DBSE, sec. 4), so v_1's content cannot reach z
    z_input: str = "frames"
    # what a frame feature v_t is computed from: "frame" the frame x_t alone (the paper); "sequence"
    # the per-frame features passed through a BiLSTM over the T frames and an affine layer back to
    # feature_dim, so that v_t, and with q_f first-frame f, reads the whole sequence (DBSE's speech
    # and time-series encoder, azencot-group/DBSE audio/model/dbse.py: z_lstm_encoder and fc)
    frame_context: str = "frame"
    # what the dynamics (z) path sees of a frame. "shared": the frame features v_t that q(f) reads
    # (the paper). "silhouette": its own conv encoder over a one-channel mask of the pixels that differ
    # from the frame's top-left (background) pixel; "silhouette-change": that mask minus its mean over
    # the sequence, so that a shape which stays put (a hair style) cancels and z sees what moves;
    # "gray": its own conv encoder over the channel mean.
    # A colour-blind view keeps the colours of the character out of z (see README, Sprites).
    z_view: str = "shared"
    z_conv_channels: tuple[int, ...] = ()  # that encoder's conv widths (empty: conv_channels)
    likelihood: str = "gaussian"
    # weight of the reconstruction term: log N(x | x_hat, sigma^2) up to a constant is
    # -||x - x_hat||^2 / (2 sigma^2); recon_scale = 1 / (2 sigma^2). The paper's summed squared
    # error is recon_scale = 1.
    recon_scale: float = 1.0

    WHAT = "DSVAEConfig field"

    @classmethod
    def flag(cls, name: str) -> str:
        return f"--set {name}="

    # --- derived sizes -------------------------------------------------------------------------
    @property
    def is_video(self) -> bool:
        return self.frame_dim == 0

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame: (C, H, W) for video, (D,) for vectors."""
        if self.is_video:
            return (self.channels, self.frame_size, self.frame_size)
        return (self.frame_dim,)

    @property
    def downsample(self) -> int:
        d = 1
        for s in self.conv_strides:
            d *= s
        return d

    @property
    def bottom_size(self) -> int:
        """Spatial size at the end of the conv stack."""
        return self.frame_size // self.downsample

    def validate(self) -> None:
        """The model's rules between fields (one stride per conv layer, a frame size the strides
        divide, ...). Raises ValueError."""

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"DSVAEConfig: {msg}")

        need(self.q_z in Q_Z_CHOICES, f"q_z must be one of {Q_Z_CHOICES}, got {self.q_z!r}")
        need(
            self.likelihood in LIKELIHOOD_CHOICES,
            f"likelihood must be one of {LIKELIHOOD_CHOICES}, got {self.likelihood!r}",
        )
        need(self.q_f in Q_F_CHOICES, f"q_f must be one of {Q_F_CHOICES}, got {self.q_f!r}")
        need(self.f_head in F_HEAD_CHOICES, f"f_head must be one of {F_HEAD_CHOICES}, got {self.f_head!r}")
        if self.q_f == "shared-lstm":
            need(
                (self.q_z, self.z_input, self.z_view) == ("full-no-f", "frames", "shared"),
                "q_f 'shared-lstm' reads q(z)'s BiLSTM over the frame features, so q(z) must be that "
                "BiLSTM over the features themselves: set q_z 'full-no-f', z_input 'frames', z_view "
                f"'shared' (got q_z {self.q_z!r}, z_input {self.z_input!r}, z_view {self.z_view!r})",
            )
        need(
            self.z_input in Z_INPUT_CHOICES,
            f"z_input must be one of {Z_INPUT_CHOICES}, got {self.z_input!r}",
        )
        need(
            self.frame_context in FRAME_CONTEXT_CHOICES,
            f"frame_context must be one of {FRAME_CONTEXT_CHOICES}, got {self.frame_context!r}",
        )
        need(
            self.frame_context == "frame" or self.z_view == "shared",
            f"frame_context 'sequence' contextualizes the shared frame features only: it needs "
            f"z_view 'shared', got {self.z_view!r}",
        )
        if self.z_input == "minus-first":
            need(self.T >= 2, f"z_input minus-first needs T >= 2 frames, got T={self.T}")
        need(self.z_view in Z_VIEW_CHOICES, f"z_view must be one of {Z_VIEW_CHOICES}, got {self.z_view!r}")
        if self.z_view != "shared":
            need(self.frame_dim == 0, "z_view silhouette/gray needs video frames (frame_dim 0)")
        if self.z_view == "silhouette-change":
            need(
                self.T >= 2,
                f"z_view silhouette-change needs T >= 2 frames (one frame has no change), got T={self.T}",
            )
        if self.z_conv_channels:
            need(
                len(self.z_conv_channels) == len(self.conv_strides),
                f"z_conv_channels {self.z_conv_channels} needs one width per stride {self.conv_strides}",
            )
        for name in ("T", "f_dim", "z_dim", "hidden_dim", "feature_dim", "factorized_hidden"):
            need(getattr(self, name) > 0, f"{name} must be positive, got {getattr(self, name)}")
        need(
            math.isfinite(self.recon_scale) and self.recon_scale > 0,
            f"recon_scale must be a positive finite number, got {self.recon_scale}",
        )
        need(self.fc_dim >= 0, f"fc_dim must be >= 0 (0: no affine layer), got {self.fc_dim}")
        need(self.frame_size > 0, f"frame_size must be positive, got {self.frame_size}")
        for name in ("conv_channels", "z_conv_channels", "mlp_hidden"):
            widths = getattr(self, name)
            need(all(w > 0 for w in widths), f"every width of {name} must be positive, got {widths}")
        need(self.frame_dim >= 0, f"frame_dim must be >= 0 (0 means video frames), got {self.frame_dim}")
        if self.is_video:
            need(self.channels > 0, f"channels must be positive, got {self.channels}")
            need(len(self.conv_channels) > 0, "conv_channels must name at least one layer")
            need(
                len(self.conv_channels) == len(self.conv_strides),
                f"conv_channels {self.conv_channels} and conv_strides {self.conv_strides} "
                "must have the same length (one stride per conv layer)",
            )
            need(all(s in (1, 2) for s in self.conv_strides), "conv_strides must be 1 or 2")
            need(
                self.frame_size % self.downsample == 0,
                f"frame_size {self.frame_size} must be a multiple of {self.downsample} "
                f"(the product of conv_strides {self.conv_strides})",
            )
            if 1 in self.conv_strides:
                need(self.conv_kernel % 2 == 1, "stride-1 conv layers need an odd conv_kernel")
            need(self.conv_kernel >= 2, f"conv_kernel must be at least 2, got {self.conv_kernel}")

    # --- presets and (de)serialisation ------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides) -> DSVAEConfig:
        """A named preset, optionally with some fields replaced: ``preset("cpu", z_dim=16)``.

        Raises ValueError for an unknown preset or field (with the closest field names)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        cls.check_names(overrides)
        return cls(**{**PRESETS[name], **overrides})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> DSVAEConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), where=str(path))

    def replace(self, **changes) -> DSVAEConfig:
        return dataclasses.replace(self, **changes)


# The presets. Parameter counts and FLOPs per sequence (forward + backward, counted with
# torch.utils.flop_counter by `dsvae bench`) are listed in the README.
PRESETS: dict[str, dict] = {
    # exactly the numbers of the paper (Li & Mandt 2018, appendix): ~178 M parameters, ~225 GFLOP per sequence
    "paper": dict(),
    # the CPU default: DCGAN-style 4x4 stride-2 convs. The widths are half of DCGAN's 32-64-128-256:
    # a quarter of the FLOPs, so that fp32 on a CPU without bf16 hardware trains the main job and the
    # Sprites recipe in the times of docs/performance.md
    "cpu": dict(
        conv_channels=(16, 32, 64, 128),
        conv_strides=(2, 2, 2, 2),
        conv_kernel=4,
        fc_dim=0,
        feature_dim=256,
        f_dim=64,
        z_dim=16,
        hidden_dim=256,
        factorized_hidden=256,
    ),
    # the smallest thing that still is a DSVAE: for tests
    "tiny": dict(
        frame_size=16,
        T=4,
        conv_channels=(8, 16),
        conv_strides=(2, 2),
        conv_kernel=4,
        fc_dim=0,
        feature_dim=32,
        f_dim=8,
        z_dim=4,
        hidden_dim=16,
        factorized_hidden=16,
    ),
    # speech: vector frames (e.g. 64 log-mel bins), 20 frames = 200 ms at a 10 ms hop
    "speech": dict(
        frame_dim=64,
        T=20,
        channels=1,
        mlp_hidden=(256, 256),
        feature_dim=256,
        f_dim=64,
        z_dim=16,
        hidden_dim=256,
        factorized_hidden=256,
    ),
}

# the CPU Sprites recipe (README, Sprites): the cpu preset with the latent sizes of the paper's
# Sprites runs (f 256, z 32); trained with --lr 1e-3 --batch-size 50 --kl-warmup-steps 2000
PRESETS["sprites"] = {**PRESETS["cpu"], "f_dim": 256, "z_dim": 32}

__all__ = [
    "AT_LEAST_ONE",
    "ConfigBase",
    "DSVAEConfig",
    "NON_NEGATIVE",
    "POSITIVE",
    "Range",
    "did_you_mean",
    "option",
    "PRESETS",
    "Q_Z_CHOICES",
    "Q_F_CHOICES",
    "F_HEAD_CHOICES",
    "Z_INPUT_CHOICES",
    "LIKELIHOOD_CHOICES",
    "Z_VIEW_CHOICES",
]
