"""The judge: a fully supervised sequence classifier that reads the labels of a video.

Every frame goes through a small convolutional encoder (stride-2 4x4 convs, BatchNorm, ReLU) to a
feature; a bidirectional LSTM runs over the T features; its last forward and first backward states
feed one linear head per label (on Sprites: motion and the four attributes). Disentanglement is
measured by how well this judge reads generated videos (see ``protocols.py``).

A trained judge is a folder::

    judge.json          JudgeConfig (frame shape, T, the label value names, widths)
    model.safetensors   the weights; reports quote its sha256 (:func:`judge_sha256`)
    checksums.json      the sha256 of both, checked on load (the saved-network format of
                        :mod:`dsvae.weights`, the model's too)
    metrics.json        test accuracy of every head, the label values, the training options, the sha256
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._io import CHECKSUMS, DamagedFileError, atomic_dir, sha256_file, write_file
from ..config import ConfigBase
from ..data.base import SequenceDataset
from ..data.sources import judge_for, judge_sha256_for, shipped_for
from ..device import autocast, fold_for_inference, per_frame, resolve_device, resolve_precision
from ..progress import progress
from ..step import adam, optimizer_step
from ..weights import WEIGHTS, load_network, save_network


class JudgeMismatchError(ValueError):
    """A judge used on data it was not trained for (other labels, frame shape or length)."""


@dataclass
class JudgeConfig(ConfigBase):
    """The judge's sizes and labels (RUN of a judge: judge.json), on the config base of every
    options dataclass (:class:`~dsvae.config.ConfigBase`: kinds, from_dict/to_dict, names)."""

    WHAT = "judge config field"

    channels: int = 3
    frame_size: int = 64
    T: int = 8
    # label name -> the names of its classes; one head per label, len(values) outputs
    label_values: dict[str, list[str]] = field(default_factory=dict)
    conv_channels: tuple[int, ...] = (32, 64, 128, 256)  # one stride-2 4x4 conv each
    feature_dim: int = 256
    hidden_dim: int = 128

    def validate(self) -> None:
        """At least one label of at least 2 classes, a frame size the convs halve evenly. Raises
        ValueError."""
        self.label_values = {k: [str(v) for v in vs] for k, vs in self.label_values.items()}
        if not self.label_values:
            raise ValueError("JudgeConfig: a judge needs at least one label to predict")
        if any(len(v) < 2 for v in self.label_values.values()):
            raise ValueError(f"JudgeConfig: every label needs at least 2 classes, got {self.num_classes}")
        if not self.conv_channels or self.frame_size % 2 ** len(self.conv_channels):
            raise ValueError(
                f"JudgeConfig: frame_size {self.frame_size} must be a multiple of "
                f"2^{len(self.conv_channels)} (one halving per conv layer: {self.conv_channels})"
            )

    @property
    def num_classes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.label_values.items()}

    @classmethod
    def for_dataset(cls, dataset: SequenceDataset, **widths) -> JudgeConfig:
        """The judge of a labelled video dataset: its frame shape, T and labels; at most 4 convs,
        fewer for small frames (the last one leaves at least 2x2 pixels)."""
        if dataset.kind != "video":
            raise ValueError(
                "the judge classifies videos; this dataset holds vector frames (speech): speech runs "
                "are scored by speaker verification instead (dsvae eval on the run)"
            )
        if not dataset.labels:
            raise ValueError(
                "this dataset has no labels, so there is nothing to train a judge on; "
                "a judge needs labelled sequences (e.g. --data synthetic or --data sprites)"
            )
        c, size, _ = dataset.frame_shape
        if "conv_channels" not in widths:
            n_convs = min(4, int(np.log2(size)) - 1)
            while n_convs > 1 and size % 2**n_convs:
                n_convs -= 1
            widths["conv_channels"] = cls.conv_channels[:n_convs]
        return cls(channels=c, frame_size=size, T=dataset.T, label_values=dataset.label_values, **widths)


class Judge(nn.Module):
    def __init__(self, config: JudgeConfig) -> None:
        super().__init__()
        self.config = cfg = config
        layers: list[nn.Module] = []
        c_in = cfg.channels
        for c_out in cfg.conv_channels:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        bottom = cfg.frame_size // 2 ** len(cfg.conv_channels)
        layers += [nn.Flatten(), nn.Linear(c_in * bottom * bottom, cfg.feature_dim), nn.ReLU()]
        self.frame_encoder = nn.Sequential(*layers)
        self.lstm = nn.LSTM(cfg.feature_dim, cfg.hidden_dim, batch_first=True, bidirectional=True)
        self.heads = nn.ModuleDict({k: nn.Linear(2 * cfg.hidden_dim, n) for k, n in cfg.num_classes.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """x (B, T, C, H, W) in [0, 1] -> {label: logits (B, K)}."""
        cfg = self.config
        want = (cfg.T, cfg.channels, cfg.frame_size, cfg.frame_size)
        if x.dim() != 5 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"the judge reads videos (B, T, C, H, W) = (B, {', '.join(map(str, want))}) in [0, 1], "
                f"got shape {tuple(x.shape)}"
            )
        B, T = x.shape[:2]
        v = per_frame(self.frame_encoder, x.reshape(B * T, *x.shape[2:])).view(B, T, -1)  # (B, T, feature)
        _, (h_n, _) = self.lstm(v)  # h_n: (2, B, hidden): forward state at T, backward state at 1
        h = torch.cat([h_n[0], h_n[1]], dim=-1)
        return {k: head(h) for k, head in self.heads.items()}

    def for_scoring(self, channels_last: bool = False) -> Judge:
        """A copy of this judge to score with, in eval mode: each BatchNorm folded into the
        convolution before it and the ReLUs in place (:func:`~dsvae.device.fold_for_inference`), in
        channels_last memory if asked. Its logits are this judge's up to float rounding; it cannot
        be trained or saved as a judge (its layers differ)."""
        import copy

        judge = copy.deepcopy(self).eval()
        judge.frame_encoder = fold_for_inference(judge.frame_encoder)
        if channels_last:
            judge = judge.to(memory_format=torch.channels_last)
        return judge

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> dict[str, Tensor]:
        """{label: p(y | x) (B, K)} in fp32."""
        return {k: F.softmax(v.float(), dim=-1) for k, v in self(x).items()}

    def check_labels(self, dataset: SequenceDataset) -> None:
        """Refuse a dataset whose labels (names, class counts, value names), frame shape or
        sequence length differ from what this judge was trained on."""
        cfg = self.config
        mine, theirs = cfg.label_values, dataset.label_values
        if mine != theirs:
            problems = []
            for k in sorted(set(mine) | set(theirs)):
                if k not in theirs:
                    problems.append(f"the judge predicts {k!r}, the dataset has no such label")
                elif k not in mine:
                    problems.append(f"the dataset has label {k!r}, the judge has no head for it")
                elif len(mine[k]) != len(theirs[k]):
                    problems.append(
                        f"{k!r}: the judge has {len(mine[k])} classes, the dataset {len(theirs[k])}"
                    )
                elif mine[k] != theirs[k]:
                    problems.append(f"{k!r}: class names differ ({mine[k]} vs {theirs[k]})")
            raise JudgeMismatchError(
                "the judge was not trained on this dataset's labels: "
                + "; ".join(problems)
                + ". Train a judge on this dataset: dsvae judge train --data DATA --out DIR"
            )
        shape = (dataset.T, *dataset.frame_shape) if dataset.kind == "video" else None
        want = (cfg.T, cfg.channels, cfg.frame_size, cfg.frame_size)
        if shape != want:
            raise JudgeMismatchError(
                f"the judge reads sequences (T, C, H, W) = {want}, the dataset has "
                f"{shape if shape else 'vector frames'}; train a judge on this dataset: "
                "dsvae judge train --data DATA --out DIR"
            )

    def save(self, directory: str | Path, metrics: dict, force: bool = False) -> Path:
        """Write the judge folder atomically, flushed to disk: the saved-network format
        (:mod:`dsvae.weights`: judge.json, model.safetensors, checksums.json, checked by
        :meth:`load`) and metrics.json (``metrics`` with the weights' sha256, the judge's identity
        that reports quote). Raises FileExistsError for an existing folder without ``force``,
        ``OSError`` naming the file that could not be written (a full or read-only disk); nothing
        partial is left."""
        with atomic_dir(directory, force=force) as tmp:
            save_network(tmp, self, self.config.to_dict(), "judge.json")
            metrics = {**metrics, "sha256": judge_sha256(tmp)}
            write_file(tmp / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> Judge:
        """A judge folder -> the judge in eval mode. Raises FileNotFoundError for a missing file and
        :class:`~dsvae._io.DamagedFileError` (a ValueError) naming the file whose sha256 differs from
        the one recorded (checksums.json; a judge saved before it existed: the sha256 in
        metrics.json), or that is unreadable or does not fit judge.json."""
        directory = Path(directory)
        retrain = "train it again with `dsvae judge train --data DATA --out DIR --force`"
        if not (directory / CHECKSUMS).exists():
            _check_recorded_sha256(directory, retrain)
        judge = load_network(
            directory,
            lambda doc: cls(JudgeConfig.from_dict(doc)),
            "judge.json",
            map_location,
            kind="a judge folder",
            made_by="train one with `dsvae judge train --data DATA --out DIR`",
            remedy=retrain,
        )
        return judge.eval()


def _check_recorded_sha256(directory: Path, retrain: str) -> None:
    """A judge folder of an earlier dsvae (no checksums.json): its weights against the sha256 that
    its metrics.json recorded at save time, where it has one. Raises DamagedFileError."""
    try:
        recorded = json.loads((directory / "metrics.json").read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return  # no record to check against
    weights = directory / WEIGHTS
    if recorded and weights.exists() and judge_sha256(directory) != recorded:
        raise DamagedFileError(
            f"{weights} is damaged: its sha256 differs from the one recorded in "
            f"{directory / 'metrics.json'} when it was saved; restore the judge folder or {retrain}"
        )


def judge_sha256(directory: str | Path) -> str:
    """sha256 of the judge's model.safetensors: the identity reports quote (metrics.json's
    ``judge.sha256``; `dsvae compare` refuses runs scored by different judges)."""
    return sha256_file(Path(directory) / WEIGHTS)


def read_judge_metrics(directory: str | Path) -> dict:
    path = Path(directory) / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


# The judges shipped with dsvae (src/dsvae/judges/NAME/: judge.json, model.safetensors, metrics.json),
# trained by `dsvae judge train` on the training split of each benchmark (commands in docs/evaluation.md).
# Everyone who scores a run of these data with the default judge scores it with the same weights,
# so scores are comparable between users; each file is checked against its sha256 when it is loaded.
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "judges"
SHIPPED_JUDGES = {
    "sprites": "7582e88daf711219b66576e0cdd79a02ea08ead59a5971361cc483a441158e78",
    "synthetic": "b7efd6f289c39c2ff24185269f6f8af1cd9070a2404ca0a4cccfa6daa264d8b7",
}
# the dataset names (meta.json "name") each shipped judge scores: the table of sources says
SHIPPED_FOR = shipped_for()


class ShippedJudgeError(ValueError):
    """A shipped judge whose files are missing or altered (reinstall dsvae)."""


def shipped_judge_dir(dataset: SequenceDataset) -> Path | None:
    """The folder of the default judge for ``dataset``: the judge its source declares in the table
    of sources (:func:`dsvae.data.sources.judge_for`, by its meta.json: Sprites and the embedded
    procedural data have shipped judges; a user's source may name a shipped one or a folder of its
    own), checked against its sha256 (a user's folder: where its source declares one); None for
    other data (train a judge with ``dsvae judge train``). Raises ShippedJudgeError when the files
    are missing or altered; SourceError when the user's source that made the data cannot be loaded."""
    name = judge_for(dataset.meta)
    if name is None:
        return None
    if isinstance(name, Path):  # a user's source's own judge
        return _own_judge_dir(name, judge_sha256_for(dataset.meta), str(dataset.meta.get("name")))
    directory = SHIPPED_DIR / name
    if not (directory / "model.safetensors").exists():
        raise ShippedJudgeError(
            f"the shipped {name} judge is missing ({directory}): reinstall dsvae (pip install -e .), or "
            "pass a judge of your own with --judge DIR (dsvae judge train)"
        )
    got = judge_sha256(directory)
    if got != SHIPPED_JUDGES[name]:
        raise ShippedJudgeError(
            f"the shipped {name} judge {directory / 'model.safetensors'} has sha256 {got}, not the "
            f"{SHIPPED_JUDGES[name]} it shipped with: it was altered or damaged. Reinstall dsvae."
        )
    return directory


def _own_judge_dir(directory: Path, sha256: str | None, source: str) -> Path:
    """A user's source's judge folder, checked against the sha256 the source declares (if any)."""
    if not (directory / "model.safetensors").exists():
        raise ShippedJudgeError(
            f"the judge of data source {source!r} is missing ({directory}): reinstall or fix the package "
            "that declares the source, or pass a judge with --judge DIR (or --judge none)"
        )
    if sha256 is not None and judge_sha256(directory) != sha256:
        raise ShippedJudgeError(
            f"the judge of data source {source!r} {directory / 'model.safetensors'} has sha256 "
            f"{judge_sha256(directory)}, not the {sha256} its source declares: altered or damaged"
        )
    return directory


@torch.no_grad()
def judge_accuracy(
    judge: Judge,
    dataset: SequenceDataset,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> dict[str, float]:
    """Accuracy of every head on the real sequences of ``dataset``."""
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    judge.check_labels(dataset)
    judge.eval()
    correct = dict.fromkeys(judge.config.label_values, 0)
    for pos in dataset.batches(batch_size):
        x = dataset.model_batch(pos, device)
        with autocast(device, precision):
            logits = judge(x)
        for k, v in logits.items():
            y = torch.from_numpy(dataset.label_array(k)[pos]).to(device)
            correct[k] += int((v.argmax(dim=-1) == y).sum())
    return {k: c / len(dataset) for k, c in correct.items()}


def train_judge(
    dataset: SequenceDataset,
    out_dir: str | Path,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    precision: str = "auto",
    device: str = "auto",
    force: bool = False,
    **widths,
) -> dict[str, float]:
    """Train a judge on ``dataset.subset("train")`` (summed cross-entropy of every head, Adam),
    save it to ``out_dir`` and return the test accuracy of every head. ``widths``: JudgeConfig
    fields (conv_channels, feature_dim, hidden_dim). ``precision`` auto: bf16 autocast where the
    hardware has it."""
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise FileExistsError(f"{out_dir} exists; pass --force (force=True) to replace it")
    config = JudgeConfig.for_dataset(dataset, **widths)
    train, test = dataset.subset("train"), dataset.subset("test")
    if len(train) == 0 or len(test) == 0:
        raise ValueError(
            f"the judge needs training and test sequences, the dataset has {len(train)} and {len(test)}"
        )
    torch.manual_seed(seed)
    judge = Judge(config).to(device)
    optimizer = adam(judge.parameters(), lr, fused=None)
    labels = {k: torch.from_numpy(train.label_array(k)) for k in config.label_values}
    start = time.perf_counter()
    bar = progress(total=epochs * train.num_batches(batch_size), desc="judge", unit="batch")
    for epoch in range(epochs):
        judge.train()
        for pos in train.batches(batch_size, shuffle=True, seed=seed, epoch=epoch):
            x = train.model_batch(pos, device)
            with autocast(device, precision):
                logits = judge(x)
            losses = {k: F.cross_entropy(v.float(), labels[k][pos].to(device)) for k, v in logits.items()}
            loss = sum(losses.values())
            optimizer_step(optimizer, loss)
            bar.update()
            bar.set_postfix(refresh=False, epoch=epoch + 1, loss=f"{loss.item():.3f}")
    bar.close()
    train_seconds = time.perf_counter() - start
    accuracy = judge_accuracy(judge, test, batch_size=4 * batch_size, device=device, precision=precision)
    metrics = {
        "test_accuracy": accuracy,
        "label_values": config.label_values,
        "dataset": dataset.meta.get("name", "?"),
        "train_sequences": len(train),
        "test_sequences": len(test),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "precision": precision,
        "device": str(device),
        "train_seconds": round(train_seconds, 1),
        "num_parameters": sum(p.numel() for p in judge.parameters()),
    }
    judge.save(out_dir, metrics, force=force)
    return accuracy


__all__ = [
    "SHIPPED_JUDGES",
    "ShippedJudgeError",
    "shipped_judge_dir",
    "Judge",
    "JudgeConfig",
    "JudgeMismatchError",
    "judge_accuracy",
    "judge_sha256",
    "read_judge_metrics",
    "train_judge",
]
