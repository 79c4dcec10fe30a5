"""A run's checkpoint, RUN/checkpoints/last: written and read (:func:`save_checkpoint`,
:func:`load_checkpoint`: the model, the optimizer, the RNG states, epoch and step, in JSON and
safetensors, nothing that needs pickle), its files' checksums (``checksums.json``, written at save
time, checked on load) and whether it is intact."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import torch

from .._io import (
    DamagedFileError,
    atomic_dir,
    current_dir,
    one_line,
    recover_dir,
    verify_checksums,
    write_checksums,
    write_file,
)
from ..model import DSVAE
from ..weights import read_weights
from .files import CHECKPOINT_FILES, LAST_CHECKPOINT


def last_checkpoint_dir(run_dir: str | Path) -> Path:
    """RUN/checkpoints/last, or the previous checkpoint ``.last.old`` while training swaps in a new
    one (or where a swap was interrupted). Reads only: the folder belongs to the training that holds
    the run's lock, and only it puts an interrupted swap right (:func:`load_checkpoint`)."""
    return current_dir(Path(run_dir) / LAST_CHECKPOINT)


def record_checkpoint(folder: str | Path) -> Path:
    """Write folder/checksums.json: the sha256 of every checkpoint file (:data:`CHECKPOINT_FILES`)."""
    return write_checksums(folder, list(CHECKPOINT_FILES))


def checkpoint_step(folder: str | Path) -> int | None:
    """The training step a checkpoint folder was saved at (state.json), None if it holds none."""
    try:
        return int(json.loads((Path(folder) / "state.json").read_text(encoding="utf-8"))["state"]["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def last_good_checkpoint(run_dir: str | Path) -> tuple[Path, int] | None:
    """``(RUN/checkpoints/last, its step)`` when that checkpoint is whole (its files match the
    checksums recorded at save time, or it records none: an earlier dsvae's), else None."""
    last = last_checkpoint_dir(run_dir)
    step = checkpoint_step(last)
    if step is None:
        return None
    try:
        verify_checksums(last)
    except DamagedFileError:
        return None
    return last, step


def describe_last_checkpoint(run_dir: str | Path) -> str:
    """One clause on what a run can continue from: "RUN/checkpoints/last (step N) is intact", or why
    there is none."""
    good = last_good_checkpoint(run_dir)
    if good is not None:
        return f"the last checkpoint {good[0]} (step {good[1]}) is intact"
    last = last_checkpoint_dir(run_dir)
    if checkpoint_step(last) is None:
        return f"{run_dir} holds no checkpoint yet"
    return f"the last checkpoint {last} is damaged too, so there is no good checkpoint"


# --- the training state ----------------------------------------------------------------------------


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


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message says what to do."""


STATE_FORMAT = "dsvae-train-state"
STATE_VERSION = 2  # 1: state.pt, a pickle (loading one can run code), not read


def save_checkpoint(
    run_dir: Path,
    model: DSVAE,
    opt: torch.optim.Optimizer,
    epoch: int,
    step_in_epoch: int,
    step: int,
    rng_of_ranks: list[dict] | None = None,
) -> Path:
    """RUN/checkpoints/last, replaced as a whole: the model folder (config.json, model.safetensors)
    plus the training state, with nothing that needs pickle to load: state.safetensors (every tensor:
    optimizer moments and steps, RNG states) and state.json (epoch, steps, optimizer settings, the
    rest of the RNG states, and where each tensor goes). ``rng_of_ranks``: under DDP, the RNG states
    (:func:`rng_state`) of ranks 1..N-1, each of which draws its own numbers (kept so that a resumed
    run of N processes continues exactly)."""
    from safetensors.torch import save

    state = {
        "optimizer": opt.state_dict(),
        "epoch": epoch,
        "step_in_epoch": step_in_epoch,
        "step": step,
        "rng": rng_state(),
    }
    if rng_of_ranks:
        state["rng_of_ranks"] = list(rng_of_ranks)
    tensors: dict[str, torch.Tensor] = {}
    plain = _to_plain(state, tensors, "state")
    last = run_dir / LAST_CHECKPOINT
    with atomic_dir(last, force=True) as tmp:
        model.save(tmp)
        write_file(tmp / "state.safetensors", save(tensors))
        doc = {"format": STATE_FORMAT, "format_version": STATE_VERSION, "state": plain}
        write_file(tmp / "state.json", (json.dumps(doc, indent=1) + "\n").encode())
        record_checkpoint(tmp)  # the sha256 of every file, checked by load_checkpoint
    return last


def load_checkpoint(
    run_dir: Path, model: DSVAE, opt: torch.optim.Optimizer, device: torch.device, rank: int = 0
) -> dict:
    """Load RUN/checkpoints/last into ``model`` and ``opt`` and restore the RNG states (those of
    process ``rank`` under DDP); returns the state (epoch, step_in_epoch, step, ...). Reads JSON and
    safetensors only: a run folder from someone else cannot run code here. A checkpoint written by
    one process (or by a dsvae before it kept every rank's) gives rank r > 0 rank 0's states, said on
    stderr: such a resumed run draws other numbers than an uninterrupted one.

    Raises FileNotFoundError without a checkpoint, :class:`CheckpointError` for a damaged one or one
    of an earlier dsvae (state.pt, a pickle: not loaded)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    last = recover_dir(run_dir / LAST_CHECKPOINT)  # training holds the run's lock: its folder
    if not (last / "state.json").exists():
        if (last / "state.pt").exists():
            raise CheckpointError(
                f"{last} is a checkpoint of an earlier dsvae: its training state is state.pt, a pickle, "
                "and loading a pickle can run any code, so dsvae does not read it. Resume the run with "
                "the dsvae version that wrote it, or start it again with --force."
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
        doc = json.loads((last / "state.json").read_text(encoding="utf-8"))
        if doc.get("format") != STATE_FORMAT or doc.get("format_version") != STATE_VERSION:
            raise CheckpointError(
                f"{last}/state.json is not a {STATE_FORMAT} version {STATE_VERSION} file (got "
                f"{doc.get('format')!r} version {doc.get('format_version')!r}); resume it with the dsvae "
                "that wrote it, or start again with --force"
            )
        state = _from_plain(doc["state"], load_file(str(last / "state.safetensors")))
        model.load_state_dict(read_weights(last / "model.safetensors", device))
        opt.load_state_dict(state["optimizer"])
        match_param_layout(opt)
        set_rng_state(_rng_of(state, rank, last))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(
            f"cannot resume from {last}: the checkpoint is damaged or does not fit this model "
            f"({one_line(e, last=True)}); start again with --force"
        ) from e
    return state


def _rng_of(state: dict, rank: int, last: Path) -> dict:
    """The RNG states of process ``rank`` in a checkpoint's ``state``."""
    others = state.get("rng_of_ranks") or []
    if rank == 0:
        return state["rng"]
    if rank <= len(others):
        return others[rank - 1]
    print(
        f"dsvae train: {last} holds no random-number state of process {rank} (written by fewer "
        "processes, or by an earlier dsvae): it continues from process 0's, so its random draws are "
        "not those of an uninterrupted run",
        file=sys.stderr,
    )
    return state["rng"]


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


def continue_after_failed_write(run_dir: str | Path) -> tuple[str, str | None]:
    """What a training that could not write (a full or read-only disk) leaves: a clause on what is
    intact, and the command that continues the run from its last good checkpoint (None where it has
    none: the command given is run again)."""
    import shlex

    intact = f"{describe_last_checkpoint(run_dir)}; nothing partial is left (checkpoints are replaced whole)"
    if last_good_checkpoint(run_dir) is None:
        return intact, None
    return intact, f"dsvae train --resume --out {shlex.quote(str(run_dir))}"
