"""The options of a training run (:class:`TrainConfig`, recorded in RUN/train.json) and the option
fields every command shares (device, precision, an output folder, --force), each written once.

Beside :mod:`dsvae.config` (the model's options and the config base) rather than in it: TrainConfig
checks its method through :mod:`dsvae.methods`, which itself imports :mod:`dsvae.config`. The command
line's options are generated from these fields (cli.py), and so are the other commands'
(:mod:`dsvae.commands`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, ConfigBase, Range, option
from .data.sources import data_help
from .device import DEVICES_HELP, PRECISIONS
from .methods import Method, make_method, method_ref


def device_option(default: str = "auto"):
    """The ``--device`` field of every command that computes: the same values and words everywhere."""
    return option(default, DEVICES_HELP)


def precision_option(what: str = ""):
    """The ``--precision`` field; ``what``: what the precision applies to (e.g. "of the fast path")."""
    of = f" {what}" if what else ""
    return option(
        "auto", f"bf16 autocast or fp32{of}; auto uses bf16 where the hardware has it", choices=PRECISIONS
    )


def force_option(what: str = "an existing --out"):
    """The ``--force`` switch: replace ``what`` instead of refusing to write over it."""
    return option(False, f"replace {what}", action="store_true")


def out_option(what: str, default: str | None = None, required: bool = False, **kw):
    """The ``--out`` field: the folder a command writes (``what`` says which, and what to do next)."""
    return option(default, what, required=required, metavar=kw.pop("metavar", "DIR"), **kw)


@dataclass
class TrainConfig(ConfigBase):
    """Every training option of a run: what ``dsvae train`` and a recipe set, recorded in
    RUN/train.json. The command line's options are generated from these fields (cli.py); kinds and
    ranges are checked where a TrainConfig is made (:class:`~dsvae.config.ConfigBase`), and the
    method's options against its dataclass (:mod:`dsvae.methods`)."""

    WHAT = "training option"

    data: str = option("synthetic", data_help())
    preset: str = option("cpu", "model preset: paper, cpu, sprites, tiny, speech (dsvae.config.PRESETS)")
    model_overrides: dict = option(
        {},
        "override a DSVAEConfig field over the preset, e.g. --set z_dim=8 (repeatable; over the recipe's)",
        flag="--set",
        metavar="FIELD=VALUE",
    )
    epochs: int = option(10, "epochs in all", AT_LEAST_ONE)
    batch_size: int = option(
        25, "the global batch; under DDP each of the W processes takes batch_size / W", AT_LEAST_ONE
    )
    lr: float = option(2e-4, "Adam learning rate", POSITIVE)
    betas: tuple[float, float] = option(
        (0.9, 0.999), "Adam betas, as B1,B2", Range(0, 1, high_open=True), metavar="B1,B2"
    )
    kl_warmup_steps: int = option(
        0,
        "linear warm-up of the KL weight from 0 to 1 over this many steps (0: the plain ELBO)",
        NON_NEGATIVE,
    )
    lr_decay_steps: int = option(
        0, "decay the learning rate to 0 (half cosine) over the last N steps (0: constant)", NON_NEGATIVE
    )
    grad_clip: float = option(
        0.0, "clip the global gradient norm to this value (0: no clipping)", NON_NEGATIVE
    )
    # the weights of the ELBO's terms (all 1: the ELBO itself; SPYL's public code weighs them 10 : 5 : 1)
    recon_weight: float = option(1.0, "weight of the reconstruction term", POSITIVE)
    kl_f_weight: float = option(1.0, "weight of KL(f), times the KL warm-up's", NON_NEGATIVE)
    kl_z_weight: float = option(1.0, "weight of KL(z), times the KL warm-up's", NON_NEGATIVE)
    terms_start_step: int = option(
        0,
        "the method's terms beyond the ELBO start at this optimizer step (0: from the first; SPYL's "
        "public code starts them after 5%% of training)",
        NON_NEGATIVE,
    )
    terms_warmup_steps: int = option(
        0, "then rise linearly to their weights over this many steps (0: at once)", NON_NEGATIVE
    )
    delayed_terms: tuple[str, ...] = option(
        (),
        "the method's terms that terms_start_step and terms_warmup_steps hold off, by name, as T1,T2 "
        "(none named: all of them; dsvae methods lists each method's terms)",
        metavar="T1,T2",
    )
    method: str = option(
        "dsvae",
        "the method: dsvae, cdsvae, dbse, spyl (dsvae methods lists them with their options), an "
        "installed package's (entry point dsvae.methods), module:Class or path/to/file.py:Class",
    )
    method_options: dict = option(
        {},
        "an option of the method, e.g. --method-option contrastive_f=10 (repeatable; over the recipe's "
        "[method] table; dsvae methods lists each method's options)",
        flag="--method-option",
    )
    seed: int = option(
        0, "seed of the model's initialisation, the batches and the sampled latents", NON_NEGATIVE
    )
    data_seed: int = option(0, "seed of generated data (synthetic)", NON_NEGATIVE)
    precision: str = precision_option()
    device: str = device_option()
    processes: int = option(
        1,
        "data-parallel training processes on this machine's CPU (DDP on gloo, as torchrun "
        "--nproc-per-node N starts them), each with cores / N threads; 1: one process with a thread "
        "per core. A run's numbers depend on it: it stays as recorded on --resume",
        AT_LEAST_ONE,
    )
    channels_last: bool | None = option(
        None, "channels_last convolutions (default: where measured faster, dsvae.device)"
    )
    compile: bool = option(False, "torch.compile the model")
    log_every: int = option(10, "steps between host synchronisations (progress bar, NaN check)", AT_LEAST_ONE)
    checkpoint_every: int = option(
        0, "also checkpoint every N steps inside an epoch (0: at epoch ends only)", NON_NEGATIVE
    )
    max_steps: int = option(
        0, "stop (checkpointed) after this many steps in all (0: run the epochs)", NON_NEGATIVE
    )
    max_minutes: float = option(
        0.0,
        "stop (checkpointed) after this many minutes of this invocation (0: none); continue with --resume",
        NON_NEGATIVE,
    )
    pictures: bool = option(
        True, "after training, draw the reconstructions and swaps into RUN/pictures (dsvae viz: the rest)"
    )
    progress: bool = option(True, "show progress bars")

    @classmethod
    def flag(cls, name: str) -> str:
        """How a user sets the field ``name``: its flag (``--set`` for model_overrides, ...)."""
        field = next((f for f in dataclasses.fields(cls) if f.name == name), None)
        return field.metadata.get("flag", super().flag(name)) if field is not None else super().flag(name)

    def validate(self) -> None:
        """The method exists and its options are its dataclass's (filled in with its defaults,
        so that RUN/train.json records every option the run trained with); the delayed terms are
        its terms; the batch shares out over the processes. Raises ValueError
        (:class:`~dsvae.methods.MethodError`)."""
        if self.batch_size % self.processes:
            raise ValueError(
                f"--batch-size {self.batch_size} does not share out over --processes {self.processes}: "
                f"each process takes batch_size / processes sequences; use a multiple of {self.processes}"
            )
        self.method = method_ref(self.method)
        method = self.method_instance()
        self.method_options = method.options.to_dict()
        unknown = [t for t in self.delayed_terms if t not in method.term_names()]
        if unknown:
            raise ValueError(
                f"delayed_terms (--delayed-terms) names {', '.join(map(repr, unknown))}, which method "
                f"{method.name} does not compute with these options; its terms: "
                f"{', '.join(method.term_names()) or 'none'} (a term of weight 0 is off)"
            )

    def method_instance(self, source: dict | None = None) -> Method:
        """The method with its options (:func:`dsvae.methods.make_method`; ``source``: the run's
        record of where it came from, for the message when it cannot be imported)."""
        return make_method(self.method, self.method_options, source)


__all__ = ["TrainConfig", "device_option", "force_option", "out_option", "precision_option"]
