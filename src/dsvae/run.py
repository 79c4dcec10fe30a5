"""Open a run folder written by ``dsvae train`` (layout in docs/CONTRACTS.md).

:class:`TrainedRun` is how every stage after training reads a run (eval, viz, report, compare):
its model, the data it trained on (checked against the run's checksums, then against the model by
:func:`check_model_fits`, the one "does the model fit this data" check) and its records.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import time
import warnings
from pathlib import Path

import torch

from ._io import CHECKSUMS, DamagedFileError, atomic_write_text, remove_stale_temporaries
from .checkpoint import describe_last_checkpoint, last_checkpoint_dir, last_good_checkpoint
from .config import DSVAEConfig
from .data import (
    DEFAULT_DATA_ROOT,  # noqa: F401  (where built sources live; tests point it elsewhere)
    GENERATED,
    DatasetError,
    SequenceDataset,
    built_folder,
    open_dataset,
)
from .data.base import data_checksums
from .methods import BUILT_IN, upgrade_train_record
from .model import DSVAE

LOG_COLUMNS = ("epoch", "split", "loss", "recon", "kl_f", "kl_z", "seq_per_s", "wall_s")
# what `dsvae train` writes before its first checkpoint, and what training and later commands add
RUN_SETUP = (
    "config.json",
    "train.json",
    "recipe.toml",
    "env.json",
    "log.csv",
    "objective.csv",
    "tensorboard",
    "checkpoints",
)
RUN_OUTPUTS = (
    "log.csv",
    "objective.csv",
    "tensorboard",
    "checkpoints",
    "model",
    "pictures",
    "metrics.json",
    "metrics.md",
    "report.html",
    "recipe.toml",
)


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
    for candidate in (run_dir / "model", last_checkpoint_dir(run_dir)):
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


def read_metrics(run_dir: str | Path) -> dict | None:
    """RUN/metrics.json as `dsvae eval` wrote it; None where the run has none yet. Raises ValueError
    naming the file if it is not a JSON object."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path} is not JSON ({e}); write it again with dsvae eval {run_dir}") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{path} is not a JSON object; write it again with dsvae eval {run_dir}")
    return metrics


def _judge_key(metrics: dict) -> str:
    judge = metrics.get("judge") or {}
    return f"judge-{judge['sha256'][:12]}" if judge.get("sha256") else "no-judge"


# the last line of RUN/metrics.md: the sha256 of the metrics.json it was made from. Each file is
# replaced atomically, but not the two together: a kill between the two renames leaves a new
# metrics.json beside the previous evaluation's metrics.md, which this line tells apart
MARKDOWN_STAMP = "<!-- dsvae: made from metrics.json, sha256 {sha256} -->"
_STAMP = re.compile(r"<!-- dsvae: made from metrics\.json, sha256 ([0-9a-f]{64}) -->\n?\Z")


def write_metrics(run_dir: str | Path, metrics: dict, markdown: str) -> None:
    """RUN/metrics.json and RUN/metrics.md, atomically, after :func:`keep_earlier_metrics`;
    metrics.md ends with the sha256 of that metrics.json (:data:`MARKDOWN_STAMP`), so that readers
    (:func:`read_metrics_markdown`) never take the markdown of another evaluation for it. Work
    files of earlier writes that were killed are removed first, with a note on stderr."""
    run_dir = Path(run_dir)
    remove_stale_temporaries(run_dir)
    keep_earlier_metrics(run_dir, metrics)
    text = json.dumps(metrics, indent=2) + "\n"
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    atomic_write_text(run_dir / "metrics.json", text)
    atomic_write_text(
        run_dir / "metrics.md", markdown.rstrip("\n") + "\n\n" + MARKDOWN_STAMP.format(sha256=sha256) + "\n"
    )


def read_metrics_markdown(run_dir: str | Path) -> str | None:
    """RUN/metrics.md (without its last line, the stamp) when it is the markdown of RUN/metrics.json:
    the sha256 it records is that of metrics.json (a file without the stamp, from an earlier dsvae
    or written by hand, is taken as it is). None where there is no metrics.md, or with a warning
    where it was made from another metrics.json (a `dsvae eval` killed between writing the two, or a
    metrics.json replaced since): the caller shows metrics.json itself."""
    run_dir = Path(run_dir)
    md, js = run_dir / "metrics.md", run_dir / "metrics.json"
    try:
        text = md.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    stamp = _STAMP.search(text)
    if stamp is None:
        return text
    try:
        current = hashlib.sha256(js.read_bytes()).hexdigest()
    except FileNotFoundError:
        current = None
    if current != stamp.group(1):
        what = "an earlier metrics.json" if current is not None else "a metrics.json that is gone"
        warnings.warn(
            f"{md} was made from {what} (a dsvae eval interrupted between writing the two, or "
            f"metrics.json replaced since), so it is not used; run dsvae eval {run_dir} to write both "
            "again",
            stacklevel=2,
        )
        return None
    return text[: stamp.start()].rstrip("\n") + "\n"


def keep_earlier_metrics(run_dir: str | Path, metrics: dict) -> Path | None:
    """Before ``metrics`` replace RUN/metrics.json: scores of the run by another judge (or without
    one) are moved to RUN/metrics-judge-<sha256[:12]>.json (or metrics-no-judge.json), with their
    markdown, so that no result is lost; scores by the same judge are replaced. Either way a warning
    says what happened. Returns the kept file, if any."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if not isinstance(old, dict):
        old = {}
    old_key, new_key = _judge_key(old), _judge_key(metrics)
    if old_key == new_key:
        warnings.warn(
            f"replaced the earlier scores in {path} ({old_key.replace('-', ' ')}, {old.get('seeds', '?')} "
            "seeds) by the new ones of the same judge",
            stacklevel=3,
        )
        return None
    kept = run_dir / f"metrics-{old_key}.json"
    # the markdown first: a kill between the two renames leaves metrics.json whole, without markdown
    if (run_dir / "metrics.md").exists():
        os.replace(run_dir / "metrics.md", run_dir / f"metrics-{old_key}.md")
    os.replace(path, kept)
    warnings.warn(
        f"{path} held scores by another judge ({old_key.replace('-', ' ')}): kept as {kept.name}; "
        f"metrics.json now holds those of {new_key.replace('-', ' ')}",
        stacklevel=3,
    )
    return kept


def is_failed_start(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds nothing but what `dsvae train` writes before its first checkpoint
    (:data:`RUN_SETUP`): a start that failed (an error, Ctrl-C, a kill) before anything could be
    resumed. Such a folder does not block training into it again."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    names = {p.name for p in run_dir.iterdir()}
    if not names or not names <= set(RUN_SETUP):
        return False
    checkpoints = run_dir / "checkpoints"
    kept = [checkpoints / "last", checkpoints / ".last.old"]  # (.old: a swap interrupted, recover_dir)
    return not any((d / f).exists() for d in kept for f in ("model.safetensors", "state.json", "state.pt"))


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


def read_train_options(run_dir: str | Path) -> dict:
    """RUN/train.json: the :class:`~dsvae.train.TrainConfig` fields plus where the data was
    (:data:`DATA_LOCATION`), its recipe and method source; the flat options of a run trained before
    methods had names read as that method (:func:`dsvae.methods.upgrade_train_record`)."""
    path = Path(run_dir) / "train.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run folder lacks its training options")
    return upgrade_train_record(json.loads(path.read_text(encoding="utf-8")))


# train.json entries beside the TrainConfig fields: the working directory of the command that
# recorded "data", the data folder it resolved to (absolute; null for generated data) and the earlier
# places of a data folder that moved (:func:`relocate_data`)
DATA_LOCATION = ("cwd", "data_path", "data_history")


def data_location(spec: str | Path) -> dict:
    """The :data:`DATA_LOCATION` entries a run records for ``--data spec`` given in this working
    directory (no history)."""
    spec = str(spec)
    if spec in GENERATED:
        path = None
    else:  # a built source (sprites, fsdd, a user's) lives in $DSVAE_DATA/NAME
        path = built_folder(spec) or Path(spec)
    return {"cwd": os.getcwd(), "data_path": None if path is None else str(path.resolve())}


def run_data_spec(opts: dict) -> str:
    """What to open for a run whose train.json holds ``opts``: a generated name as it is, else the
    folder the run recorded (``data_path``), else (runs written before it was recorded) ``data``
    resolved against the recorded working directory, never against the current one."""
    data = str(opts.get("data", "synthetic"))
    if data in GENERATED:
        return data
    if opts.get("data_path"):
        return str(opts["data_path"])
    path = built_folder(data) or Path(data)
    return str(path if path.is_absolute() else Path(opts.get("cwd", ".")) / path)


def open_run_dataset(run_dir: str | Path) -> SequenceDataset:
    """The dataset the run trained on (same source, same seed for generated data), checked against
    the checksums the run recorded (:func:`check_run_data`).

    Raises :class:`DatasetError` if the data is not where the run recorded it (the message says how to
    point the run at its new place) or differs from what the run trained on."""
    opts = read_train_options(run_dir)
    spec = run_data_spec(opts)
    if spec not in GENERATED and not Path(spec).exists():
        where = f"{opts.get('data')!r} (from {opts['cwd']})" if opts.get("cwd") else repr(opts.get("data"))
        raise DatasetError(
            f"the data of {run_dir} is gone: it trained on {where}, and {spec} does not exist now. If "
            "the folder moved, point the run at its new place with --data NEW (dsvae train --resume "
            f"--out {run_dir} --data NEW, or dsvae eval / viz / report {run_dir} --data NEW); NEW is "
            "checked against the checksums the run recorded."
        )
    dataset = open_dataset(spec, seed=int(opts.get("data_seed", 0)))
    check_run_data(run_dir, dataset, None if spec in GENERATED else spec)
    return dataset


def relocate_data(run_dir: str | Path, data: str | Path) -> SequenceDataset:
    """Point a run at its data in a new place (a folder that moved, another machine's copy): open
    ``data`` (``--data`` syntax, relative to the current directory), check it against the checksums
    the run recorded (:func:`check_run_data`), then record the new place in RUN/train.json
    (atomically; ``data``, ``cwd`` and ``data_path`` replaced, the old ones appended to
    ``data_history``). Returns the dataset. Later commands on the run find the data there.

    Raises :class:`DatasetError` if ``data`` does not exist or holds other data than the run trained
    on (train.json is then left as it was); FileNotFoundError if ``run_dir`` has no train.json."""
    run_dir = Path(run_dir)
    opts = read_train_options(run_dir)
    spec = str(data)
    dataset = open_dataset(spec, seed=int(opts.get("data_seed", 0)))
    check_run_data(run_dir, dataset, None if spec in GENERATED else spec)
    new = {"data": spec, **data_location(spec)}
    if new["data_path"] != opts.get("data_path") or (new["data_path"] is None and spec != opts.get("data")):
        before = {k: opts.get(k) for k in ("data", "cwd", "data_path")}
        history = [*opts.get("data_history", []), {**before, "until": time.strftime("%Y-%m-%dT%H:%M:%S%z")}]
        atomic_write_text(
            run_dir / "train.json", json.dumps({**opts, **new, "data_history": history}, indent=2)
        )
    return dataset


def check_run_data(run_dir: str | Path, dataset: SequenceDataset, folder: str | Path | None = None) -> None:
    """Refuse ``dataset`` if it is not the data the run trained on: the checksums the run recorded
    (``env.json``, ``data_checksums``: the source's own and, under ``"arrays"``, the sha256 of every
    stored array) must equal the data's (:func:`~dsvae.data.base.data_checksums`). Scores, pictures
    or a resumed training on other data would be silently wrong.

    ``folder``: where the dataset was opened from (None: generated), for the messages. A folder built
    before dsvae recorded array checksums gets them computed (one read of the frames) with a
    warning; a run that recorded none (trained before dsvae did) cannot be checked, with a warning.

    Raises :class:`DatasetError` naming what differs."""
    env_path = Path(run_dir) / "env.json"
    recorded = (
        json.loads(env_path.read_text(encoding="utf-8")).get("data_checksums") if env_path.exists() else None
    ) or {}
    name = f"{dataset.meta.get('name', 'the dataset')}" + (f" ({folder})" if folder else "")
    current = dict(dataset.meta.get("checksums") or {})
    if "arrays" in recorded:
        current["arrays"] = run_data_checksums(dataset, folder)["arrays"]
    common = [k for k in recorded if k in current]
    if not common:
        warnings.warn(
            f"{run_dir} recorded no checksums of the data it trained on (a run of an earlier dsvae), so "
            f"nothing checks that {name} is that data",
            stacklevel=2,
        )
        return
    differ = [k for k in common if recorded[k] != current[k]]
    if not differ:
        return
    parts = []
    for k in differ:
        if k == "arrays" and isinstance(recorded[k], dict):
            arrays = [
                a for a in sorted({*recorded[k], *current[k]}) if recorded[k].get(a) != current[k].get(a)
            ]
            parts.append(f"the stored {', '.join(arrays)}")
        else:
            parts.append(f"checksum {k!r}")
    raise DatasetError(
        f"{run_dir} was trained on other data than {name} holds now ({'; '.join(parts)} differ from "
        f"what the run recorded in {env_path}). Restore the data the run used (same source and version, "
        "same --data-seed; a folder re-imported or rebuilt from other files is other data), or point "
        "the run at a copy of it with --data PATH."
    )


def run_data_checksums(dataset: SequenceDataset, folder: str | Path | None = None) -> dict:
    """:func:`~dsvae.data.base.data_checksums`, with a warning when ``folder`` (where the dataset was
    opened from) was built before dsvae recorded the checksums of its arrays: they are computed now
    (one read of its frames) and, until the folder is rebuilt, on every later check."""
    if folder is not None and not dataset.meta.get("array_sha256"):
        warnings.warn(
            f"{folder} was built before dsvae recorded the checksums of its arrays in meta.json; they "
            "are computed now (one read of the frames), and again each time. Rebuild it with the "
            "`dsvae data` command that made it, or write a copy that records them: "
            f"python -c \"from dsvae.data import SequenceDataset; SequenceDataset.open('{folder}')"
            ".save('NEW_FOLDER')\"",
            stacklevel=3,
        )
    return data_checksums(dataset)


def read_log(run_dir: str | Path) -> list[dict]:
    """Rows of RUN/log.csv with numbers parsed (epoch int, the rest float, split str). A last line
    without its newline is a row that training is appending right now: left out until it is whole."""
    path = Path(run_dir) / "log.csv"
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return []
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = []
    for row in csv.DictReader(text.splitlines(keepends=True)):
        parsed = {}
        for k, v in row.items():
            if k == "split":
                parsed[k] = v
            elif k == "epoch":
                parsed[k] = int(v)
            else:
                parsed[k] = float(v) if v not in ("", None) else float("nan")
        rows.append(parsed)
    return rows


def recipe_sha256(text: str) -> str:
    """The identity of a recipe (RUN/recipe.toml, a shipped or a user's file): sha256 of its settings
    (every key but ``about``) as canonical JSON, so that comments and layout do not make another
    recipe but any changed value does. Raises ValueError for text that is not TOML."""
    import hashlib
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"not a TOML recipe: {e}") from None
    doc.pop("about", None)
    return hashlib.sha256(json.dumps(canonical_recipe(doc), sort_keys=True).encode()).hexdigest()


def canonical_recipe(doc: dict) -> dict:
    """A recipe's settings in the one form its identity is taken from: a built-in method's options
    (every one, defaults filled in) at the top level, as recipes wrote them before methods had
    names (so those recipes, and the runs that recorded them, keep their sha256), and DSVAE's
    nothing; a user's method as ``method = {name, options...}``."""
    doc = dict(doc)
    if "method" not in doc:
        return doc
    given = doc.pop("method")
    table = {"name": given} if isinstance(given, str) else dict(given)
    name = table.pop("name", "dsvae")
    if name in BUILT_IN:
        options = BUILT_IN[name].options_from(table).to_dict() if name != "dsvae" else {}
        return {**doc, **options}
    return {**doc, "method": {"name": name, **table}}


# what to do when a trained run's model does not read its data (the message of check_model_fits)
READ_WITH_ITS_DATA = (
    "Open the run with the data it trained on (--data PATH points a run at a copy that moved), or "
    "train a model for this data (dsvae train --data ...)."
)


def check_model_fits(cfg: DSVAEConfig, dataset: SequenceDataset, advice: str = READ_WITH_ITS_DATA) -> None:
    """The one check that a model reads the sequences of ``dataset``: the same kind of frames (video
    ``(C, H, W)`` or vectors ``(D,)``), the same frames per sequence ``T`` and the same frame shape.
    ``cfg``: the model's :class:`~dsvae.config.DSVAEConfig`. ``advice``: what to do, ending the
    message (default: for a trained run opened with other data).

    Raises :class:`DatasetError` (a ValueError) naming each of the three that differs, with the
    model's and the data's values."""
    kind = "video" if cfg.is_video else "vector"
    differ = []
    if kind != dataset.kind:
        differ.append(f"the kind of frames (model: {kind}, data: {dataset.kind})")
    if cfg.T != dataset.T:
        differ.append(f"T, the frames per sequence (model: {cfg.T}, data: {dataset.T})")
    if tuple(cfg.frame_shape) != tuple(dataset.frame_shape):
        axes = (" (C, H, W)" if cfg.is_video else " (D,)") if kind == dataset.kind else ""
        differ.append(
            f"the frame shape{axes} (model: {tuple(cfg.frame_shape)}, data: {tuple(dataset.frame_shape)})"
        )
    if differ:
        name = dataset.meta.get("name", "the dataset")
        what = "; ".join(differ)
        raise DatasetError(
            f"the model does not fit the data {name} (its frames do not match): {what}. {advice}".rstrip()
        )


class TrainedRun:
    """A run folder as the stages after training read it; each part is read when first asked for,
    then kept:

    - :attr:`model`: the final model, else the last checkpoint with a warning that the run has not
      finished (:func:`load_model`: checksums checked), in eval mode on ``device``;
    - :attr:`dataset`: the data it trained on (:func:`open_run_dataset`: checked against the run's
      checksums), checked once to fit the model (:func:`check_model_fits`); :attr:`test` its test
      split (possibly empty), :attr:`train` its training split;
    - :attr:`metrics`: RUN/metrics.json (:func:`read_metrics`; None before `dsvae eval`);
      :attr:`config`: RUN/config.json without loading weights; :attr:`options`: RUN/train.json;
      :attr:`log`: the rows of RUN/log.csv; :meth:`record`: any JSON record of the folder.

    Errors are those of the functions named (FileNotFoundError for a folder that is no run, a
    DatasetError for data that is gone, differs or does not fit, DamagedFileError)."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        self.path = Path(path)
        self.device = device

    @classmethod
    def of(cls, run: str | Path | TrainedRun, device: str | torch.device = "cpu") -> TrainedRun:
        """``run`` itself if it is a TrainedRun already (one opening shared by the stages of a
        command), else the run folder at that path."""
        return run if isinstance(run, TrainedRun) else cls(run, device)

    @functools.cached_property
    def model(self) -> DSVAE:
        return load_model(self.path, map_location=self.device)

    @functools.cached_property
    def dataset(self) -> SequenceDataset:
        dataset = open_run_dataset(self.path)
        check_model_fits(self.model.config, dataset)
        return dataset

    @functools.cached_property
    def test(self) -> SequenceDataset:
        return self.dataset.subset("test")

    @functools.cached_property
    def train(self) -> SequenceDataset:
        return self.dataset.subset("train")

    @functools.cached_property
    def metrics(self) -> dict | None:
        return read_metrics(self.path)

    @functools.cached_property
    def config(self) -> DSVAEConfig:
        return DSVAEConfig.load(self.path / "config.json")

    @functools.cached_property
    def options(self) -> dict:
        return read_train_options(self.path)

    @functools.cached_property
    def log(self) -> list[dict]:
        return read_log(self.path)

    def record(self, name: str) -> dict:
        """RUN/``name`` (config.json, train.json, env.json, ...) as a dict; {} where the file is
        missing, unreadable or not a JSON object (a run copied without it). train.json as this
        dsvae reads it (:func:`read_train_options`)."""
        try:
            doc = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict):
            return {}
        return upgrade_train_record(doc) if name == "train.json" else doc

    def __repr__(self) -> str:
        return f"TrainedRun({str(self.path)!r})"
