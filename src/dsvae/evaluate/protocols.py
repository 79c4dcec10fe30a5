"""`dsvae eval`: score a trained run the way the field does, on its test sequences.

1. The paper's protocol (Li & Mandt 2018): f fixed to the posterior mean, z_1:T drawn from the learned
   prior -> the judge's accuracy on every attribute (every static label); z_1:T fixed to the
   posterior mean, f ~ N(0, I) -> the judge's accuracy on the motion (the dynamic label, whatever its
   name: :func:`~dsvae.evaluate.factors.motion_label` of the data's static/dynamic kinds).
2. The later standard, on the motion head over those fixed-z videos: Acc, IS, H(y|x), H(y) on a
   class-balanced test set (every motion equally often: subsampled to the smallest class).
3. The swap check: decode (f of a, z of b) for seeded random test pairs -> the judge should read a's
   attributes and b's motion.
4. Reconstruction (posterior means): per-pixel MSE and PSNR; the ELBO terms (posterior samples, as
   in training), averaged over the test set.

1-3 are repeated for ``seeds`` seeds (the prior draws, the balanced subsets, the pairs) and reported
as mean and standard deviation. Unlabelled data gets 4 only. The results go to RUN/metrics.json and
RUN/metrics.md (its text: :mod:`dsvae.evaluate.markdown`).

A label the dataset splits into parts (:mod:`dsvae.data.parts`; Sprites: motion = 3 * action +
direction) is scored per part too, in every protocol that scores it (1-3, the per-factor matrices,
the judge's audit, the probes): the judge reads the label, and the part it reads is the part of that
reading (Sprites: action = prediction // 3, direction = prediction % 3). No judge is trained for a
part: the judge is the instrument that reads what a video shows, and on real data its reading of
the label fixes each part. The parts go under a ``parts`` key beside the label's scores (the
motion scores' Acc: ``acc_parts``); every other number is what it is without the split.

Every protocol reads one :class:`ScoringContext` (the model as it scores, the data, device,
precision, seeds, batch size, the labels' kinds, the judges, the notes and timings being filled):
:func:`scoring_context` makes it from a run, :func:`score_video_run` runs the protocols on it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.base import SequenceDataset
from ..data.parts import LabelParts
from ..device import (
    autocast,
    conv_channels_last,
    default_channels_last,
    resolve_device,
    resolve_precision,
    seeded_eval,
)
from ..elbo import ELBO_TERMS, terms_of
from ..model import DSVAE
from ..progress import Stopwatch, progress
from ..run import TrainedRun, model_provenance, write_metrics
from .codes import encode_means, latent_scores
from .dci import REGRESSORS
from .factors import (
    MOTION,
    STATIC,
    assignment_score,
    dataset_factor_kinds,
    home_latent,
    motion_label,
    swap_following,
)
from .judge import Judge, judge_sha256, read_judge_metrics, shipped_judge_dir
from .markdown import metrics_table, speech_metrics_table
from .metrics import accuracy, class_balanced_subset, mean_std, motion_scores
from .records import SCHEMA_VERSION, SCORING_VERSION, MetricsRecord
from .usermetrics import find_metrics, run_user_metrics
from .verification import identity_eer


def _check_finite_terms(run_dir: str | Path, terms: dict, where: str = "reconstruction") -> None:
    """The reconstruction and ELBO terms, defined for every model and data, all finite: a NaN or
    infinite one means the model cannot be scored, and is never written as a result. Raises
    ValueError naming the terms."""
    bad = []
    for key, value in terms.items():
        if isinstance(value, dict):
            bad += [f"{key}.{k}" for k, v in value.items() if isinstance(v, float) and not math.isfinite(v)]
        elif isinstance(value, float) and not math.isfinite(value):
            bad.append(key)
    if bad:
        raise ValueError(
            f"{run_dir}: the model's {where} gives non-finite values "
            f"({', '.join(f'{where}.{b}' for b in bad)}), "
            "so nothing is scored and no metrics are written; the run diverged or its model is damaged: "
            "train it again (after a divergence, dsvae train --resume --out RUN --resume-lr LR)"
        )


@dataclass
class ScoringContext:
    """What every protocol of one evaluation of a video run reads: the model as it scores (a scoring
    copy, :meth:`~dsvae.model.DSVAE.for_scoring`), the run's dataset and its test split, where and
    in which precision videos are generated and judged, how many seeds and how large a batch, the
    kinds of the labels (static / dynamic, :mod:`dsvae.evaluate.factors`), the judges (None: none)
    and their folders, the test labels the data splits into parts (``parts``: {label:
    :class:`~dsvae.data.parts.LabelParts`}); ``notes`` collects the sentences metrics.json's
    "notes" shows, ``watch`` each part's wall-clock seconds ("timings_s")."""

    run_dir: Path
    model: DSVAE
    dataset: SequenceDataset
    test: SequenceDataset
    device: torch.device
    precision: str
    seeds: int
    batch_size: int
    kinds: dict[str, str]
    rules: dict[str, str]
    judge: Judge | None = None
    judge2: Judge | None = None
    judge_dirs: dict[str, Path] = field(default_factory=dict)
    parts: dict[str, LabelParts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    watch: Stopwatch = field(default_factory=Stopwatch)

    @property
    def judges(self) -> dict[str, Judge | None]:
        """{"judge": the judge, "judge2": the second one}, either None where not given."""
        return {"judge": self.judge, "judge2": self.judge2}


def evaluate_run(
    run_dir: str | Path,
    judge_dir: str | Path | None = "auto",
    seeds: int = 3,
    batch_size: int = 128,
    device: str = "auto",
    precision: str = "auto",
    judge2_dir: str | Path | None = None,
    static: Sequence[str] = (),
    dynamic: Sequence[str] = (),
    regressors: Sequence[str] = REGRESSORS,
    max_train: int = 1000,
    user_metrics: Sequence = (),
) -> dict:
    """Every protocol that applies to the run's data, then the ``user_metrics`` (names, files or
    declared functions: :func:`~dsvae.evaluate.usermetrics.find_metric`; found before anything is
    computed, so that a wrong name fails at once); writes RUN/metrics.json and RUN/metrics.md and
    returns the metrics. ``judge_dir``: a judge folder, "auto" (the judge shipped for the data's
    benchmark, :func:`~dsvae.evaluate.judge.shipped_judge_dir`, else none) or None (no judge).
    Earlier scores of the run by another judge are kept beside (:func:`keep_earlier_metrics`); a run
    that has not finished is scored at its last checkpoint, and metrics.json says which step.
    ``precision`` (auto: bf16 where the hardware has it) is that of generating
    and judging the videos of protocols 1-3; reconstruction and ELBO are computed in fp32. A vector
    (speech) run is handed to ``dsvae.evaluate.speech``.

    Labelled data also gets, judge or not, DCI of f, of time-averaged z and of both (``regressors``:
    "gbt", "linear"; fitted on at most ``max_train`` training sequences, scored on the test set) and
    the leakage probes; with a judge, the per-factor swap and sample matrices and the judge's audit
    (its accuracy on real test sequences and on the model's reconstructions; with ``judge2_dir`` a
    second judge's too, and how often the two agree on the generated videos). ``static`` /
    ``dynamic`` name labels whose latent the data does not tell (:mod:`dsvae.evaluate.factors`).

    Raises ValueError for ``seeds`` < 1, a run without test sequences, ``judge2_dir`` without
    ``judge_dir``, or a model whose reconstruction or ELBO is not finite."""
    run_dir = Path(run_dir)
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    loaded = find_metrics(user_metrics)
    run = TrainedRun(run_dir, device)
    if not run.model.config.is_video:  # speech: scored by speaker verification instead of a judge
        return _speech_run(run, judge_dir, judge2_dir, batch_size, static, dynamic, regressors, loaded)
    ctx = scoring_context(run, judge_dir, judge2_dir, seeds, batch_size, precision, static, dynamic)
    metrics = score_video_run(ctx, regressors, max_train)
    if loaded:
        with ctx.watch.part("user metrics"):
            metrics["user_metrics"] = run_user_metrics(loaded, run.model, ctx.test, batch_size, device)
    metrics["timings_s"] = ctx.watch.seconds
    write_metrics(run_dir, metrics, metrics_table(metrics))
    return metrics


def _speech_run(
    run: TrainedRun, judge_dir, judge2_dir, batch_size, static, dynamic, regressors, loaded
) -> dict:
    """A run on vector frames, scored by :func:`~dsvae.evaluate.speech.evaluate_speech_run` (speaker
    verification, DCI and probes, no judge: a judge given is not used, with a warning)."""
    from .speech import evaluate_speech_run

    if judge_dir not in (None, "auto") or judge2_dir is not None:
        warnings.warn(
            f"{run.path} is a run on vector frames (speech): it is scored by speaker verification, "
            "DCI and probes, without a judge; the --judge/--judge2 given are not used",
            stacklevel=3,
        )
    return evaluate_speech_run(
        run,
        device=run.device,
        batch_size=batch_size,
        static=static,
        dynamic=dynamic,
        regressors=regressors,
        user_metrics=loaded,
    )


def scoring_context(
    run: TrainedRun,
    judge_dir: str | Path | None,
    judge2_dir: str | Path | None,
    seeds: int,
    batch_size: int,
    precision: str,
    static: Sequence[str] = (),
    dynamic: Sequence[str] = (),
) -> ScoringContext:
    """The :class:`ScoringContext` of a video run: its model as it scores (BatchNorms folded;
    channels_last as training chooses it, faster convs), its dataset (checked to fit the model), the
    judges opened and checked against the test labels (``judge_dir`` "auto": the one shipped for
    the data, where there is one), the labels' kinds. Raises ValueError for a run without test
    sequences or a second judge without a first."""
    device = run.device
    model = run.model.for_scoring(default_channels_last(run.model.config, device))
    dataset, test = run.dataset, run.test
    if len(test) == 0:
        raise ValueError("the run's dataset has no test sequences to evaluate on")
    if judge_dir == "auto":  # the shipped judge of the data's benchmark, where there is one
        judge_dir = shipped_judge_dir(dataset) if test.labels else None
    judge = _open_judge(judge_dir, test, device)
    judge2 = _open_judge(judge2_dir, test, device) if judge2_dir is not None else None
    if judge2 is not None and judge is None:
        raise ValueError("--judge2 is a second opinion: pass --judge DIR as well")
    kinds, rules = dataset_factor_kinds(dataset, static, dynamic) if test.labels else ({}, {})
    dirs = {name: Path(d) for name, d in (("judge", judge_dir), ("judge2", judge2_dir)) if d is not None}
    return ScoringContext(
        run_dir=run.path,
        model=model,
        dataset=dataset,
        test=test,
        device=device,
        precision=precision,
        seeds=seeds,
        batch_size=batch_size,
        kinds=kinds,
        rules=rules,
        judge=judge,
        judge2=judge2,
        judge_dirs=dirs,
        parts={k: p for k, p in dataset.label_parts.items() if k in test.labels},
    )


def score_video_run(
    ctx: ScoringContext, regressors: Sequence[str] = REGRESSORS, max_train: int = 1000
) -> dict:
    """Every protocol of :func:`evaluate_run` on ``ctx`` -> metrics.json's sections (without the
    user's metrics and the timings), in the order that keeps each part's random draws as they are:
    codes and reconstruction, the judge protocols and audit, identity EER, DCI and the probes."""
    test = ctx.test
    metrics = _sections(ctx)
    ctx.notes.extend(
        f"the data splits {k} into {' and '.join(p.parts)}: each score of {k} is also given per part, "
        f"the part of the {k} the judge reads (probes: fitted on each part)"
        for k, p in ctx.parts.items()
    )
    # the audit's fp32 reconstructions and real sequences are judged in the first pass (the same
    # decodes as there, so once); under bf16 the audit decodes again under autocast
    shared = ctx.judges if ctx.precision == "fp32" and test.labels else {}
    with ctx.watch.part("encode and reconstruct"):
        codes, metrics["reconstruction"], counted = _encode_and_reconstruct(
            ctx.model, test, ctx.batch_size, ctx.device, shared, ctx.parts
        )
    _check_finite_terms(ctx.run_dir, metrics["reconstruction"])
    if not test.labels:
        ctx.notes.append("the dataset has no labels: reconstruction and ELBO only")
    elif ctx.judge is None:
        ctx.notes.append(
            "no judge: pass --judge DIR for the judge protocols, the factor matrices and the judge's "
            "audit; DCI and the probes need the labels only"
        )
    else:
        metrics.update({name: _judge_info(d) for name, d in ctx.judge_dirs.items()})
        with ctx.watch.part("judge protocols (generate and judge)"):
            metrics.update(_judge_protocols(ctx, codes))
        with ctx.watch.part("judge audit"):
            metrics["judge_audit"] = _judge_audit(
                ctx.model,
                ctx.judges,
                test,
                codes,
                ctx.batch_size,
                ctx.device,
                ctx.precision,
                counted,
                ctx.parts,
            )
        metrics["judge_audit"]["agreement"] = metrics.pop("agreement", None)
    metrics["identity_eer"] = _identity_eer(test, codes)
    if test.labels:
        audit = (metrics["judge_audit"] or {}).get("judge", {})
        ceilings = (audit.get("real"), audit.get("parts", {}).get("real"))
        metrics["latents"] = _latents(ctx, codes, ceilings, regressors, max_train)
    return metrics


def _sections(ctx: ScoringContext) -> dict:
    """metrics.json's sections in their order, each None until its protocol fills it; "notes" is
    the context's list (filled as the protocols run)."""
    test = ctx.test
    return {
        "schema": SCHEMA_VERSION,  # dsvae.evaluate.records declares every section
        "scoring": SCORING_VERSION,
        "run": str(ctx.run_dir),
        "dataset": {
            "name": test.meta.get("name", "?"),
            "test_sequences": len(test),
            "labels": test.num_classes,
        },
        "model": model_provenance(ctx.run_dir),
        "judge": None,
        "seeds": ctx.seeds,
        "precision": ctx.precision,
        "paper_protocol": None,
        "motion_scores": None,
        "swap": None,
        "reconstruction": None,
        "identity_eer": None,
        "factor_kinds": {k: {"kind": ctx.kinds[k], "rule": ctx.rules[k]} for k in ctx.kinds},
        "factors": None,
        "judge_audit": None,
        "latents": None,
        "notes": ctx.notes,
    }


def add_user_metrics(
    run_dir: str | Path,
    user_metrics: Sequence,
    batch_size: int = 128,
    device: str = "auto",
) -> dict:
    """Only the ``user_metrics`` (:func:`~dsvae.evaluate.usermetrics.find_metric`), added to the
    run's RUN/metrics.json beside the scores there (a metric of the same name is replaced, other
    user metrics are kept); metrics.json (at the current schema version) and metrics.md written
    again; returns the metrics. Raises FileNotFoundError for a run without metrics.json, ValueError
    where the run's model is no longer the one metrics.json scored (it trained on since): then the
    whole evaluation is run again (``evaluate_run(..., user_metrics=...)``)."""
    run_dir = Path(run_dir)
    loaded = find_metrics(user_metrics)
    if not loaded:
        raise ValueError("name at least one metric to add (--metric NAME)")
    run = TrainedRun(run_dir, resolve_device(device))
    if run.metrics is None:
        raise FileNotFoundError(
            f"{run_dir / 'metrics.json'} not found: score the run first, or score it with the metrics in "
            f"one go (dsvae eval {run_dir} --metric NAME, without --metrics-only)"
        )
    doc = MetricsRecord.from_dict(run.metrics).to_dict()
    scored, now = doc.get("model") or {}, model_provenance(run_dir)
    if scored and (scored.get("step"), scored.get("source")) != (now["step"], now["source"]):
        raise ValueError(
            f"{run_dir}/metrics.json scored the model at step {scored.get('step')} ({scored.get('source')}); "
            f"the run's model is now at step {now['step']} ({now['source']}): score everything again "
            f"(dsvae eval {run_dir} --metric NAME, without --metrics-only)"
        )
    if len(run.test) == 0:
        raise ValueError("the run's dataset has no test sequences to evaluate on")
    new = run_user_metrics(loaded, run.model, run.test, batch_size, run.device)
    doc["user_metrics"] = {**(doc.get("user_metrics") or {}), **new}
    markdown = speech_metrics_table(doc) if doc.get("kind") == "speech" else metrics_table(doc)
    with warnings.catch_warnings():  # the same evaluation, with metrics added: nothing was replaced
        warnings.filterwarnings("ignore", message="replaced the earlier scores")
        write_metrics(run_dir, doc, markdown)
    return doc


def _open_judge(judge_dir: str | Path | None, test: SequenceDataset, device: torch.device) -> Judge | None:
    """The judge of ``judge_dir`` (checked against the test labels) as it scores: BatchNorm folded,
    channels_last where that is faster (:meth:`Judge.for_scoring`, :func:`conv_channels_last`)."""
    if judge_dir is None:
        return None
    judge = Judge.load(judge_dir, map_location=device)
    judge.check_labels(test)
    return judge.for_scoring(conv_channels_last(device))


def _judge_info(judge_dir: str | Path) -> dict:
    return {
        "dir": str(judge_dir),
        "sha256": judge_sha256(judge_dir),
        "test_accuracy": read_judge_metrics(judge_dir).get("test_accuracy"),
    }


class _Right:
    """How many of the test sequences a judge reads right: per label, and per part of each split
    label (``parts``: the part of the label it reads). :meth:`add` counts a batch, :meth:`rates`
    gives the fractions."""

    def __init__(self, test: SequenceDataset, parts: dict[str, LabelParts]) -> None:
        self.test, self.parts = test, parts
        self.labels = dict.fromkeys(test.labels, 0)
        self.of_parts = {k: dict.fromkeys(p.parts, 0) for k, p in parts.items()}

    def add(self, logits: dict[str, torch.Tensor], pos) -> None:
        """Count the judge's ``logits`` {label: (B, K)} of the sequences ``pos`` of the test set."""
        for k, v in logits.items():
            read, true = v.argmax(-1).cpu().numpy(), self.test.label_array(k)[pos]
            self.labels[k] += int((read == true).sum())
            if k in self.parts:
                read_parts, true_parts = self.parts[k].split(read), self.parts[k].split(true)
                for q in self.of_parts[k]:
                    self.of_parts[k][q] += int((read_parts[q] == true_parts[q]).sum())

    def rates(self) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """({label: fraction read right}, {label: {part: fraction}})."""
        n = len(self.test)
        parts = {k: {q: c / n for q, c in by.items()} for k, by in self.of_parts.items()}
        return {k: c / n for k, c in self.labels.items()}, parts


def _audit_of(right: dict[str, _Right]) -> dict:
    """One judge's audit from its counts on the real sequences and the reconstructions: {"real":
    {label: rate}, "reconstruction": {...}}, and where labels are split, "parts": {"real": {label:
    {part: rate}}, "reconstruction": {...}}."""
    rates = {which: r.rates() for which, r in right.items()}
    out: dict = {which: labels for which, (labels, _) in rates.items()}
    if any(parts for _, parts in rates.values()):
        out["parts"] = {which: parts for which, (_, parts) in rates.items()}
    return out


@torch.no_grad()
def _judge_audit(
    model: DSVAE,
    judges: dict[str, Judge | None],
    test: SequenceDataset,
    codes: dict[str, np.ndarray],
    batch_size: int,
    device: torch.device,
    precision: str,
    counted: dict[str, dict] | None = None,
    parts: dict[str, LabelParts] | None = None,
) -> dict:
    """Each judge's accuracy on the real test sequences and on the model's reconstructions from the
    posterior means, per label and per part of the split labels ``parts`` (:func:`_audit_of`): the
    ceiling of every score on generated videos. ``counted``: those of judges already scored in the
    first pass (:func:`_encode_and_reconstruct`), used as they are; the others read both here."""
    f_all, z_all = torch.from_numpy(codes["f"]), torch.from_numpy(codes["z"])
    out = {}
    for name, judge in judges.items():
        if judge is None:
            continue
        if counted and name in counted:
            out[name] = counted[name]
            continue
        right = {which: _Right(test, parts or {}) for which in ("real", "reconstruction")}
        for pos in test.batches(batch_size):
            x = test.model_batch(pos, device)
            with autocast(device, precision):
                right["real"].add(judge(x), pos)
                x_hat = model.decode(f_all[pos].to(device), z_all[pos].to(device))
                right["reconstruction"].add(judge(x_hat.float()), pos)
        out[name] = _audit_of(right)
    return out


@torch.no_grad()
def _encode_and_reconstruct(
    model: DSVAE,
    test: SequenceDataset,
    batch_size: int,
    device: torch.device,
    judges: dict[str, Judge | None] | None = None,
    parts: dict[str, LabelParts] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, dict]]:
    """Posterior means of every test sequence, and protocol 4: reconstruction from those means
    (per-pixel MSE, PSNR from each sequence's MSE) and the ELBO terms with posterior samples (seed 0,
    as :func:`~dsvae.elbo.elbo_terms`), in fp32 and in one pass of the encoder over the test set
    (:meth:`~dsvae.model.DSVAE.encode_and_elbo`). Each of ``judges`` (fp32) also reads the real
    sequences and the reconstructions on the way: their audit (:func:`_judge_audit`; the split
    labels' ``parts`` too), returned."""
    judges = {k: j for k, j in (judges or {}).items() if j is not None}
    f, z, mse = [], [], []
    sums = torch.zeros(len(ELBO_TERMS), dtype=torch.float64, device=device)
    right = {name: {w: _Right(test, parts or {}) for w in ("real", "reconstruction")} for name in judges}
    with seeded_eval(model, 0, device):  # elbo_terms' seed: the same posterior draws
        for pos in progress(list(test.batches(batch_size)), desc="encode", unit="batch"):
            x = test.model_batch(pos, device)
            enc, out = model.encode_and_elbo(x)
            sums += terms_of(out).double() * len(pos)
            x_hat = model.decode(enc.f, enc.z)
            mse.append((x_hat - x).pow(2).flatten(1).mean(dim=1).cpu().numpy())
            f.append(enc.f.cpu().numpy())
            z.append(enc.z.cpu().numpy())
            for name, judge in judges.items():
                for which, video in (("real", x), ("reconstruction", x_hat)):
                    right[name][which].add(judge(video), pos)
    mse_seq = np.concatenate(mse).astype(np.float64)
    psnr = 10.0 * np.log10(1.0 / np.maximum(mse_seq, 1e-12))
    recon = {"mse": float(mse_seq.mean()), "psnr": float(psnr.mean())}
    recon.update(zip(ELBO_TERMS, (sums / len(test)).tolist()))
    audit = {name: _audit_of(r) for name, r in right.items()}
    return {"f": np.concatenate(f), "z": np.concatenate(z)}, recon, audit


def _label_roles(ctx: ScoringContext) -> tuple[str | None, list[str]]:
    """(the dynamic label scored as the motion, or None; the static labels scored as attributes),
    with a note for each departure from Sprites' labels (no motion, another name, other dynamic
    labels, no attributes)."""
    kinds, labels, notes = ctx.kinds, ctx.test.labels, ctx.notes
    motion = motion_label(kinds)  # the dynamic label, scored as the motion whatever its name
    attributes = [k for k in labels if kinds[k] == STATIC]
    if motion is None:
        notes.append(
            f"the dataset has no dynamic label (no {MOTION!r} label, none declared or given with --dynamic): "
            "no motion accuracy, motion scores or swap motion"
        )
    elif motion != MOTION:
        notes.append(f"the motion of protocols 1-3 is the dynamic label {motion!r}")
    others = [k for k in labels if k not in attributes and k != motion]
    if others:
        notes.append(
            f"the dynamic labels {', '.join(map(repr, others))} are scored per factor only (protocols 1-3 "
            f"score {motion!r} as the motion)"
        )
    if not attributes:
        notes.append("the dataset has no attribute labels: no attribute accuracies")
    return motion, attributes


@torch.no_grad()
def _judge_protocols(ctx: ScoringContext, codes: dict[str, np.ndarray]) -> dict:
    """Protocols 1-3 and the per-factor matrices for every seed, then their mean and standard
    deviation; with a second judge, how often the two judges agree on the generated videos."""
    motion, attributes = _label_roles(ctx)
    y = {k: ctx.test.label_array(k) for k in ctx.test.labels}
    per_seed: list[dict] = []
    bar = progress(
        total=ctx.seeds * ctx.test.num_batches(ctx.batch_size), desc="judge protocols", unit="batch"
    )
    for seed in range(ctx.seeds):
        partner = np.random.default_rng(seed).permutation(len(ctx.test))  # swaps: (f of a, z of partner[a])
        p, second = _judged_videos(ctx, codes, seed, partner, bar)
        result = _seed_scores(p, y, partner, seed, motion, attributes, ctx.kinds)
        _add_part_scores(result, p, y, partner, seed, motion, attributes, ctx.parts)
        if second is not None:
            result["agreement"] = {
                k: float(
                    np.mean([(p[which][k].argmax(1) == second[which][k].argmax(1)).mean() for which in p])
                )
                for k in y
            }
        per_seed.append(result)
    bar.close()
    return _over_seeds(ctx, per_seed, y, motion)


def _judged_videos(
    ctx: ScoringContext, codes: dict[str, np.ndarray], seed: int, partner: np.ndarray, bar
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]] | None]:
    """One seed's generated videos, judged: {"swap", "fixed_f", "fixed_z"} -> {label: p(y | video)
    (N, K)} by the judge, and by the second judge (None without one). swap: (f of a, z of
    partner[a]); fixed_f: a's f, z rolled out from the prior; fixed_z: f ~ N(0, I), a's z. The
    draws are the seed's (:func:`~dsvae.device.seeded_eval`), the videos under the context's
    precision."""
    model, device, judge2 = ctx.model, ctx.device, ctx.judge2
    f_all, z_all = torch.from_numpy(codes["f"]), torch.from_numpy(codes["z"])
    probs: dict[str, dict[str, list]] = {"fixed_f": {}, "fixed_z": {}, "swap": {}}
    second: dict[str, dict[str, list]] = {"fixed_f": {}, "fixed_z": {}, "swap": {}}
    with seeded_eval(model, seed, device), autocast(device, ctx.precision):
        for pos in ctx.test.batches(ctx.batch_size):
            f, z = f_all[pos].to(device), z_all[pos].to(device)
            videos = {
                "swap": model.decode(f, z_all[partner[pos]].to(device)),
                "fixed_f": model.decode(f, model.sample_prior_z(len(pos))),
                "fixed_z": model.decode(model.sample_prior_f(len(pos)), z),
            }
            for which, x in videos.items():
                for k, p in ctx.judge.predict_proba(x).items():
                    probs[which].setdefault(k, []).append(p.cpu().numpy())
                if judge2 is not None:
                    for k, p in judge2.predict_proba(x).items():
                        second[which].setdefault(k, []).append(p.cpu().numpy())
            bar.update()

    def joined(heads: dict[str, dict[str, list]]) -> dict[str, dict[str, np.ndarray]]:
        return {which: {k: np.concatenate(v) for k, v in by.items()} for which, by in heads.items()}

    return joined(probs), (joined(second) if judge2 is not None else None)


def _seed_scores(
    p: dict[str, dict[str, np.ndarray]],
    y: dict[str, np.ndarray],
    partner: np.ndarray,
    seed: int,
    motion: str | None,
    attributes: list[str],
    kinds: dict[str, str],
) -> dict:
    """One seed's protocols 1-3 and factor matrices from the judged videos ``p``
    (:func:`_judged_videos`) and the true labels ``y``: the attributes read on fixed-f videos and
    swaps (of a), the motion on fixed-z videos and swaps (of partner[a]), the motion scores on a
    class-balanced subset (drawn with ``seed``)."""
    result: dict = {"paper_protocol": {}, "swap": {}}
    if attributes:
        attr = {k: accuracy(p["fixed_f"][k], y[k]) for k in attributes}
        swap_attr = {k: accuracy(p["swap"][k], y[k]) for k in attributes}
        result["paper_protocol"].update(attributes=attr, attributes_mean=float(np.mean(list(attr.values()))))
        result["swap"].update(attributes=swap_attr, attributes_mean=float(np.mean(list(swap_attr.values()))))
    if motion is not None:
        result["paper_protocol"]["motion"] = accuracy(p["fixed_z"][motion], y[motion])
        result["swap"]["motion"] = accuracy(p["swap"][motion], y[motion][partner])
        balanced = class_balanced_subset(y[motion], seed)
        result["motion_scores"] = motion_scores(p["fixed_z"][motion][balanced], y[motion][balanced])
    result["factors"] = _factor_scores(p, y, partner, kinds)
    return result


def _add_part_scores(
    result: dict,
    p: dict[str, dict[str, np.ndarray]],
    y: dict[str, np.ndarray],
    partner: np.ndarray,
    seed: int,
    motion: str | None,
    attributes: list[str],
    parts: dict[str, LabelParts],
) -> None:
    """Add to one seed's ``result`` (:func:`_seed_scores`) the scores of the parts of the split
    labels (``parts``), each part read as the part of the label the judge reads (the argmax of its
    p(label | video) ``p``, mapped by the split): where a label is scored in the paper's protocol
    and the swaps (attributes: a's, on fixed-f videos and swaps; the motion: a's on fixed-z videos,
    b's = partner[a]'s on swaps), ``paper_protocol.parts`` and ``swap.parts`` {label: {part:
    accuracy}}; the motion's Acc per part on the motion scores' class-balanced subset (the same
    draw), ``motion_scores.acc_parts`` {part: accuracy}; for every split label the per-factor rates
    (:func:`_factor_scores`, counting the pairs whose part differs), ``factors.parts`` {label:
    {part: {"swap": {f, z, neither}, "sample": {f, z}}}}."""
    if not parts:
        return
    scored = {}
    for label, split in parts.items():
        read = {which: split.split(p[which][label].argmax(1)) for which in p}  # {which: {part: (N,)}}
        true = split.split(y[label])
        result["factors"].setdefault("parts", {})[label] = {
            q: {
                "swap": _following(read["swap"][q], true[q], true[q][partner]),
                "sample": {"f": _rate(read["fixed_f"][q], true[q]), "z": _rate(read["fixed_z"][q], true[q])},
            }
            for q in split.parts
        }
        if label == motion:
            balanced = class_balanced_subset(y[motion], seed)
            result["motion_scores"]["acc_parts"] = {
                q: _rate(read["fixed_z"][q][balanced], true[q][balanced]) for q in split.parts
            }
        if label == motion or label in attributes:
            kept, swapped = ("fixed_z", partner) if label == motion else ("fixed_f", np.arange(len(partner)))
            scored[label] = (
                {q: _rate(read[kept][q], true[q]) for q in split.parts},
                {q: _rate(read["swap"][q], true[q][swapped]) for q in split.parts},
            )
    if scored:
        result["paper_protocol"]["parts"] = {k: protocol for k, (protocol, _) in scored.items()}
        result["swap"]["parts"] = {k: swap for k, (_, swap) in scored.items()}


def _rate(read: np.ndarray, true: np.ndarray) -> float:
    """The fraction of ``read`` (N,) classes equal to ``true`` (N,)."""
    return float((read == true).mean())


def _following(read: np.ndarray, of_f: np.ndarray, of_z: np.ndarray) -> dict[str, float]:
    """The swap's rates of following f, z or neither (:func:`~dsvae.evaluate.factors.swap_following`,
    on the pairs whose classes differ), without the count of pairs."""
    rates = swap_following(read, of_f, of_z)
    return {c: rates[c] for c in ("f", "z", "neither")}


def _over_seeds(
    ctx: ScoringContext, per_seed: list[dict], y: dict[str, np.ndarray], motion: str | None
) -> dict:
    """The seeds' results as mean and standard deviation, with each factor's chance and home latent,
    and the motion scores' class counts (a note where some motions do not occur in the test set)."""
    test = ctx.test
    out = {"paper_protocol": _mean_std_tree([r["paper_protocol"] for r in per_seed])}
    out["swap"] = _mean_std_tree([r["swap"] for r in per_seed])
    out["factors"] = {
        **_mean_std_tree([r["factors"] for r in per_seed]),
        "chance": {k: 1.0 / len(test.label_values[k]) for k in y},
        "home": {k: home_latent(ctx.kinds[k]) for k in y},
    }
    for label, by_part in out["factors"].get("parts", {}).items():
        for q, n in ctx.parts[label].num_classes().items():
            by_part[q]["chance"] = 1.0 / n
    if "agreement" in per_seed[0]:
        out["agreement"] = _mean_std_tree([r["agreement"] for r in per_seed])
    if motion is not None:
        counts = np.bincount(y[motion], minlength=len(test.label_values[motion]))
        present = counts[counts > 0]
        out["motion_scores"] = {
            "classes": int(len(present)),
            "per_class": int(present.min()),
            **mean_std([r["motion_scores"] for r in per_seed]),
        }
        if len(present) < len(counts):
            ctx.notes.append(f"only {len(present)} of the {len(counts)} motions occur in the test set")
    return out


def _factor_scores(
    p: dict[str, dict[str, np.ndarray]], y: dict[str, np.ndarray], partner: np.ndarray, kinds: dict[str, str]
) -> dict:
    """One seed's per-factor matrices (:mod:`dsvae.evaluate.factors`): of the swaps (f of a, z of
    partner[a]) the rates of following f, z or neither; of the samples the rate of keeping a's
    label with f kept (z from the prior) and with z kept (f from the prior); each matrix's
    assignment score against the factors' home latents."""
    swap = {k: _following(p["swap"][k].argmax(1), y[k], y[k][partner]) for k in y}
    sample = {k: {"f": accuracy(p["fixed_f"][k], y[k]), "z": accuracy(p["fixed_z"][k], y[k])} for k in y}
    home = [home_latent(kinds[k]) for k in y]
    return {
        "swap": swap,
        "sample": sample,
        "swap_score": assignment_score([[swap[k]["f"], swap[k]["z"]] for k in y], home),
        "sample_score": assignment_score([[sample[k]["f"], sample[k]["z"]] for k in y], home),
    }


def _latents(
    ctx: ScoringContext,
    codes: dict[str, np.ndarray],
    ceilings: tuple[dict[str, float] | None, dict[str, dict[str, float]] | None],
    regressors: Sequence[str],
    max_train: int,
) -> dict | None:
    """DCI and the leakage probes (:func:`dsvae.evaluate.codes.latent_scores`; probes of the split
    labels' parts too), fitted on at most ``max_train`` training sequences (a seeded subset) and
    scored on the test set; ``ceilings``: the judge's accuracy on real test sequences (the probes'
    ceiling) per label and per part ({label: {part: accuracy}}), each None without a judge. The
    context's watch gets the seconds of each part."""
    train = ctx.dataset.subset("train")
    if len(train) == 0:
        ctx.notes.append("no training split: no DCI or probes (they are fitted on training codes)")
        return None
    if len(train) > max_train:
        train = train.subset(np.sort(np.random.default_rng(0).choice(len(train), max_train, replace=False)))
    with ctx.watch.part("encode training codes"):
        f_train, z_train = encode_means(ctx.model, train, ctx.batch_size, ctx.device)
    out = latent_scores(
        {"f": f_train, "z": z_train.mean(axis=1)},
        {k: train.label_array(k) for k in train.labels},
        {"f": codes["f"], "z": codes["z"].mean(axis=1)},
        {k: ctx.test.label_array(k) for k in ctx.test.labels},
        ctx.kinds,
        ceilings[0],
        regressors,
        watch=ctx.watch,
        parts=ctx.parts,
        part_ceilings=ceilings[1],
    )
    out["train_sequences"] = len(train)
    ctx.notes.extend(f"no DCI or probes of {k}: {why}" for k, why in out["skipped"].items())
    return out


def _mean_std_tree(per_seed: list[dict]) -> dict:
    """Mean and std over seeds of nested dicts of numbers (same structure for every seed)."""
    first = per_seed[0]
    return {
        k: _mean_std_tree([r[k] for r in per_seed])
        if isinstance(first[k], dict)
        else mean_std([r[k] for r in per_seed])
        for k in first
    }


def _identity_eer(test: SequenceDataset, codes: dict[str, np.ndarray]) -> dict[str, float] | None:
    """Character-identity EER with f and with time-averaged z, where the dataset has a ``character``
    column: all the motions of one character are 'same'."""
    if "character" not in test.info:
        return None
    ids = test.info_array("character")
    counts = np.unique(ids, return_counts=True)[1]
    if len(counts) < 2 or counts.max() < 2:  # needs same- and different-character pairs
        return None
    return {"f": identity_eer(codes["f"], ids), "z": identity_eer(codes["z"].mean(axis=1), ids)}


__all__ = [
    "ScoringContext",
    "add_user_metrics",
    "evaluate_run",
    "score_video_run",
    "scoring_context",
]
