"""A trained run's model, read: the final model, else the last checkpoint (with a warning that the
run has not finished), its checksums checked, its weights finite, read again while a training swaps a
checkpoint under it (:func:`load_model`); which of the two it is (:func:`model_provenance`)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import torch

from .._io import CHECKSUMS, DamagedFileError
from ..model import DSVAE
from .checkpoint import describe_last_checkpoint, last_checkpoint_dir, last_good_checkpoint
from .files import FINAL_MODEL
from .records import read_train_options


def model_dir(run_dir: str | Path) -> Path:
    """The final model of a run, else its last checkpoint (with a warning that names the step: a run
    stopped early or still training); a clear error when it has neither."""
    folder = _find_model_dir(run_dir)
    if folder.name != "model":
        _warn_unfinished(Path(run_dir))
    return folder


def _warn_unfinished(run_dir: Path) -> None:
    p = model_provenance(run_dir)
    warnings.warn(
        f"{run_dir} has not finished training (epoch {p['epoch']} of {p['epochs']}, step "
        f"{p['step']}): using its last checkpoint; finish it with dsvae train --resume "
        f"--out {run_dir}",
        stacklevel=3,
    )


def _find_model_dir(run_dir: str | Path) -> Path:
    """:func:`model_dir` without its warning. Raises FileNotFoundError."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run folder at {run_dir}")
    for candidate in (run_dir / FINAL_MODEL, last_checkpoint_dir(run_dir)):
        if (candidate / "model.safetensors").exists():
            return candidate
    if (run_dir / "train.json").exists():
        raise FileNotFoundError(
            f"{run_dir} is a run without a checkpoint yet: it is still in its first epoch, or it "
            f"stopped before its first checkpoint. Wait for the first epoch to end, or start it again "
            f"with dsvae train --resume --out {run_dir}."
        )
    raise FileNotFoundError(
        f"{run_dir} holds no model: neither model/ nor checkpoints/last/ with model.safetensors, and "
        "no train.json. Is it a dsvae run folder? Train one with `dsvae train --out DIR`."
    )


def model_provenance(run_dir: str | Path) -> dict:
    """Which model of the run later stages read: ``{"source": "model" | "checkpoints/last",
    "finished": bool, "epoch", "step", "epochs"}`` (epoch and step of the last checkpoint, None where
    the run folder does not say; epochs: what the run is for, from RUN/train.json)."""
    run_dir = Path(run_dir)
    finished = (run_dir / "model" / "model.safetensors").exists()
    state, epochs = {}, None
    try:
        doc = json.loads((last_checkpoint_dir(run_dir) / "state.json").read_text(encoding="utf-8"))
        state = doc.get("state", {}) if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        pass
    try:
        epochs = read_train_options(run_dir).get("epochs")
    except (OSError, ValueError):
        pass
    return {
        "source": "model" if finished else "checkpoints/last",
        "finished": finished,
        "epoch": state.get("epoch"),
        "step": state.get("step"),
        "epochs": epochs,
    }


# a reader that fails while training replaces the model folder under it (a run that checkpoints
# while eval or viz read it) opens the model again: up to READ_TRIES times, pausing READ_PAUSE_S,
# then twice as long each time, so that one of the tries falls between two swaps
READ_TRIES = 10
READ_PAUSE_S = 0.005


def _model_marks(run_dir: Path) -> tuple:
    """What changes whenever training replaces a folder the model is read from: for model/,
    checkpoints/last and checkpoints/.last.old, the folder's identity and times and its
    checksums.json (unique to each save), None where missing. The same marks before and after a
    failed read: the failure is the files' own, not a swap's."""
    marks = []
    checkpoints = run_dir / "checkpoints"
    for folder in (run_dir / "model", checkpoints / "last", checkpoints / ".last.old"):
        try:
            st = folder.stat()
            identity = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        except OSError:
            identity = None
        try:
            recorded = (folder / CHECKSUMS).read_bytes()
        except OSError:
            recorded = None
        marks.append((identity, recorded))
    return tuple(marks)


def load_model(run_dir: str | Path, map_location: str | torch.device = "cpu") -> DSVAE:
    """The run's model (:func:`model_dir`) in eval mode, its files checked against the checksums
    recorded at save time. A run that is training right now is read as it is, never changed: its
    last checkpoint whole, the one before it or the one after it; a read that fails while training
    swaps the checkpoint under it is tried again (:data:`READ_TRIES`), never reported as damage.

    Raises :class:`~dsvae._io.DamagedFileError` (a ValueError) naming the damaged file and what the
    run has left: its last good checkpoint and how to use it; FileNotFoundError for a folder without
    a model (:func:`model_dir`)."""
    run_dir = Path(run_dir)
    for attempt in range(READ_TRIES):
        before = _model_marks(run_dir)
        folder = None
        try:
            folder = _find_model_dir(run_dir)
            model = DSVAE.load(folder, map_location=map_location)
            break
        except (OSError, DamagedFileError) as e:
            if attempt + 1 < READ_TRIES and _model_marks(run_dir) != before:
                time.sleep(READ_PAUSE_S * 2**attempt)
                continue
            if isinstance(e, DamagedFileError):
                raise DamagedFileError(f"{e}; {_what_is_left(run_dir, folder)}") from e
            raise
    if folder.name != "model":
        _warn_unfinished(run_dir)
    _check_finite_weights(model, folder, run_dir)
    model.eval()
    return model


def _check_finite_weights(model: DSVAE, folder: Path, run_dir: Path) -> None:
    """Every weight and buffer finite: a run saved by a dsvae that did not check them may hold the
    NaN weights of a divergence, and every score of it would be NaN or Inf. Raises ValueError."""
    bad = [n for n, t in (*model.named_parameters(), *model.named_buffers()) if not torch.isfinite(t).all()]
    if bad:
        raise ValueError(
            f"{folder} holds non-finite weights ({len(bad)} tensors, e.g. {bad[0]}): the run diverged "
            f"before it was saved, and nothing of it can be scored or drawn. Go on from an earlier "
            f"checkpoint with a lower learning rate (dsvae train --resume --out {run_dir} --resume-lr LR) "
            "or train it again with a lower --lr"
        )


def _what_is_left(run_dir: Path, folder: Path) -> str:
    """What to do about the damaged model ``folder`` of a run: use its last good checkpoint, or
    restore or retrain it when it has none."""
    good = last_good_checkpoint(run_dir)
    if good is None or good[0] == folder:
        return f"{describe_last_checkpoint(run_dir)}: restore the run folder from a copy or train it again"
    return (
        f"the run's last good checkpoint is {good[0]} (step {good[1]}); make it the model with "
        f"python -c \"from dsvae import DSVAE; DSVAE.load('{good[0]}').save('{folder}')\" (the "
        f"last checkpoint of a finished run holds its final weights), or continue training "
        f"from it: dsvae train --resume --out {run_dir}"
    )
