"""DSVAEConfig: every size and switch of the model, and the named presets.

One tensor layout everywhere: a batch of sequences is ``(B, T, C, H, W)`` for video frames and
``(B, T, D)`` for vector frames (speech features), values of video frames in ``[0, 1]``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from dataclasses import dataclass
from pathlib import Path

Q_Z_CHOICES = ("factorized", "full", "full-no-f")
Q_F_CHOICES = ("sequence", "first-frame")
Z_INPUT_CHOICES = ("frames", "minus-first")
FRAME_CONTEXT_CHOICES = ("frame", "sequence")
LIKELIHOOD_CHOICES = ("gaussian", "bernoulli")
Z_VIEW_CHOICES = ("shared", "silhouette", "silhouette-change", "gray")


def _example(default) -> str:
    """A field's default as ``--set`` writes it (tuples comma-separated)."""
    if isinstance(default, tuple):
        return ",".join(str(i) for i in default) or "16,32"
    return str(default)


@dataclass
class DSVAEConfig:
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
    # and tanh over the first frame's features alone (DBSE, Berman et al. 2024, sec. 4)
    q_f: str = "sequence"
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

    def __post_init__(self) -> None:
        self._check_types()
        self.validate()

    def _check_types(self) -> None:
        """Every field of its annotated kind (values from JSON or ``--set`` may be anything): ints
        stay ints, floats accept ints, tuples of ints accept a list or a single int. Raises
        ValueError naming the field, the value and an example."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            v, kind = getattr(self, f.name), hints[f.name]
            example = f"e.g. --set {f.name}={_example(f.default)}"
            if kind is int:
                ok = isinstance(v, int) and not isinstance(v, bool)
                what = "a whole number"
            elif kind is float:
                ok = isinstance(v, (int, float)) and not isinstance(v, bool)
                what = "a number"
                if ok:
                    setattr(self, f.name, float(v))
            elif kind is str:
                ok, what = isinstance(v, str), "a string"
            else:  # tuple[int, ...]
                items = (v,) if isinstance(v, int) else v
                ok = isinstance(items, (list, tuple)) and all(
                    isinstance(i, int) and not isinstance(i, bool) for i in items
                )
                what = "whole numbers separated by commas"
                if ok:
                    setattr(self, f.name, tuple(items))
            if not ok:
                raise ValueError(
                    f"DSVAEConfig: {f.name} must be {what}, got {v!r} ({type(v).__name__}); {example}"
                )

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
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"DSVAEConfig: {msg}")

        need(self.q_z in Q_Z_CHOICES, f"q_z must be one of {Q_Z_CHOICES}, got {self.q_z!r}")
        need(
            self.likelihood in LIKELIHOOD_CHOICES,
            f"likelihood must be one of {LIKELIHOOD_CHOICES}, got {self.likelihood!r}",
        )
        need(self.q_f in Q_F_CHOICES, f"q_f must be one of {Q_F_CHOICES}, got {self.q_f!r}")
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
        fields = dict(PRESETS[name])
        known = [f.name for f in dataclasses.fields(cls)]
        for key in overrides:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=3)
                hint = f"did you mean {' or '.join(close)}?" if close else f"the fields: {', '.join(known)}"
                raise ValueError(f"unknown DSVAEConfig field {key!r} (--set {key}=...): {hint}")
        fields.update(overrides)
        return cls(**fields)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DSVAEConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"config has unknown fields {sorted(unknown)}; is it from a newer dsvae?")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> DSVAEConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

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
    "DSVAEConfig",
    "PRESETS",
    "Q_Z_CHOICES",
    "Q_F_CHOICES",
    "Z_INPUT_CHOICES",
    "LIKELIHOOD_CHOICES",
    "Z_VIEW_CHOICES",
]
