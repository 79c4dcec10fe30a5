"""Speech runs: speaker verification with f against z, and linear probes.

The paper's test (TIMIT): f should carry the speaker and z what is said. Every test utterance gets
one code per latent: f averaged over its segments (posterior means), z averaged over the frames
and the segments. Speaker verification scores every pair of test utterances by the cosine of their
codes; its equal error rate should be low with f and high (near 50%) with z. Probes (linear and a
small MLP) and DCI, trained on the training utterances' codes, read the speaker and (FSDD) the digit
on the test utterances, as for videos (:mod:`dsvae.evaluate.codes`). Voice conversion (sound and
spectrograms of a recording's z with another speaker's f) is a picture: :func:`dsvae.viz.voice_conversion`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.base import SequenceDataset
from ..data.speech import SPEAKER
from ..elbo import elbo_terms
from ..run import TrainedRun, model_provenance, write_metrics
from .codes import encode_means, latent_scores
from .dci import REGRESSORS
from .factors import dataset_factor_kinds
from .markdown import speech_metrics_table
from .records import SCHEMA_VERSION, SCORING_VERSION
from .usermetrics import find_metrics, run_user_metrics
from .verification import cosine_pair_scores, eer

# TIMIT speaker verification EER with f (lower is better) / with z (higher is better): Li & Mandt
# 2018, table 3, and the successors' papers
PAPER_TIMIT_EER = {
    "DSVAE": {"f": 0.0564, "z": 0.1920},
    "C-DSVAE": {"f": 0.0403, "z": 0.3181},
    "DBSE": {"f": 0.0350, "z": 0.3462},
}


@dataclass
class UtteranceCodes:
    """One code per utterance (rows in the order of ``utterance``)."""

    utterance: np.ndarray  # (U,) ids
    f: np.ndarray  # (U, f_dim): mean over the utterance's segments of q(f)'s mean
    z: np.ndarray  # (U, z_dim): mean over frames and segments of q(z_t)'s mean
    labels: dict[str, np.ndarray]  # name -> (U,) class of each utterance


def _check_speech_run(run: TrainedRun) -> SequenceDataset:
    """The run's dataset (checked to fit its model by :class:`~dsvae.run.TrainedRun`), after checking
    that it is speech: vector frames, an ``utterance`` column and a speaker label. Raises ValueError."""
    if run.model.config.is_video:
        raise ValueError(
            "speech evaluation needs a vector-frame model and dataset (dsvae train --preset speech)"
        )
    ds = run.dataset
    if "utterance" not in ds.info:
        raise ValueError(
            f"{ds.meta.get('name', 'the dataset')} has no 'utterance' column; build speech data with "
            "`dsvae data fsdd` or `dsvae data timit`"
        )
    if SPEAKER not in ds.labels:
        raise ValueError(f"the run's dataset has no {SPEAKER!r} label to verify; labels: {sorted(ds.labels)}")
    return ds


def utterance_codes(ds: SequenceDataset, f: np.ndarray, z: np.ndarray) -> UtteranceCodes:
    """Average segment codes (:func:`dsvae.evaluate.codes.encode_means`) over each utterance of ``ds``."""
    ids, row = np.unique(ds.info_array("utterance"), return_inverse=True)
    count = np.bincount(row, minlength=len(ids)).astype(np.float64)[:, None]

    def mean_by_utterance(x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ids), x.shape[1]))
        np.add.at(out, row, x)
        return out / count

    first = np.unique(row, return_index=True)[1]  # an utterance's labels are those of any segment
    labels = {k: ds.label_array(k)[first] for k in ds.labels}
    return UtteranceCodes(ids, mean_by_utterance(f), mean_by_utterance(z.mean(axis=1)), labels)


def evaluate_speech_run(
    run_dir: str | Path | TrainedRun,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    static: Sequence[str] = (),
    dynamic: Sequence[str] = (),
    regressors: Sequence[str] = REGRESSORS,
    user_metrics: Sequence = (),
) -> dict:
    """Speaker EER with f and with z over all pairs of test utterances, DCI and the probes of every
    label from f and from z (:func:`dsvae.evaluate.codes.latent_scores` on utterance codes: the
    speaker is static, the digit dynamic, see :mod:`dsvae.evaluate.factors`; the parts of a label
    the data splits, :mod:`dsvae.data.parts`, get probes of their own), and the test ELBO;
    writes RUN/metrics.json and RUN/metrics.md. ``run_dir``: the run folder, or the run as
    :func:`~dsvae.evaluate.protocols.evaluate_run` opened it; ``user_metrics``: metrics
    (:func:`~dsvae.evaluate.usermetrics.find_metric`), run on the test segments after the rest."""
    user_metrics = find_metrics(user_metrics)
    run = TrainedRun.of(run_dir, device)
    run_dir, model = run.path, run.model
    ds = _check_speech_run(run)
    train, test = run.train, run.test
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"need training and test segments, got {len(train)} and {len(test)}")
    codes = {}
    for name, part in (("train", train), ("test", test)):
        codes[name] = utterance_codes(part, *encode_means(model, part, batch_size, device))
    te = codes["test"]

    notes: list[str] = []
    speaker_eer, same = {}, None
    for latent in ("f", "z"):
        scores, same = cosine_pair_scores(getattr(te, latent), te.labels[SPEAKER])
        speaker_eer[latent] = eer(scores, same)
    kinds, rules = dataset_factor_kinds(ds, static, dynamic)
    tr = codes["train"]
    latents = latent_scores(
        {"f": tr.f, "z": tr.z},
        tr.labels,
        {"f": te.f, "z": te.z},
        te.labels,
        kinds,
        regressors=regressors,
        parts=ds.label_parts,  # a split label's parts get probes of their own
    )
    latents["train_sequences"] = len(tr.utterance)
    notes += [f"no DCI or probes of {k}: {why}" for k, why in latents["skipped"].items()]
    probes = latents["probes"]

    metrics = {
        "schema": SCHEMA_VERSION,  # dsvae.evaluate.records declares every section
        "scoring": SCORING_VERSION,
        "run": str(run_dir),
        "model": model_provenance(run_dir),
        "kind": "speech",
        "dataset": {
            "name": ds.meta.get("name", "?"),
            "test_segments": len(test),
            "test_utterances": len(te.utterance),
            "train_utterances": len(codes["train"].utterance),
            "test_speakers": int(len(np.unique(te.labels[SPEAKER]))),
            "labels": ds.num_classes,
        },
        "speaker_eer": speaker_eer,
        "pairs": {"same": int(same.sum()), "different": int((~same).sum())},
        "probe": {
            k: {"f": p["from_f"]["linear"], "z": p["from_z"]["linear"], "chance": p["chance"]}
            for k, p in sorted(probes.items())
        },
        "factor_kinds": {k: {"kind": kinds[k], "rule": rules[k]} for k in kinds},
        "latents": latents,
        "reconstruction": elbo_terms(model, test, batch_size, torch.device(device), mse=True),
        "paper_timit_eer": PAPER_TIMIT_EER,
        "notes": notes,
    }
    if user_metrics:
        metrics["user_metrics"] = run_user_metrics(user_metrics, model, test, batch_size, device)
    write_metrics(run_dir, metrics, speech_metrics_table(metrics))
    return metrics
