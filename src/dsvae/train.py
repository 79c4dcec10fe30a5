"""The training loop: run folders, checkpoints, resume, mixed precision and DDP.

One function, :func:`train`, read top-down: set up (device, DDP, seeds, data, model, optimizer),
resume if asked, then epochs of steps, a test-set ELBO and an atomic checkpoint after each, and the
final model. Under ``torchrun`` the same code trains with DistributedDataParallel. Training draws
nothing: the pictures are a later stage's (``dsvae train`` calls :mod:`dsvae.viz` after it returns).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import pickle
import platform
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from ._io import (
    DamagedFileError,
    atomic_dir,
    atomic_write_text,
    one_line,
    recover_dir,
    verify_checksums,
    write_file,
)
from .checkpoint import record_checkpoint
from .config import PRESETS, DSVAEConfig
from .data import SequenceDataset, open_dataset
from .device import PRECISIONS, autocast, cpu_info, default_channels_last, resolve_device, resolve_precision
from .elbo import elbo_terms
from .model import DSVAE
from .progress import progress
from .run import (
    DATA_LOCATION,
    LOG_COLUMNS,
    RUN_OUTPUTS,
    data_location,
    is_failed_start,
    open_run_dataset,
    read_train_options,
    run_data_checksums,
)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _option(default, help: str, **argparse_kw):
    """A TrainConfig field whose ``dsvae train`` option (``--field-name``) is generated from it: the
    help text and any argparse settings (choices, metavar) live here, written once."""
    if isinstance(default, (dict, list, tuple)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **argparse_kw})
    return field(default=default, metadata={"help": help, **argparse_kw})


@dataclass
class TrainConfig:
    """Every training option of a run: what ``dsvae train`` and a recipe set, recorded in
    RUN/train.json. The command line's options are generated from these fields (cli.py)."""

    data: str = _option(
        "synthetic",
        "synthetic, synthetic-shifted, sprites, fsdd, or a dataset folder (dsvae data ...); with "
        "--resume: the run's data in a new place (checked against the run's checksums)",
    )
    preset: str = _option("cpu", "model preset: paper, cpu, sprites, tiny, speech (dsvae.config.PRESETS)")
    model_overrides: dict = _option({}, "DSVAEConfig fields over the preset, e.g. {'z_dim': 8}")
    epochs: int = _option(10, "epochs in all")
    batch_size: int = _option(25, "the global batch; under DDP each of the W processes takes batch_size / W")
    lr: float = _option(2e-4, "Adam learning rate")
    betas: tuple[float, float] = _option((0.9, 0.999), "Adam betas, as B1,B2", metavar="B1,B2")
    kl_warmup_steps: int = _option(
        0, "linear warm-up of the KL weight from 0 to 1 over this many steps (0: the plain ELBO)"
    )
    lr_decay_steps: int = _option(
        0, "decay the learning rate to 0 (half cosine) over the last N steps (0: constant)"
    )
    grad_clip: float = _option(0.0, "clip the global gradient norm to this value (0: no clipping)")
    seed: int = _option(0, "seed of the model's initialisation, the batches and the sampled latents")
    data_seed: int = _option(0, "seed of generated data (synthetic)")
    precision: str = _option(
        "auto", "bf16 autocast or fp32; auto uses bf16 where the hardware has it", choices=PRECISIONS
    )
    device: str = _option("auto", "auto, cpu, cuda, cuda:1, ...")
    channels_last: bool | None = _option(
        None, "channels_last convolutions (default: where measured faster, dsvae.device)"
    )
    compile: bool = _option(False, "torch.compile the model")
    log_every: int = _option(10, "steps between host synchronisations (progress bar, NaN check)")
    checkpoint_every: int = _option(
        0, "also checkpoint every N steps inside an epoch (0: at epoch ends only)"
    )
    max_steps: int = _option(0, "stop (checkpointed) after this many steps in all (0: run the epochs)")
    max_minutes: float = _option(
        0.0,
        "stop (checkpointed) after this many minutes of this invocation (0: none); continue with --resume",
    )
    pictures: bool = _option(
        True, "after training, draw the reconstructions and swaps into RUN/pictures (dsvae viz: the rest)"
    )
    progress: bool = _option(True, "show progress bars")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    steps: int
    train: dict  # last epoch's mean loss terms
    test: dict  # last test-set ELBO terms
    wall_s: float
    epochs: int = 0  # the epochs the run is for: finished when epochs_done reaches them


# what a resumed run may change: its length and the machine it runs on; everything else would make
# it another run than the one it continues
MAY_CHANGE_ON_RESUME = (
    "epochs",
    "max_steps",
    "max_minutes",
    "device",
    "progress",
    "pictures",
    "log_every",
    "checkpoint_every",
)
# train.json entries beside the TrainConfig fields: where the data is, and the recipe of the run
RUN_RECORD_EXTRA = (*DATA_LOCATION, "recipe")


def resumed_config(run_dir: str | Path, changes: dict) -> tuple[TrainConfig, list[str]]:
    """The TrainConfig a run recorded in RUN/train.json, with ``changes`` (TrainConfig fields) applied
    where a resumed run may change them (:data:`MAY_CHANGE_ON_RESUME`). Returns the config and one
    line per option changed ("epochs: 16 -> 20").

    Raises ValueError naming every other option of ``changes`` whose value differs from the recorded
    one (with that value): continuing a run with another learning rate, batch or model would silently
    train something else. ``data`` is not compared (a moved data folder is relocated and checked by
    its checksums, :func:`dsvae.run.relocate_data`)."""
    saved = {k: v for k, v in read_train_options(run_dir).items() if k not in RUN_RECORD_EXTRA}
    recorded = TrainConfig(**{**saved, "betas": tuple(saved.get("betas", TrainConfig().betas))})
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    applied, refused = [], []
    for key, value in changes.items():
        if key not in fields:
            raise ValueError(f"unknown training option {key!r}")
        old = getattr(recorded, key)
        if key == "data" or _same(value, old):
            continue
        if key in MAY_CHANGE_ON_RESUME:
            setattr(recorded, key, value)
            applied.append(f"{key}: {_shown(old)} -> {_shown(value)}")
        else:
            flag = "--set" if key == "model_overrides" else "--" + key.replace("_", "-")
            refused.append(f"{flag} {_shown(value)} (the run recorded {_shown(old)})")
    if refused:
        raise ValueError(
            f"{run_dir} was trained with other options, and a resumed run continues with the ones it "
            "recorded: " + "; ".join(refused) + ". Drop them to continue the run as it was, or train a "
            "new run into another --out (or start this one over with --force). Only "
            + ", ".join(f"--{k.replace('_', '-')}" for k in MAY_CHANGE_ON_RESUME)
            + " may change on --resume."
        )
    return recorded, applied


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _shown(value) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={_shown(v)}" for k, v in value.items()) or "{}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


# --- set-up helpers ----------------------------------------------------------------------------------


def model_config_for(dataset: SequenceDataset, preset: str, overrides: dict) -> DSVAEConfig:
    """The preset, fitted to the dataset's frames and T, with the user's overrides on top.

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
    cfg = DSVAEConfig.preset(preset, **{**shape, **overrides})
    if cfg.frame_shape != dataset.frame_shape or cfg.T != dataset.T:
        raise ValueError(
            f"model frames {cfg.frame_shape} x T={cfg.T} do not match the data's "
            f"{dataset.frame_shape} x T={dataset.T}; drop the conflicting overrides"
        )
    return cfg


def check_view_fits(cfg: DSVAEConfig, dataset: SequenceDataset, n: int = 64, need: float = 0.8) -> float:
    """Check the assumption of the silhouette views of z (``z_view`` silhouette, silhouette-change):
    each frame's top-left pixel is the colour of a uniform background (model.dynamics_view). Over
    ``n`` training sequences, the share of the frames' border pixels within the view's tolerance
    (4/100 in every channel) of the top-left pixel; returns it (1.0 when the view is another).

    Raises ValueError when the share is under ``need`` (camera footage, a textured or moving
    background): the mask would mark the background as the character, and z would train on noise."""
    if not cfg.z_view.startswith("silhouette"):
        return 1.0
    train = dataset.subset("train")
    if len(train) == 0:
        return 1.0
    pos = np.unique(np.linspace(0, len(train) - 1, min(n, len(train))).astype(int))
    x = train.normalize(train.get_batch(pos)).float().flatten(0, 1)  # (N*T, C, H, W) in [0, 1]
    corner = x[:, :, :1, :1]
    border = torch.cat([x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1]], dim=2)  # (N*T, C, 4W)
    share = float(((border - corner[..., 0]).abs().amax(dim=1) <= 0.04).float().mean())
    if share < need:
        raise ValueError(
            f"z_view {cfg.z_view} takes each frame's top-left pixel as a uniform background's colour, "
            f"but in this data only {100 * share:.0f}% of the frames' border pixels have that colour "
            f"(a uniform background gives nearly 100%; {100 * need:.0f}% needed): the silhouette would "
            "mark the background, not the character. For camera footage use --set z_view=shared (the "
            "paper's encoder) or --set z_view=gray."
        )
    return share


def environment(seed: int) -> dict:
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        rev = None
    from . import __version__

    env = {
        "dsvae": __version__,
        "git_revision": rev,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "seed": seed,
        "command": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return env


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of every random number generator training draws from, as tensors and plain values
    (nothing that needs pickle to store): torch's, numpy's legacy global one, Python's, CUDA's."""
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),  # MT19937, 624 words
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {
            "version": version,
            "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"].tolist()), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def make_optimizer(model: torch.nn.Module, tc: TrainConfig, device: torch.device) -> torch.optim.Adam:
    # fused Adam: one kernel for all parameters (measured 2x faster than foreach on this CPU)
    return torch.optim.Adam(model.parameters(), lr=tc.lr, betas=tuple(tc.betas), fused=True)


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


def clear_run_outputs(run_dir: Path) -> None:
    """Remove what an earlier start left in a run folder (log, checkpoints, model, pictures, metrics:
    :data:`~dsvae.run.RUN_OUTPUTS`) before a fresh start writes its own, so nothing of the two
    mixes; other files are left alone, and so is a folder that is no run (no train.json)."""
    if not (run_dir / "train.json").exists():
        return
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# --- checkpoints -------------------------------------------------------------------------------------


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message says what to do."""


STATE_FORMAT = "dsvae-train-state"
STATE_VERSION = 2  # 1: state.pt, a pickle (loading one can run code), no longer read


def save_checkpoint(
    run_dir: Path, model: DSVAE, opt: torch.optim.Optimizer, epoch: int, step_in_epoch: int, step: int
) -> Path:
    """RUN/checkpoints/last, replaced as a whole: the model folder (config.json, model.safetensors)
    plus the training state, with nothing that needs pickle to load: state.safetensors (every tensor:
    optimizer moments and steps, RNG states) and state.json (epoch, steps, optimizer settings, the
    rest of the RNG states, and where each tensor goes)."""
    from safetensors.torch import save

    state = {
        "optimizer": opt.state_dict(),
        "epoch": epoch,
        "step_in_epoch": step_in_epoch,
        "step": step,
        "rng": rng_state(),
    }
    tensors: dict[str, torch.Tensor] = {}
    plain = _to_plain(state, tensors, "state")
    last = run_dir / "checkpoints" / "last"
    with atomic_dir(last, force=True) as tmp:
        model.save(tmp)
        write_file(tmp / "state.safetensors", save(tensors))
        doc = {"format": STATE_FORMAT, "format_version": STATE_VERSION, "state": plain}
        write_file(tmp / "state.json", (json.dumps(doc, indent=1) + "\n").encode())
        record_checkpoint(tmp)  # the sha256 of every file, checked by load_checkpoint
    return last


def load_checkpoint(run_dir: Path, model: DSVAE, opt: torch.optim.Optimizer, device: torch.device) -> dict:
    """Load RUN/checkpoints/last into ``model`` and ``opt`` and restore the RNG states; returns the
    state (epoch, step_in_epoch, step, ...). Reads JSON and safetensors only: a run folder from
    someone else cannot run code here.

    Raises FileNotFoundError without a checkpoint, :class:`CheckpointError` for a damaged one or one
    of an earlier dsvae (state.pt, a pickle: not loaded; the message says how to convert it)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    last = recover_dir(run_dir / "checkpoints" / "last")
    if not (last / "state.json").exists():
        if (last / "state.pt").exists():
            raise CheckpointError(
                f"{last} is a checkpoint of an earlier dsvae: its training state is state.pt, a pickle, "
                "and loading a pickle can run any code, so dsvae no longer reads it. If the run is "
                "yours or you trust where it came from, convert it once (tensors and plain values "
                'only; anything else in it is refused): python -c "from dsvae.train import '
                f"convert_checkpoint; convert_checkpoint('{run_dir}')\", then resume. Otherwise start "
                "the run again with --force."
            )
        raise FileNotFoundError(f"cannot resume: {last}/state.json not found (no checkpoint yet?)")
    try:
        verify_checksums(last)
    except DamagedFileError as e:
        raise CheckpointError(
            f"cannot resume: {e}. It is the run's only checkpoint, so {run_dir} has no good one left: "
            "restore the run folder from a copy, or start again with --force"
        ) from e
    try:
        doc = json.loads((last / "state.json").read_text())
        if doc.get("format") != STATE_FORMAT or doc.get("format_version") != STATE_VERSION:
            raise CheckpointError(
                f"{last}/state.json is not a {STATE_FORMAT} version {STATE_VERSION} file (got "
                f"{doc.get('format')!r} version {doc.get('format_version')!r}); resume it with the dsvae "
                "that wrote it, or start again with --force"
            )
        state = _from_plain(doc["state"], load_file(str(last / "state.safetensors")))
        model.load_state_dict(load_file(str(last / "model.safetensors"), device=str(device)))
        opt.load_state_dict(state["optimizer"])
        match_param_layout(opt)
        set_rng_state(state["rng"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(
            f"cannot resume from {last}: the checkpoint is damaged or does not fit this model "
            f"({one_line(e, last=True)}); start again with --force"
        ) from e
    return state


def match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give every per-parameter optimizer tensor (Adam's exp_avg, exp_avg_sq) its parameter's memory
    layout. Checkpoints store tensors contiguous, while a channels_last model's conv weights are not;
    CUDA's fused Adam refuses moments whose strides differ from the parameter's ("params, grads,
    exp_avgs, and exp_avg_sqs must have same dtype, device, and layout"). Values are unchanged."""
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if not st:
                continue
            for k, v in st.items():
                if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                    st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def convert_checkpoint(run_dir: str | Path) -> Path:
    """Rewrite the state.pt of an earlier dsvae's checkpoint (RUN/checkpoints/last) in the current
    format (state.json + state.safetensors), so the run can be resumed. state.pt is read with
    ``torch.load(weights_only=True)``, which builds tensors, plain values and numpy arrays (the numpy
    RNG state) only and refuses anything else. Returns the checkpoint folder.

    Raises FileNotFoundError without state.pt, :class:`CheckpointError` if it holds anything else."""
    from safetensors.torch import save_file

    last = recover_dir(Path(run_dir) / "checkpoints" / "last")
    if not (last / "state.pt").exists():
        raise FileNotFoundError(f"{last}/state.pt not found: nothing to convert")
    core = np._core if hasattr(np, "_core") else np.core  # numpy 2 / numpy 1
    allowed = [np.ndarray, np.dtype, type(np.dtype(np.uint32)), core.multiarray._reconstruct]
    try:
        with torch.serialization.safe_globals(allowed):
            old = torch.load(last / "state.pt", map_location="cpu", weights_only=True)
        _, keys, pos, has_gauss, cached_gaussian = old["rng"]["numpy"]
        np_state = np.random.get_state()
        np.random.set_state(("MT19937", np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached_gaussian))
        py_state = random.getstate()
        random.setstate(old["rng"]["python"])
        torch_state = torch.get_rng_state()
        torch.set_rng_state(old["rng"]["torch"])
        try:
            rng = rng_state()  # the checkpoint's states, in the current layout
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
            torch.set_rng_state(torch_state)
        if "cuda" in old["rng"]:
            rng["cuda"] = list(old["rng"]["cuda"])
        state = {k: old[k] for k in ("optimizer", "epoch", "step_in_epoch", "step")}
        state["rng"] = rng
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{last}/state.pt holds more than tensors and plain values, or not a dsvae training state "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); not converted. "
            "Start the run again with --force."
        ) from e
    tensors: dict[str, torch.Tensor] = {}
    plain = _to_plain(state, tensors, "state")
    save_file(tensors, str(last / "state.safetensors"))
    doc = {"format": STATE_FORMAT, "format_version": STATE_VERSION, "state": plain}
    atomic_write_text(last / "state.json", json.dumps(doc, indent=1) + "\n")
    (last / "state.pt").unlink()
    return last


def _to_plain(obj, tensors: dict, key: str):
    """A training state -> a JSON value; its tensors go into ``tensors`` (named by their path) and
    are referred to as {"__tensor__": name}. Tuples and dicts with keys other than strings (the
    optimizer's parameter ids) are tagged so that :func:`_from_plain` restores them exactly."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": key}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_to_plain(v, tensors, f"{key}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_to_plain(v, tensors, f"{key}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _to_plain(v, tensors, f"{key}.{k}") for k, v in obj.items()}
        return {
            "__items__": [
                [_to_plain(k, tensors, key), _to_plain(v, tensors, f"{key}.{k}")] for k, v in obj.items()
            ]
        }
    raise TypeError(
        f"a training state holds tensors and plain values only, got {type(obj).__name__} at {key}"
    )


def _from_plain(obj, tensors: dict):
    """Inverse of :func:`_to_plain`."""
    if isinstance(obj, list):
        return [_from_plain(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag == "__tensor__":
            return tensors[value]
        if tag == "__tuple__":
            return tuple(_from_plain(v, tensors) for v in value)
        if tag == "__items__":
            return {_from_plain(k, tensors): _from_plain(v, tensors) for k, v in value}
    return {k: _from_plain(v, tensors) for k, v in obj.items()}


# --- logging -----------------------------------------------------------------------------------------


class Logger:
    """log.csv (and TensorBoard when it is installed); only rank 0 writes."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.path = run_dir / "log.csv"
        self.enabled = enabled
        self.tb = None
        if enabled:
            if not self.path.exists():
                with self.path.open("w", newline="") as fh:
                    csv.writer(fh).writerow(LOG_COLUMNS)
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self.tb = None  # optional: pip install tensorboard

    def row(self, epoch: int, split: str, terms: dict, seq_per_s: float, wall_s: float) -> None:
        if not self.enabled:
            return
        values = [epoch, split] + [f"{terms[k]:.6g}" for k in ("loss", "recon", "kl_f", "kl_z")]
        with self.path.open("a", newline="") as fh:
            csv.writer(fh).writerow(values + [f"{seq_per_s:.4g}", f"{wall_s:.2f}"])
        if self.tb is not None:
            for k in ("loss", "recon", "kl_f", "kl_z"):
                self.tb.add_scalar(f"{split}/{k}", terms[k], epoch)
            self.tb.flush()

    def truncate_after(self, epoch: int) -> None:
        """On resume, drop rows of epochs that the checkpoint does not contain."""
        if not (self.enabled and self.path.exists()):
            return
        with self.path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        kept = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= epoch]
        atomic_write_text(self.path, "".join(",".join(r) + "\n" for r in kept))


# --- the loop -----------------------------------------------------------------------------------------


class RunBusyError(FileExistsError):
    """Another process is training into the same run folder right now."""


def lock_run_dir(run_dir: Path, locks: list[int]) -> None:
    """Hold an exclusive advisory lock (flock) on the folder ``run_dir`` until :func:`train` returns
    (or the process ends), so that a second ``dsvae train`` into it (a ``--resume`` or ``--force``
    while the first still runs) is refused instead of interleaving two runs' checkpoints and logs.
    No-op where fcntl is missing (Windows). Raises :class:`RunBusyError`."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunBusyError(
            f"{run_dir} is being written by another dsvae train right now; wait for it to end (or stop "
            "it) before resuming or replacing this run, or train into another --out"
        ) from None
    locks.append(fd)


def train(
    tc: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    force: bool = False,
    recipe: dict | None = None,
) -> TrainResult:
    """Train a DSVAE as ``tc`` says into the run folder ``run_dir`` (config.json, train.json, env.json,
    log.csv, checkpoints/last, model/; no pictures, :func:`dsvae.viz.write_run_train_pictures` draws
    them from the run folder): a new run, ``resume`` one from its last checkpoint
    (bit-exact; of ``tc`` only the fields of :data:`MAY_CHANGE_ON_RESUME` are used, see
    :func:`resumed_config`), or ``force`` over an old one. ``recipe`` (:meth:`dsvae.recipes.Recipe.record`:
    name, sha256, source, text) is recorded in RUN/train.json and RUN/recipe.toml. Under torchrun,
    DistributedDataParallel. Returns a :class:`TrainResult`.

    Raises FileExistsError for a folder that holds a run (without resume/force), RunBusyError while
    another process trains into it, FileNotFoundError / CheckpointError for a run that cannot be
    resumed, ValueError for settings or data that cannot work, TrainingDiverged for a NaN loss (the
    last good checkpoint is kept)."""
    locks: list[int] = []
    try:
        return _train(tc, Path(run_dir), resume, force, locks, recipe)
    finally:
        for fd in locks:
            os.close(fd)  # releases the lock


def _train(
    tc: TrainConfig, run_dir: Path, resume: bool, force: bool, locks: list[int], recipe: dict | None
) -> TrainResult:
    t_start = time.perf_counter()

    # distributed set-up: torchrun sets WORLD_SIZE, RANK, LOCAL_RANK
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1
    device = resolve_device(tc.device)
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if tc.batch_size % world:
            raise ValueError(f"--batch-size {tc.batch_size} must be a multiple of the {world} processes")
    is_main = rank == 0
    precision = resolve_precision(tc.precision, device)

    # the run folder: never train over an existing run unless resuming it (or forced); a folder that
    # holds nothing but a start that failed before its first checkpoint is no run yet
    failed_start = is_failed_start(run_dir)
    if is_main:
        if run_dir.exists() and any(run_dir.iterdir()) and not (resume or force or failed_start):
            raise FileExistsError(
                f"{run_dir} already holds a run; pass --resume to continue it or --force to start over"
            )
        if resume and not (run_dir / "train.json").exists():
            raise FileNotFoundError(f"cannot resume: {run_dir}/train.json not found")
        if run_dir.is_dir():
            lock_run_dir(run_dir, locks)
    location = data_location(tc.data)  # where the data is; a resumed run keeps what it recorded
    if resume:
        recorded = read_train_options(run_dir)
        location = {k: v for k, v in recorded.items() if k in DATA_LOCATION}
        recipe = recorded.get("recipe")  # a resumed run keeps the recipe it was started from
        # epochs 0: as recorded (the command line left --epochs out)
        changes = {k: getattr(tc, k) for k in MAY_CHANGE_ON_RESUME if not (k == "epochs" and not tc.epochs)}
        tc, _ = resumed_config(run_dir, changes)

    seed_everything(tc.seed + rank)
    # a resumed run reopens its data where it recorded it (not from this directory), checked
    dataset = open_run_dataset(run_dir) if resume else open_dataset(tc.data, seed=tc.data_seed)
    train_ds, test_ds = dataset.subset("train"), dataset.subset("test")
    if len(train_ds) < tc.batch_size:
        raise ValueError(
            f"the training split has {len(train_ds)} sequences, fewer than one batch of {tc.batch_size}"
        )
    check_batch_norm_batch(tc.batch_size, dataset.T, world, sync=distributed and device.type == "cuda")
    if len(test_ds) == 0:
        test_ds = train_ds.subset(np.arange(min(len(train_ds), 256)))
    cfg = model_config_for(dataset, tc.preset, tc.model_overrides)
    check_view_fits(cfg, dataset)

    model = DSVAE(cfg).to(device)
    channels_last = (
        default_channels_last(cfg, device, precision) if tc.channels_last is None else tc.channels_last
    )
    if channels_last and cfg.is_video:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, tc, device)
    epoch, step_in_epoch, step = 0, 0, 0
    if resume and not failed_start:  # (a failed start resumes from step 0)
        state = load_checkpoint(run_dir, model, opt, device)
        epoch, step_in_epoch, step = state["epoch"], state["step_in_epoch"], state["step"]
    if is_main:
        if not resume or failed_start:
            clear_run_outputs(run_dir)  # of the failed start, or of the run --force starts over
        run_dir.mkdir(parents=True, exist_ok=True)
        if not locks:
            lock_run_dir(run_dir, locks)
        cfg.save(run_dir / "config.json")
        record = {**tc.to_dict(), **location}
        if recipe is not None:
            record["recipe"] = {k: recipe[k] for k in ("name", "sha256", "source")}
            if "text" in recipe:
                atomic_write_text(run_dir / "recipe.toml", recipe["text"])
        atomic_write_text(run_dir / "train.json", json.dumps(record, indent=2))
        env = environment(tc.seed)
        env.update(
            precision=precision,
            memory_format="channels_last" if channels_last and cfg.is_video else "contiguous",
            device=str(device),
            world_size=world,
            # the kernel kind decides the bits of a run: runs compare bit for bit only on one kind
            cpu=cpu_info().to_dict(),
        )
        # checked whenever the run's data is reopened (run.check_run_data)
        env["data_checksums"] = run_data_checksums(dataset, location.get("data_path"))
        atomic_write_text(run_dir / "env.json", json.dumps(env, indent=2, default=str))
    logger = Logger(run_dir, is_main)
    if resume:
        logger.truncate_after(epoch)

    net: torch.nn.Module = model
    if distributed:
        if device.type == "cuda":
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[device] if device.type == "cuda" else None
        )
    if tc.compile:
        net = torch.compile(net)

    steps_per_epoch = train_ds.num_batches(tc.batch_size, drop_last=True)
    total_steps = tc.epochs * steps_per_epoch
    pin = device.type == "cuda"
    train_terms: dict = {}
    test_terms: dict = {}
    stop = False
    while epoch < tc.epochs and not stop:
        net.train()
        t_epoch = time.perf_counter()
        first_step = step_in_epoch  # > 0 when resumed mid-epoch: only the rest is timed
        sums = torch.zeros(4, device=device)
        n_seen = 0
        bar = progress(
            total=steps_per_epoch,
            initial=step_in_epoch,
            desc=f"epoch {epoch + 1}/{tc.epochs}",
            disable=not (is_main and tc.progress),
            dynamic_ncols=True,
            leave=False,
        )
        batches = train_ds.batches(
            tc.batch_size,
            shuffle=True,
            seed=tc.seed,
            epoch=epoch,
            drop_last=True,
            rank=rank,
            world_size=world,
            start=step_in_epoch,
        )
        t_window, n_window = time.perf_counter(), 0
        for pos in batches:
            raw = train_ds.get_batch(pos)
            if pin:
                raw = raw.pin_memory()
            x = train_ds.normalize(raw.to(device, non_blocking=True))  # uint8 until it is on the device
            with autocast(device, precision):
                out = net(x)
            w = min(1.0, (step + 1) / tc.kl_warmup_steps) if tc.kl_warmup_steps else 1.0
            objective = out.recon + w * (out.kl_f + out.kl_z)
            opt.zero_grad(set_to_none=True)
            objective.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip, foreach=True)
            for group in opt.param_groups:
                group["lr"] = learning_rate(tc, step, total_steps)
            opt.step()
            sums += torch.stack([out.loss, out.recon, out.kl_f, out.kl_z]).detach()
            n_seen += 1
            n_window += len(pos) * world
            step += 1
            step_in_epoch += 1
            bar.update(1)

            if step % tc.log_every == 0 or step_in_epoch == steps_per_epoch:
                mean = (sums / n_seen).tolist()  # the one host synchronisation of a logging window
                if not all(math.isfinite(v) for v in mean):
                    raise TrainingDiverged(
                        f"the loss became {mean[0]} at epoch {epoch + 1}, step {step}; the last good "
                        f"checkpoint is kept in {run_dir / 'checkpoints' / 'last'}. Try a lower --lr, "
                        "--precision fp32, or --kl-warmup-steps."
                    )
                now = time.perf_counter()
                bar.set_postfix(
                    refresh=False,
                    loss=f"{mean[0]:.1f}",
                    recon=f"{mean[1]:.1f}",
                    kl_f=f"{mean[2]:.2f}",
                    kl_z=f"{mean[3]:.2f}",
                    seq_s=f"{n_window / (now - t_window):.1f}",
                )
                t_window, n_window = now, 0
            if tc.checkpoint_every and step % tc.checkpoint_every == 0 and step_in_epoch < steps_per_epoch:
                _check_finite(sums, n_seen, run_dir, epoch, step)
                if is_main:
                    save_checkpoint(run_dir, model, opt, epoch, step_in_epoch, step)
            if tc.max_steps and step >= tc.max_steps:
                stop = True
                break
            if tc.max_minutes and time.perf_counter() - t_start >= 60 * tc.max_minutes:
                stop = True
                break
        bar.close()

        if step_in_epoch < steps_per_epoch:  # stopped mid-epoch (max_steps, max_minutes): checkpoint, leave
            _check_finite(sums, n_seen, run_dir, epoch, step)
            if is_main:
                save_checkpoint(run_dir, model, opt, epoch, step_in_epoch, step)
            break
        epoch_s = time.perf_counter() - t_epoch
        train_terms = _all_mean(sums / max(n_seen, 1), distributed)
        train_terms = dict(zip(("loss", "recon", "kl_f", "kl_z"), train_terms))
        if is_main:
            test_terms = elbo_terms(model, test_ds, max(tc.batch_size, 50), device, precision)
            seq_s = (steps_per_epoch - first_step) * tc.batch_size / epoch_s
            logger.row(epoch + 1, "train", train_terms, seq_s, epoch_s)
            logger.row(epoch + 1, "test", test_terms, float("nan"), epoch_s)
            if tc.progress:
                tqdm.write(
                    f"epoch {epoch + 1}/{tc.epochs}  train loss {train_terms['loss']:.2f}  "
                    f"test loss {test_terms['loss']:.2f} (recon {test_terms['recon']:.2f}, "
                    f"kl_f {test_terms['kl_f']:.2f}, kl_z {test_terms['kl_z']:.2f})  {seq_s:.1f} seq/s"
                )
        epoch += 1
        step_in_epoch = 0
        if is_main:
            save_checkpoint(run_dir, model, opt, epoch, 0, step)
        if distributed:
            dist.barrier()

    if is_main and epoch >= tc.epochs:
        with atomic_dir(run_dir / "model", force=True) as tmp:
            model.save(tmp)
    if distributed:
        dist.barrier()
    return TrainResult(
        run_dir, epoch, step, train_terms, test_terms, time.perf_counter() - t_start, tc.epochs
    )


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


def _check_finite(sums: torch.Tensor, n: int, run_dir: Path, epoch: int, step: int) -> None:
    if n and not torch.isfinite(sums).all():
        raise TrainingDiverged(
            f"the loss became non-finite by epoch {epoch + 1}, step {step}; the last good checkpoint is "
            f"kept in {run_dir / 'checkpoints' / 'last'}. Try a lower --lr or --precision fp32."
        )


def _all_mean(t: torch.Tensor, distributed: bool) -> list[float]:
    if distributed:
        t = t.clone()
        dist.all_reduce(t)
        t /= dist.get_world_size()
    return t.tolist()


__all__ = ["TrainConfig", "TrainResult", "TrainingDiverged", "train"]
