"""The records of a run folder, read and written here only: RUN/train.json (the options, where the
data is, recipe, method source, learning-rate changes), RUN/env.json (the environment), RUN/log.csv
and RUN/metrics.json with its markdown RUN/metrics.md (file list: :mod:`dsvae.run.files`)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write_text, remove_stale_temporaries
from ..methods import MethodError, upgrade_train_record, with_source
from ..options import TrainConfig

# train.json entries beside the TrainConfig fields: the working directory of the command that
# recorded "data", the data folder it resolved to (absolute; null for generated data) and the earlier
# places of a data folder that moved (dsvae.run.data.relocate_data)
DATA_LOCATION = ("cwd", "data_path", "data_history")
# and the recipe of the run, where its method came from, and the learning rates a resumed run changed
# to on purpose (--resume-lr)
RUN_RECORD_EXTRA = (*DATA_LOCATION, "recipe", "method_source", "lr_changes")


def read_train_options(run_dir: str | Path) -> dict:
    """RUN/train.json: the :class:`~dsvae.options.TrainConfig` fields plus where the data was
    (:data:`DATA_LOCATION`), its recipe and method source; the flat options of a run trained before
    methods had names read as that method (:func:`dsvae.methods.upgrade_train_record`).
    Raises FileNotFoundError without the file, ValueError for a file that is not JSON."""
    path = Path(run_dir) / "train.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run folder lacks its training options")
    return upgrade_train_record(json.loads(path.read_text(encoding="utf-8")))


def train_config_of(record: dict) -> TrainConfig:
    """The TrainConfig of a RUN/train.json record (:func:`read_train_options`) without its extra
    entries (:data:`RUN_RECORD_EXTRA`). Raises ValueError for options out of range, or a
    :class:`~dsvae.methods.MethodError` naming the package the run's method came from when it is
    gone."""
    try:
        return TrainConfig.from_dict({k: v for k, v in record.items() if k not in RUN_RECORD_EXTRA})
    except MethodError as e:  # the method's package is gone: say which one the run had
        raise with_source(e, record.get("method_source")) from None


def write_train_record(run_dir: Path, record: dict) -> None:
    """RUN/train.json, atomically."""
    atomic_write_text(run_dir / "train.json", json.dumps(record, indent=2))


def environment(seed: int) -> dict:
    """What RUN/env.json records of the machine and the command: versions, git revision, host, CPU
    count and threads, the CUDA device, ``seed``, the command line and the start time."""
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        rev = None
    from .. import __version__

    return {
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


def read_env(run_dir: str | Path) -> dict:
    """RUN/env.json; {} where the run has none (trained before dsvae recorded it)."""
    path = Path(run_dir) / "env.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_env(run_dir: Path, env: dict) -> None:
    """RUN/env.json, atomically (values JSON cannot hold written as text)."""
    atomic_write_text(run_dir / "env.json", json.dumps(env, indent=2, default=str))


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


# --- metrics.json and metrics.md ----------------------------------------------------------------------


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
