"""What a run's checkpoint holds and whether it is intact: the files of RUN/checkpoints/last, their
checksums (``checksums.json``, written at save time, checked on load) and the step it was saved at.
The training state itself is written and read by :func:`dsvae.train.save_checkpoint` /
:func:`dsvae.train.load_checkpoint`."""

from __future__ import annotations

import json
from pathlib import Path

from ._io import DamagedFileError, recover_dir, verify_checksums, write_checksums

CHECKPOINT_FILES = ("config.json", "model.safetensors", "state.safetensors", "state.json")


def last_checkpoint_dir(run_dir: str | Path) -> Path:
    """RUN/checkpoints/last (or the previous one kept by a swap that was interrupted)."""
    return recover_dir(Path(run_dir) / "checkpoints" / "last")


def record_checkpoint(folder: str | Path) -> Path:
    """Write folder/checksums.json: the sha256 of every checkpoint file (:data:`CHECKPOINT_FILES`)."""
    return write_checksums(folder, list(CHECKPOINT_FILES))


def checkpoint_step(folder: str | Path) -> int | None:
    """The training step a checkpoint folder was saved at (state.json), None if it holds none."""
    try:
        return int(json.loads((Path(folder) / "state.json").read_text())["state"]["step"])
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
