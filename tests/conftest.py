import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from dsvae.data import SequenceDataset
from dsvae.options import TrainConfig

SHARED = Path(__file__).resolve().parents[2] / "shared"

# One thread per thread pool (PyTorch's, the BLAS of NumPy and SciPy, scikit-learn's OpenMP), here
# and in the commands the tests start: the suite's models and arrays are tiny, so a second thread
# buys little, and beside any other job on a 2-core machine the pools' waiting threads made the suite
# about 3x slower (968 s with two, 314 s with one, while other trainings ran). OMP_NUM_THREADS set
# beforehand is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the pools loaded later, and subprocesses
threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))  # the pools loaded already
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True, scope="session")
def no_disk_flushes():
    """os.fsync is a no-op in the test process: a flush to the disk only matters after a power loss,
    which no test can observe, and the suite's few thousand checkpoint and dataset writes waited
    about 3 ms each for the disk. Which files and folders are flushed is still checked (test_damaged
    records the calls); commands run in a subprocess flush as they always do."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "fsync", lambda fd: None)
        yield


@pytest.fixture(scope="session")
def sprites_built(tmp_path_factory) -> tuple[SequenceDataset, Path]:
    """The real Sprites benchmark, built once per test session from the sheets shipped in the
    package (no network), into a folder that exists already (so with force=True, replacing
    ``old.txt``)."""
    from dsvae.data.sprites import build_sprites

    out = tmp_path_factory.mktemp("sprites") / "sprites"
    out.mkdir()
    (out / "old.txt").write_text("replaced by the build")
    return build_sprites(None, out, force=True), out


@pytest.fixture(scope="session")
def synthetic() -> SequenceDataset:
    """The embedded procedural dataset as every command opens it (``open_dataset("synthetic")``),
    generated once per test session for the tests that read it (2048 sequences of 64x64)."""
    from dsvae.data import open_dataset

    return open_dataset("synthetic")


@pytest.fixture(scope="session")
def synthetic_shifted() -> SequenceDataset:
    """``open_dataset("synthetic-shifted")``, once per test session."""
    from dsvae.data import open_dataset

    return open_dataset("synthetic-shifted")


@pytest.fixture(scope="session")
def toy_judge_trained(tmp_path_factory):
    """The judge of test_judge's toy data (a square's colour and its motion), trained once per session
    for test_judge, test_eval and test_stages: (the dataset, the judge's folder, its test accuracy)."""
    from dsvae.evaluate.judge import train_judge
    from test_judge import toy_dataset

    ds = toy_dataset()
    out = tmp_path_factory.mktemp("judges") / "toy"
    acc = train_judge(
        ds, out, epochs=12, batch_size=16, lr=3e-3, seed=0, precision="auto", conv_channels=(16, 32),
        feature_dim=32, hidden_dim=32,
    )  # fmt: skip
    return ds, out, acc


def moving_squares(n: int = 80, T: int = 4, size: int = 16, seed: int = 0) -> SequenceDataset:
    """A small labelled video dataset: a square of one of 3 colours moving in one of 4 directions."""
    rng = np.random.default_rng(seed)
    colours = np.array([[255, 60, 60], [60, 255, 60], [60, 60, 255]], dtype=np.uint8)
    steps = [(0, 1), (0, -1), (1, 0), (-1, 0)]
    frames = np.zeros((n, T, size, size, 3), dtype=np.uint8)
    colour = rng.integers(0, 3, n)
    motion = rng.integers(0, 4, n)
    for i in range(n):
        y, x = rng.integers(4, size - 8, 2)
        dy, dx = steps[motion[i]]
        for t in range(T):
            yy, xx = y + dy * t, x + dx * t
            frames[i, t, yy : yy + 4, xx : xx + 4] = colours[colour[i]]
    return SequenceDataset.from_arrays(
        frames,
        labels={"colour": colour, "motion": motion},
        label_values={"colour": ["red", "green", "blue"], "motion": ["right", "left", "down", "up"]},
        info={"character": colour},
        meta={"name": "moving-squares"},
        test_fraction=0.25,
        seed=seed,
    )


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "squares"
    moving_squares().save(path)
    return path


def fake_distribution(
    site: Path, group: str, entry_points: dict[str, str], name: str = "mypkg", files: dict | None = None
) -> Path:
    """An installed distribution as importlib.metadata finds it once ``site`` is on sys.path:
    ``NAME-0.1.dist-info/`` (METADATA, top_level.txt, entry_points.txt with ``entry_points`` in the
    group ``group``: dsvae.methods, dsvae.metrics or dsvae.data) beside ``NAME/__init__.py`` and
    ``files`` (path relative to ``site`` -> text). Returns ``site``."""
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]  # a package of that name imported by an earlier test is not this one
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    (site / name).mkdir(exist_ok=True)
    if not (site / name / "__init__.py").exists():
        (site / name / "__init__.py").write_text("")
    for rel, text in (files or {}).items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    return site


def tiny_train_config(data: Path, **kw) -> TrainConfig:
    """A deterministic CPU training of the tiny preset on a small dataset folder."""
    opts = dict(
        data=str(data),
        preset="tiny",
        epochs=2,
        batch_size=10,
        lr=1e-3,
        seed=0,
        precision="fp32",
        device="cpu",
        channels_last=False,
        pictures=False,
        progress=False,
    )
    opts.update(kw)
    return TrainConfig(**opts)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def dsvae_process():
    """Start ``python -m dsvae ARGS`` with pipes, to be interrupted by a test. A shell that starts the
    suite in the background (nohup, ``cmd &``) leaves SIGINT ignored, and an ignored signal stays
    ignored across exec: the child gets the default, as in a terminal, so Ctrl-C tests mean the same
    wherever CI runs them."""

    def start(args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "dsvae", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )

    return start
