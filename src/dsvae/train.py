"""The training loop: epochs of steps, mixed precision and DDP, on a run folder.

One function, :func:`train`, read top-down: set up (device, DDP, seeds, data, model, optimizer),
resume if asked, then epochs of steps, a test-set ELBO and an atomic checkpoint after each, and the
final model. The run folder's life (options, resume rules, lock, records) is
:class:`dsvae.run.TrainingRun`'s; checkpoints are written and read by :mod:`dsvae.run.checkpoint`.
Under ``torchrun``, or in the processes of ``--processes N`` (:mod:`dsvae.launch`), the same code
trains with DistributedDataParallel. Training draws nothing: the
pictures are a later stage's (``dsvae train`` calls :mod:`dsvae.viz` after it returns).
"""

from __future__ import annotations

import csv
import math
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ._io import atomic_dir, atomic_write_text
from .config import PRESETS, DSVAEConfig
from .data import SequenceDataset
from .device import default_channels_last, resolve_device, resolve_precision
from .elbo import ELBO_TERMS, elbo_terms, format_parts
from .launch import run_processes, under_launcher
from .methods import Method
from .model import DSVAE, on_background
from .options import TrainConfig
from .progress import progress
from .recipes import RecipeError
from .run import (
    LOG_COLUMNS,
    CheckpointError,
    RunBusyError,
    TrainingRun,
    TrainRequest,
    check_model_fits,
    last_good_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
)
from .step import TrainingStep, adam, kl_weight, terms_weight


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite. Nothing non-finite is saved: the last
    checkpoint (if any) is the last finite one, and the message says how to go on from it with a
    lower learning rate (``--resume --resume-lr``)."""


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    steps: int
    train: dict  # last epoch's mean loss terms
    test: dict  # last test-set ELBO terms
    wall_s: float
    epochs: int = 0  # the epochs the run is for: finished when epochs_done reaches them
    options: TrainConfig | None = None  # what it trained with (a resumed run: its record's, changed)


# --- set-up helpers ----------------------------------------------------------------------------------


def model_config_for(
    dataset: SequenceDataset, preset: str, overrides: dict, method: Method | None = None
) -> DSVAEConfig:
    """The preset, fitted to the dataset's frames and T, with the method's model switches
    (:attr:`dsvae.methods.Method.model_defaults`) and the user's overrides on top.

    Raises ValueError for a preset of the other kind of frames (a video preset on vector frames or
    the speech preset on video), naming the presets that fit, and for overrides that contradict the
    data's frames."""
    if preset in PRESETS and bool(PRESETS[preset].get("frame_dim")) != (dataset.kind != "video"):
        fits = [n for n, p in PRESETS.items() if bool(p.get("frame_dim")) == (dataset.kind != "video")]
        kind = "video frames" if dataset.kind == "video" else f"vector frames ({dataset.frame_shape[0]} wide)"
        raise ValueError(
            f"preset {preset!r} is for {'vector' if PRESETS[preset].get('frame_dim') else 'video'} frames "
            f"and the data holds {kind}: use --preset {' or '.join(fits)}"
        )
    shape = dict(T=dataset.T)
    if dataset.kind == "video":
        c, h, _ = dataset.frame_shape
        shape.update(channels=c, frame_size=h, frame_dim=0)
    else:
        shape.update(frame_dim=dataset.frame_shape[0])
    switches = method.model_defaults if method is not None else {}
    cfg = DSVAEConfig.preset(preset, **{**shape, **switches, **overrides})
    check_model_fits(cfg, dataset, advice="Drop the overrides that conflict with the data's frames.")
    return cfg


def check_view_fits(cfg: DSVAEConfig, dataset: SequenceDataset, n: int = 64, need: float = 0.3) -> float:
    """Check the assumption of the silhouette views of z (``z_view`` silhouette, silhouette-change):
    each frame's top-left pixel has the colour of a uniform background (model.dynamics_view). Over
    ``n`` training sequences, the share of the frames' pixels on that background
    (:func:`dsvae.model.on_background`: within 4/100 of the top-left pixel in every channel);
    returns it (1.0 when the view is another). Sprites and the embedded data give about 0.75 (a
    character on a plain background, the embedded data with a ground strip); camera footage well
    under 0.05.

    Raises ValueError when the share is under ``need`` (camera footage, a textured or moving
    background): the mask would mark nearly every pixel as the character, and z would train on noise."""
    if not cfg.z_view.startswith("silhouette"):
        return 1.0
    train = dataset.subset("train")
    if len(train) == 0:
        return 1.0
    pos = np.unique(np.linspace(0, len(train) - 1, min(n, len(train))).astype(int))
    x = train.model_batch(pos).float().flatten(0, 1)  # (N*T, C, H, W) in [0, 1]
    share = float(on_background(x).float().mean())
    if share < need:
        raise ValueError(
            f"z_view {cfg.z_view} takes each frame's top-left pixel as a uniform background's colour, "
            f"but in this data only {100 * share:.0f}% of the pixels have that colour (a character on a "
            f"plain background leaves most of them; {100 * need:.0f}% needed): the silhouette would "
            "mark the background, not the character. For camera footage use --set z_view=shared (the "
            "paper's encoder) or --set z_view=gray."
        )
    return share


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(model: torch.nn.Module, tc: TrainConfig, device: torch.device) -> torch.optim.Adam:
    """The run's optimizer: fused Adam with ``tc``'s learning rate and betas
    (:func:`dsvae.step.adam`, the one `dsvae bench` times)."""
    return adam(model.parameters(), tc.lr, tc.betas, fused=True)


def check_batch_norm_batch(batch_size: int, T: int, world: int = 1, sync: bool = False) -> None:
    """Refuse a batch too small to train with. Every BatchNorm of the model (conv and affine layers
    of the frame encoders and decoders) normalises each channel over the frames of a step, B x T of
    them (no BatchNorm normalises over sequences alone), and PyTorch needs more than one value per
    channel in training. Steps are always full (the last partial batch is dropped); under DDP each of
    the ``world`` processes normalises its ``batch_size / world`` sequences on its own, unless
    ``sync`` (SyncBatchNorm, CUDA) pools the whole batch. Raises ValueError with what to change."""
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    per_step = batch_size if sync or world == 1 else batch_size // world
    if per_step * T < 2:
        who = "each step" if world == 1 else f"each of the {world} processes ({batch_size} / {world})"
        raise ValueError(
            f"--batch-size {batch_size} with sequences of T={T} frame{'s' * (T != 1)} gives BatchNorm "
            f"{per_step * T} frame in {who}: in training it normalises each channel over the frames "
            f"of a step (batch x T) and needs at least 2. Use --batch-size {2 * (world if not sync else 1)} "
            "or more."
        )


# --- logging -----------------------------------------------------------------------------------------


class Logger:
    """log.csv (and TensorBoard when it is installed); only rank 0 writes."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.path = run_dir / "log.csv"
        self.enabled = enabled
        self.tb = None
        if enabled:
            if not self.path.exists():
                with self.path.open("w", newline="", encoding="utf-8") as fh:
                    csv.writer(fh).writerow(LOG_COLUMNS)
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self.tb = None  # optional: pip install tensorboard

    def row(self, epoch: int, split: str, terms: dict, seq_per_s: float, wall_s: float) -> None:
        """A row of log.csv (the ELBO terms); the terms beyond the ELBO of a successor's objective
        (dsvae.objectives.TERM_NAMES) go to RUN/objective.csv (epoch, then one column each)."""
        if not self.enabled:
            return
        values = [epoch, split] + [f"{terms[k]:.6g}" for k in ELBO_TERMS]
        with self.path.open("a", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerow(values + [f"{seq_per_s:.4g}", f"{wall_s:.2f}"])
        extra = [k for k in terms if k not in ELBO_TERMS]
        if extra:
            path = self.path.with_name("objective.csv")
            new = not path.exists()
            with path.open("a", newline="", encoding="utf-8") as fh:
                if new:
                    csv.writer(fh).writerow(["epoch", "split", *extra])
                csv.writer(fh).writerow([epoch, split] + [f"{terms[k]:.6g}" for k in extra])
        if self.tb is not None:
            for k in terms:
                self.tb.add_scalar(f"{split}/{k}", terms[k], epoch)
            self.tb.flush()

    def epoch(
        self, epoch: int, epochs: int, train: dict, test: dict, seq_s: float, wall_s: float, show: bool
    ) -> None:
        """The rows of an epoch (train: its mean terms and speed; test: the test-set ELBO) and, with
        ``show``, one line on the terminal."""
        self.row(epoch, "train", train, seq_s, wall_s)
        self.row(epoch, "test", test, float("nan"), wall_s)
        if show:
            extra = "".join(f"  {k} {v:.3g}" for k, v in train.items() if k not in ELBO_TERMS)
            tqdm.write(
                f"epoch {epoch}/{epochs}  train loss {train['loss']:.2f}  test loss {test['loss']:.2f} "
                f"({format_parts(test)}){extra}  "
                f"{seq_s:.1f} seq/s"
            )

    def truncate_after(self, epoch: int) -> None:
        """On resume, drop rows of epochs that the checkpoint does not contain."""
        if not (self.enabled and self.path.exists()):
            return
        for path in (self.path, self.path.with_name("objective.csv")):
            if path.exists():
                with path.open(newline="", encoding="utf-8") as fh:
                    rows = list(csv.reader(fh))
                kept = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= epoch]
                atomic_write_text(path, "".join(",".join(r) + "\n" for r in kept))


# --- the loop -----------------------------------------------------------------------------------------


def train(
    tc: TrainConfig | TrainRequest,
    run_dir: str | Path,
    resume: bool = False,
    force: bool = False,
    recipe: dict | None = None,
    resume_lr: float | None = None,
) -> TrainResult:
    """Train a DSVAE as ``tc`` says into the run folder ``run_dir`` (config.json, train.json, env.json,
    log.csv, checkpoints/last, model/; no pictures, :func:`dsvae.viz.write_run_train_pictures` draws
    them from the run folder): a new run, ``resume`` one from its last checkpoint (bit-exact; of
    ``tc`` only the fields of :data:`~dsvae.run.MAY_CHANGE_ON_RESUME` are used, see
    :func:`~dsvae.run.resumed_config`; a :class:`~dsvae.run.TrainRequest`, the command line's, is
    merged with the run's record or a recipe there), or ``force`` over an old one. ``recipe``
    (:meth:`dsvae.recipes.Recipe.record`: name, sha256, source, text) is recorded in RUN/train.json and
    RUN/recipe.toml. ``resume_lr``: a resumed run goes on with this learning rate, recorded in
    RUN/train.json (``lr_changes``). The folder's life (lock, clearing, records) is
    :class:`~dsvae.run.TrainingRun`'s (the options a resumed run changes are said on stderr).
    Under torchrun, DistributedDataParallel. Returns a :class:`TrainResult`.

    Raises FileExistsError for a folder that holds a run (without resume/force), RunBusyError while
    another process trains into it, FileNotFoundError / CheckpointError for a run that cannot be
    resumed, ValueError for settings or data that cannot work, TrainingDiverged for a non-finite
    loss or weights (nothing non-finite is saved; the last finite checkpoint is kept)."""
    t_start = time.perf_counter()
    is_main = int(os.environ.get("RANK", "0")) == 0  # (torchrun's; before the options are resolved)
    with TrainingRun.open(tc, run_dir, resume, force, recipe, is_main=is_main, resume_lr=resume_lr) as run:
        processes = _processes(run.tc)
        if processes == 1 or under_launcher():
            for line in run.changes if is_main else ():
                print(f"dsvae train: resuming with {line}", file=sys.stderr)
            world, rank, device = _distributed(run.tc)
            return _train(run, world, rank, device, t_start)
    # checked above (options, the folder); the processes open the run again, rank 0 holding its lock
    return run_processes(
        processes, train, (tc, run_dir), dict(resume=resume, force=force, recipe=recipe, resume_lr=resume_lr),
        errors=(TrainingDiverged, RunBusyError, CheckpointError, RecipeError),
    )  # fmt: skip


def _processes(tc: TrainConfig) -> int:
    """How many processes train ``tc`` here: ``tc.processes`` on a CPU; one on an accelerator
    (said on stderr: there ``torchrun --nproc-per-node`` gives each process its device)."""
    if tc.processes == 1 or under_launcher():
        return tc.processes
    device = resolve_device(tc.device)
    if device.type != "cpu":
        print(
            f"dsvae train: --processes {tc.processes} is for CPU training; training in one process on "
            f"{device} (for several GPUs: torchrun --nproc-per-node N -m dsvae.cli "
            "train ...)",
            file=sys.stderr,
        )
        return 1
    return tc.processes


@dataclass
class _Loop:
    """A training loop's state between its parts (:func:`_set_up`, :func:`_epoch`): the options, the
    model and its optimizer step, the data, where in the schedule it is, the last epoch's terms."""

    run: TrainingRun
    world: int
    rank: int
    device: torch.device
    precision: str
    t_start: float
    model: DSVAE
    opt: torch.optim.Optimizer
    net: torch.nn.Module
    train_step: TrainingStep
    train_ds: SequenceDataset
    test_ds: SequenceDataset
    logger: Logger
    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0
    train_terms: dict = field(default_factory=dict)
    test_terms: dict = field(default_factory=dict)

    @property
    def tc(self) -> TrainConfig:
        return self.run.tc

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def steps_per_epoch(self) -> int:
        return self.train_ds.num_batches(self.tc.batch_size, drop_last=True)


def _train(run: TrainingRun, world: int, rank: int, device: torch.device, t_start: float) -> TrainResult:
    loop = _set_up(run, world, rank, device, t_start)
    stop = False
    while loop.epoch < loop.tc.epochs and not stop:
        stop = _epoch(loop)
    tc, run_dir = loop.tc, run.path
    if loop.is_main and loop.epoch >= tc.epochs:
        with atomic_dir(run_dir / "model", force=True) as tmp:
            loop.model.save(tmp)
    if world > 1:
        dist.barrier()
    wall_s = time.perf_counter() - t_start
    return TrainResult(
        run_dir, loop.epoch, loop.step, loop.train_terms, loop.test_terms, wall_s, tc.epochs, tc
    )


def _set_up(run: TrainingRun, world: int, rank: int, device: torch.device, t_start: float) -> _Loop:
    """Seeds, data, model, optimizer (from the checkpoint on resume), the run's records and the
    step, in the order the random draws of a run depend on."""
    tc, run_dir, distributed = run.tc, run.path, world > 1
    precision = resolve_precision(tc.precision, device)
    seed_everything(tc.seed + rank)
    dataset = run.dataset()
    train_ds, test_ds = _splits(tc, dataset, world, sync=distributed and device.type == "cuda")
    method = tc.method_instance()
    cfg = model_config_for(dataset, tc.preset, tc.model_overrides, method)
    check_view_fits(cfg, dataset)
    model, channels_last = _model_on(cfg, tc, device)
    opt = make_optimizer(model, tc, device)
    epoch, step_in_epoch, step = 0, 0, 0
    if not run.fresh:  # (a failed start resumes from step 0)
        state = load_checkpoint(run_dir, model, opt, device, rank)
        epoch, step_in_epoch, step = state["epoch"], state["step_in_epoch"], state["step"]
    memory_format = "channels_last" if channels_last else "contiguous"
    run.start(
        cfg, dataset, at_step=step, precision=precision, memory_format=memory_format, device=str(device),
        world_size=world,
    )  # fmt: skip
    logger = Logger(run_dir, rank == 0)
    if run.resume:
        logger.truncate_after(epoch)
    net = _wrapped(model, tc, device, distributed)
    train_step = TrainingStep.of(net, model, opt, tc, device, precision, method)
    return _Loop(
        run, world, rank, device, precision, t_start, model, opt, net, train_step, train_ds, test_ds, logger,
        epoch, step_in_epoch, step,
    )  # fmt: skip


def _epoch(loop: _Loop) -> bool:
    """The rest of the current epoch: its steps, then (when it ran to its end) the test-set ELBO,
    the log rows and a checkpoint. Returns whether training stops (``max_steps``, ``max_minutes``;
    checkpointed where it stopped)."""
    tc, run_dir, model = loop.tc, loop.run.path, loop.model
    steps_per_epoch = loop.steps_per_epoch
    loop.net.train()
    t_epoch = time.perf_counter()
    first_step = loop.step_in_epoch  # > 0 when resumed mid-epoch: only the rest is timed
    sums, n_seen, stop = _steps(loop)
    if loop.step_in_epoch < steps_per_epoch:  # stopped mid-epoch (max_steps, max_minutes): checkpoint
        _check_finite(model, sums, n_seen, tc, run_dir, loop.epoch, loop.step)
        _save(loop, loop.epoch, loop.step_in_epoch, loop.step)
        return True
    epoch_s = time.perf_counter() - t_epoch
    names = loop.train_step.term_names()
    loop.train_terms = dict(zip(names, _all_mean(sums / max(n_seen, 1), loop.world > 1)))
    _check_finite(model, sums, n_seen, tc, run_dir, loop.epoch, loop.step)
    if loop.is_main:
        test_terms = elbo_terms(model, loop.test_ds, max(tc.batch_size, 50), loop.device, loop.precision)
        loop.test_terms = test_terms
        _check_finite(
            model, torch.tensor(list(test_terms.values())), 1, tc, run_dir, loop.epoch, loop.step, "test "
        )
        seq_s = (steps_per_epoch - first_step) * tc.batch_size / epoch_s
        loop.logger.epoch(
            loop.epoch + 1, tc.epochs, loop.train_terms, test_terms, seq_s, epoch_s, tc.progress
        )
    loop.epoch, loop.step_in_epoch = loop.epoch + 1, 0
    _save(loop, loop.epoch, 0, loop.step)
    if loop.world > 1:
        dist.barrier()
    return stop


def _steps(loop: _Loop) -> tuple[torch.Tensor, int, bool]:
    """The optimizer steps of the current epoch from ``loop.step_in_epoch`` on, with the progress
    bar, the logging windows and the checkpoints inside the epoch; returns the summed terms, the
    steps summed, and whether a limit stopped it."""
    tc, run_dir, model = loop.tc, loop.run.path, loop.model
    steps_per_epoch = loop.steps_per_epoch
    total_steps = tc.epochs * steps_per_epoch
    names = loop.train_step.term_names()  # the ELBO's terms, then the method's (if any)
    sums = torch.zeros(len(names), device=loop.device)
    n_seen, stop = 0, False
    bar = progress(
        total=steps_per_epoch, initial=loop.step_in_epoch, desc=f"epoch {loop.epoch + 1}/{tc.epochs}",
        disable=not (loop.is_main and tc.progress), dynamic_ncols=True, leave=False,
    )  # fmt: skip
    batches = loop.train_ds.batches(
        tc.batch_size, shuffle=True, seed=tc.seed, epoch=loop.epoch, drop_last=True, rank=loop.rank,
        world_size=loop.world, start=loop.step_in_epoch,
    )  # fmt: skip
    t_window, n_window = time.perf_counter(), 0
    for pos in batches:
        x = loop.train_ds.model_batch(pos, loop.device)
        lr = learning_rate(tc, loop.step, total_steps)
        terms = terms_weight(loop.step, tc.terms_start_step, tc.terms_warmup_steps)
        sums += loop.train_step(x, kl_weight(loop.step, tc.kl_warmup_steps), lr, terms)
        n_seen, n_window = n_seen + 1, n_window + len(pos) * loop.world
        loop.step, loop.step_in_epoch = loop.step + 1, loop.step_in_epoch + 1
        step = loop.step
        bar.update(1)
        if step % tc.log_every == 0 or loop.step_in_epoch == steps_per_epoch:
            now = time.perf_counter()
            _show(bar, names, sums / n_seen, n_window / (now - t_window), run_dir, loop.epoch, step, tc.lr)
            t_window, n_window = now, 0
        if tc.checkpoint_every and step % tc.checkpoint_every == 0 and loop.step_in_epoch < steps_per_epoch:
            _check_finite(model, sums, n_seen, tc, run_dir, loop.epoch, step)
            _save(loop, loop.epoch, loop.step_in_epoch, step)
        stop = bool(tc.max_steps and step >= tc.max_steps) or bool(
            tc.max_minutes and time.perf_counter() - loop.t_start >= 60 * tc.max_minutes
        )
        if stop:
            break
    bar.close()
    return sums, n_seen, stop


def _save(loop: _Loop, epoch: int, step_in_epoch: int, step: int) -> None:
    """The checkpoint, written by rank 0; under DDP every rank takes part (its RNG states are kept
    beside rank 0's, so that a resumed run continues every process's draws)."""
    others = None
    if loop.world > 1:
        states: list = [None] * loop.world
        dist.all_gather_object(states, rng_state())  # (between this run's own processes)
        others = states[1:]
    if loop.is_main:
        save_checkpoint(loop.run.path, loop.model, loop.opt, epoch, step_in_epoch, step, others)


def _model_on(cfg: DSVAEConfig, tc: TrainConfig, device: torch.device) -> tuple[DSVAE, bool]:
    """A new model of ``cfg`` on ``device``, in channels_last memory where ``tc`` asks for it or (by
    default) where :func:`dsvae.device.default_channels_last` finds it faster; and whether it is."""
    model = DSVAE(cfg).to(device)
    channels_last = cfg.is_video and (
        default_channels_last(cfg, device) if tc.channels_last is None else tc.channels_last
    )
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, channels_last


def _distributed(tc: TrainConfig) -> tuple[int, int, torch.device]:
    """(world size, rank, device) of this process; under torchrun (which sets WORLD_SIZE, RANK,
    LOCAL_RANK) the process group is set up and each process takes its own GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(tc.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if tc.batch_size % world:
            raise ValueError(f"--batch-size {tc.batch_size} must be a multiple of the {world} processes")
    return world, rank, device


def _splits(
    tc: TrainConfig, dataset: SequenceDataset, world: int, sync: bool
) -> tuple[SequenceDataset, SequenceDataset]:
    """The training split and the sequences of the test-set ELBO (the first 256 training sequences
    where the data has no test split), after the checks that the batch can train."""
    train_ds, test_ds = dataset.subset("train"), dataset.subset("test")
    if len(train_ds) < tc.batch_size:
        raise ValueError(
            f"the training split has {len(train_ds)} sequences, fewer than one batch of {tc.batch_size}"
        )
    check_batch_norm_batch(tc.batch_size, dataset.T, world, sync=sync)
    if len(test_ds) == 0:
        test_ds = train_ds.subset(np.arange(min(len(train_ds), 256)))
    return train_ds, test_ds


def _wrapped(model: DSVAE, tc: TrainConfig, device: torch.device, distributed: bool) -> torch.nn.Module:
    """The module the steps call: DDP (with SyncBatchNorm on CUDA) under torchrun, compiled if asked."""
    net: torch.nn.Module = model
    if distributed:
        if device.type == "cuda":
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device] if device.type == "cuda" else None
        )
    if tc.compile:
        net = torch.compile(net)
    return net


def _show(
    bar,
    names: tuple[str, ...],
    mean: torch.Tensor,
    seq_s: float,
    run_dir: Path,
    epoch: int,
    step: int,
    lr: float,
) -> None:
    """The one host synchronisation of a logging window: the window's mean terms on the progress bar;
    raises TrainingDiverged when they are not finite."""
    values = mean.tolist()
    if not all(math.isfinite(v) for v in values):
        raise TrainingDiverged(diverged_advice(f"the loss became {values[0]}", run_dir, epoch, step, lr))
    shown = {k: f"{v:.1f}" if k in ("loss", "recon") else f"{v:.2f}" for k, v in zip(names, values)}
    bar.set_postfix(refresh=False, **shown, seq_s=f"{seq_s:.1f}")


def learning_rate(tc: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total_steps``: ``tc.lr``, except
    over the last ``tc.lr_decay_steps`` steps, where it follows a half cosine from ``tc.lr`` towards
    0 (Loshchilov & Hutter, ICLR 2017, eq. 5, one cycle). A function of the step alone, so a resumed
    run continues the same schedule."""
    if not tc.lr_decay_steps:
        return tc.lr
    start = total_steps - tc.lr_decay_steps
    if step < start:
        return tc.lr
    progress = (step - start + 1) / (tc.lr_decay_steps + 1)
    return tc.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _check_finite(
    model: DSVAE,
    sums: torch.Tensor,
    n: int,
    tc: TrainConfig,
    run_dir: Path,
    epoch: int,
    step: int,
    what: str = "",
) -> None:
    """Before anything is saved or logged as a result: the summed terms ``sums`` (of ``n`` steps)
    and every weight of ``model`` finite. One step with a huge learning rate can leave a finite loss
    behind and non-finite weights, which the next checkpoint would keep. Raises TrainingDiverged."""
    if n and not torch.isfinite(sums).all():
        raise TrainingDiverged(
            diverged_advice(f"the {what}loss became non-finite", run_dir, epoch, step, tc.lr)
        )
    weights = [p.detach() for p in model.parameters()]
    if not all(torch.isfinite(n).all() for n in torch._foreach_norm(weights)):
        raise TrainingDiverged(diverged_advice("the weights became non-finite", run_dir, epoch, step, tc.lr))


def diverged_advice(what: str, run_dir: Path, epoch: int, step: int, lr: float) -> str:
    """The message of a diverged run: what became non-finite and when, what is kept, and the command
    that goes on from the last finite checkpoint (or starts over, where none was written) with a
    learning rate ten times lower, recorded in RUN/train.json."""
    good = last_good_checkpoint(run_dir)
    kept = (
        f"the last good checkpoint {good[0]} (step {good[1]}, finite) is kept and nothing after it was saved"
        if good is not None
        else "no checkpoint was written before it, so the run starts over from step 0"
    )
    again = f"dsvae train --resume --out {shlex.quote(str(run_dir))} --resume-lr {lr / 10:g}"
    return (
        f"{what} at epoch {epoch + 1}, step {step} (learning rate {lr:g}); {kept}. Go on with a lower "
        f"learning rate (recorded in train.json): {again}"
    )


def _all_mean(t: torch.Tensor, distributed: bool) -> list[float]:
    if distributed:
        t = t.clone()
        dist.all_reduce(t)
        t /= dist.get_world_size()
    return t.tolist()


__all__ = ["TrainResult", "TrainingDiverged", "train"]
