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
RUN/metrics.md.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.base import SequenceDataset
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
from .judge import Judge, judge_accuracy, judge_sha256, read_judge_metrics, shipped_judge_dir
from .markdown import latent_tables, pct, table
from .metrics import MOTION_SCORES, accuracy, class_balanced_subset, mean_std, motion_scores
from .records import SCHEMA_VERSION, MetricsRecord
from .usermetrics import find_metrics, run_user_metrics, user_metrics_table
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
    ``dynamic`` name labels whose latent the data does not tell (:mod:`dsvae.evaluate.factors`)."""
    run_dir = Path(run_dir)
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    loaded = find_metrics(user_metrics)
    run = TrainedRun(run_dir, device)
    model = run.model
    if not model.config.is_video:  # speech: scored by speaker verification instead of a judge
        from .speech import evaluate_speech_run

        if judge_dir not in (None, "auto") or judge2_dir is not None:
            warnings.warn(
                f"{run_dir} is a run on vector frames (speech): it is scored by speaker verification, "
                "DCI and probes, without a judge; the --judge/--judge2 given are not used",
                stacklevel=2,
            )

        return evaluate_speech_run(
            run,
            device=device,
            batch_size=batch_size,
            static=static,
            dynamic=dynamic,
            regressors=regressors,
            user_metrics=loaded,
        )
    dataset, test = run.dataset, run.test  # checked to fit the model
    # BatchNorms folded; channels_last as training chooses it (faster convs)
    model = model.for_scoring(default_channels_last(model.config, device, precision))
    if len(test) == 0:
        raise ValueError("the run's dataset has no test sequences to evaluate on")
    if judge_dir == "auto":  # the shipped judge of the data's benchmark, where there is one
        judge_dir = shipped_judge_dir(dataset) if test.labels else None
    judge = _open_judge(judge_dir, test, device, precision)
    judge2 = _open_judge(judge2_dir, test, device, precision) if judge2_dir is not None else None
    if judge2 is not None and judge is None:
        raise ValueError("--judge2 is a second opinion: pass --judge DIR as well")
    kinds, rules = dataset_factor_kinds(dataset, static, dynamic) if test.labels else ({}, {})

    metrics: dict = {
        "schema": SCHEMA_VERSION,  # dsvae.evaluate.records declares every section
        "run": str(run_dir),
        "dataset": {
            "name": test.meta.get("name", "?"),
            "test_sequences": len(test),
            "labels": test.num_classes,
        },
        "model": model_provenance(run_dir),
        "judge": None,
        "seeds": seeds,
        "precision": precision,
        "paper_protocol": None,
        "motion_scores": None,
        "swap": None,
        "reconstruction": None,
        "identity_eer": None,
        "factor_kinds": {k: {"kind": kinds[k], "rule": rules[k]} for k in kinds},
        "factors": None,
        "judge_audit": None,
        "latents": None,
        "notes": [],
    }
    notes = metrics["notes"]
    watch = Stopwatch()  # each part's wall-clock seconds, in metrics.json's "timings_s"
    # the audit's fp32 reconstructions and real sequences are judged in the first pass (the same
    # decodes as there, so once); under bf16 the audit decodes again under autocast
    shared = {"judge": judge, "judge2": judge2} if precision == "fp32" and test.labels else {}
    with watch.part("encode and reconstruct"):
        codes, metrics["reconstruction"], counted = _encode_and_reconstruct(
            model, test, batch_size, device, shared
        )
    _check_finite_terms(run_dir, metrics["reconstruction"])
    if not test.labels:
        notes.append("the dataset has no labels: reconstruction and ELBO only")
    elif judge is None:
        notes.append(
            "no judge: pass --judge DIR for the judge protocols, the factor matrices and the judge's "
            "audit; DCI and the probes need the labels only"
        )
    else:
        metrics["judge"] = _judge_info(judge_dir)
        if judge2 is not None:
            metrics["judge2"] = _judge_info(judge2_dir)
        with watch.part("judge protocols (generate and judge)"):
            metrics.update(
                _judge_protocols(
                    model, judge, test, codes, seeds, batch_size, device, precision, notes, kinds, judge2
                )
            )
        with watch.part("judge audit"):
            metrics["judge_audit"] = _judge_audit(
                model, {"judge": judge, "judge2": judge2}, test, codes, batch_size, device, precision, counted
            )
        metrics["judge_audit"]["agreement"] = metrics.pop("agreement", None)
    metrics["identity_eer"] = _identity_eer(test, codes)
    if test.labels:
        ceilings = (metrics["judge_audit"] or {}).get("judge", {}).get("real")
        metrics["latents"] = _latents(
            model,
            dataset,
            test,
            codes,
            kinds,
            ceilings,
            regressors,
            max_train,
            batch_size,
            device,
            notes,
            watch,
        )
    if loaded:
        with watch.part("user metrics"):
            metrics["user_metrics"] = run_user_metrics(loaded, run.model, test, batch_size, device)
    metrics["timings_s"] = watch.seconds

    write_metrics(run_dir, metrics, metrics_table(metrics))
    return metrics


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
    if doc.get("kind") == "speech":
        from .speech import speech_metrics_table

        markdown = speech_metrics_table(doc)
    else:
        markdown = metrics_table(doc)
    with warnings.catch_warnings():  # the same evaluation, with metrics added: nothing was replaced
        warnings.filterwarnings("ignore", message="replaced the earlier scores")
        write_metrics(run_dir, doc, markdown)
    return doc


def _open_judge(
    judge_dir: str | Path | None, test: SequenceDataset, device: torch.device, precision: str
) -> Judge | None:
    """The judge of ``judge_dir`` (checked against the test labels) as it scores: BatchNorm folded,
    channels_last where that is faster (:meth:`Judge.for_scoring`, :func:`conv_channels_last`)."""
    if judge_dir is None:
        return None
    judge = Judge.load(judge_dir, map_location=device)
    judge.check_labels(test)
    return judge.for_scoring(conv_channels_last(judge.config.conv_channels, device, precision))


def _judge_info(judge_dir: str | Path) -> dict:
    return {
        "dir": str(judge_dir),
        "sha256": judge_sha256(judge_dir),
        "test_accuracy": read_judge_metrics(judge_dir).get("test_accuracy"),
    }


def _count_right(logits: dict[str, torch.Tensor], test: SequenceDataset, pos, counts: dict[str, int]) -> None:
    """Add to ``counts`` how many of the sequences ``pos`` each head of the judge got right."""
    for k, v in logits.items():
        counts[k] += int((v.argmax(-1).cpu().numpy() == test.label_array(k)[pos]).sum())


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
) -> dict:
    """Each judge's accuracy on the real test sequences and on the model's reconstructions from the
    posterior means: the ceiling of every score on generated videos. ``counted``: those of judges
    already scored in the first pass (:func:`_encode_and_reconstruct`), used as they are."""
    f_all, z_all = torch.from_numpy(codes["f"]), torch.from_numpy(codes["z"])
    out = {}
    for name, judge in judges.items():
        if judge is None:
            continue
        if counted and name in counted:
            out[name] = counted[name]
            continue
        correct = dict.fromkeys(test.labels, 0)
        for pos in test.batches(batch_size):
            with autocast(device, precision):
                x_hat = model.decode(f_all[pos].to(device), z_all[pos].to(device))
                logits = judge(x_hat.float())
            _count_right(logits, test, pos, correct)
        out[name] = {
            "real": judge_accuracy(judge, test, batch_size, device, precision),
            "reconstruction": {k: c / len(test) for k, c in correct.items()},
        }
    return out


@torch.no_grad()
def _encode_and_reconstruct(
    model: DSVAE,
    test: SequenceDataset,
    batch_size: int,
    device: torch.device,
    judges: dict[str, Judge | None] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, dict]]:
    """Posterior means of every test sequence, and protocol 4: reconstruction from those means
    (per-pixel MSE, PSNR from each sequence's MSE) and the ELBO terms with posterior samples (seed 0,
    as :func:`~dsvae.elbo.elbo_terms`), in fp32 and in one pass of the encoder over the test set
    (:meth:`~dsvae.model.DSVAE.encode_and_elbo`). Each of ``judges`` (fp32) also reads the real
    sequences and the reconstructions on the way: their audit (:func:`_judge_audit`), returned."""
    judges = {k: j for k, j in (judges or {}).items() if j is not None}
    f, z, mse = [], [], []
    sums = torch.zeros(len(ELBO_TERMS), dtype=torch.float64, device=device)
    right = {
        name: {"real": dict.fromkeys(test.labels, 0), "reconstruction": dict.fromkeys(test.labels, 0)}
        for name in judges
    }
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
                    _count_right(judge(video), test, pos, right[name][which])
    mse_seq = np.concatenate(mse).astype(np.float64)
    psnr = 10.0 * np.log10(1.0 / np.maximum(mse_seq, 1e-12))
    recon = {"mse": float(mse_seq.mean()), "psnr": float(psnr.mean())}
    recon.update(zip(ELBO_TERMS, (sums / len(test)).tolist()))
    audit = {
        name: {which: {k: c / len(test) for k, c in counts.items()} for which, counts in r.items()}
        for name, r in right.items()
    }
    return {"f": np.concatenate(f), "z": np.concatenate(z)}, recon, audit


@torch.no_grad()
def _judge_protocols(
    model: DSVAE,
    judge: Judge,
    test: SequenceDataset,
    codes: dict[str, np.ndarray],
    seeds: int,
    batch_size: int,
    device: torch.device,
    precision: str,
    notes: list[str],
    kinds: dict[str, str],
    judge2: Judge | None = None,
) -> dict:
    """Protocols 1-3 and the per-factor matrices for every seed, then their mean and standard
    deviation; with ``judge2``, how often the two judges agree on the generated videos."""
    motion = motion_label(kinds)  # the dynamic label, scored as the motion whatever its name
    attributes = [k for k in test.labels if kinds[k] == STATIC]
    has_motion = motion is not None
    if not has_motion:
        notes.append(
            f"the dataset has no dynamic label (no {MOTION!r} label, none declared or given with --dynamic): "
            "no motion accuracy, motion scores or swap motion"
        )
    elif motion != MOTION:
        notes.append(f"the motion of protocols 1-3 is the dynamic label {motion!r}")
    others = [k for k in test.labels if k not in attributes and k != motion]
    if others:
        notes.append(
            f"the dynamic labels {', '.join(map(repr, others))} are scored per factor only (protocols 1-3 "
            f"score {motion!r} as the motion)"
        )
    if not attributes:
        notes.append("the dataset has no attribute labels: no attribute accuracies")
    y = {k: test.label_array(k) for k in test.labels}
    f_all, z_all = torch.from_numpy(codes["f"]), torch.from_numpy(codes["z"])
    n = len(test)
    per_seed: list[dict] = []
    bar = progress(total=seeds * test.num_batches(batch_size), desc="judge protocols", unit="batch")
    for seed in range(seeds):
        partner = np.random.default_rng(seed).permutation(n)  # swap pairs: (f of a, z of partner[a])
        probs: dict[str, dict[str, list]] = {"fixed_f": {}, "fixed_z": {}, "swap": {}}
        second: dict[str, dict[str, list]] = {"fixed_f": {}, "fixed_z": {}, "swap": {}}
        with seeded_eval(model, seed, device), autocast(device, precision):
            for pos in test.batches(batch_size):
                f, z = f_all[pos].to(device), z_all[pos].to(device)
                videos = {
                    "swap": model.decode(f, z_all[partner[pos]].to(device)),
                    "fixed_f": model.decode(f, model.sample_prior_z(len(pos))),
                    "fixed_z": model.decode(model.sample_prior_f(len(pos)), z),
                }
                for which, x in videos.items():
                    for k, p in judge.predict_proba(x).items():
                        probs[which].setdefault(k, []).append(p.cpu().numpy())
                    if judge2 is not None:
                        for k, p in judge2.predict_proba(x).items():
                            second[which].setdefault(k, []).append(p.cpu().numpy())
                bar.update()
        p = {which: {k: np.concatenate(v) for k, v in heads.items()} for which, heads in probs.items()}
        result: dict = {"paper_protocol": {}, "swap": {}}
        if attributes:
            attr = {k: accuracy(p["fixed_f"][k], y[k]) for k in attributes}
            swap_attr = {k: accuracy(p["swap"][k], y[k]) for k in attributes}
            result["paper_protocol"].update(
                attributes=attr, attributes_mean=float(np.mean(list(attr.values())))
            )
            result["swap"].update(
                attributes=swap_attr, attributes_mean=float(np.mean(list(swap_attr.values())))
            )
        if has_motion:
            result["paper_protocol"]["motion"] = accuracy(p["fixed_z"][motion], y[motion])
            result["swap"]["motion"] = accuracy(p["swap"][motion], y[motion][partner])
            balanced = class_balanced_subset(y[motion], seed)
            result["motion_scores"] = motion_scores(p["fixed_z"][motion][balanced], y[motion][balanced])
        result["factors"] = _factor_scores(p, y, partner, kinds)
        if judge2 is not None:
            result["agreement"] = {
                k: float(
                    np.mean(
                        [
                            (p[which][k].argmax(1) == np.concatenate(second[which][k]).argmax(1)).mean()
                            for which in p
                        ]
                    )
                )
                for k in y
            }
        per_seed.append(result)
    bar.close()

    out = {"paper_protocol": _mean_std_tree([r["paper_protocol"] for r in per_seed])}
    out["swap"] = _mean_std_tree([r["swap"] for r in per_seed])
    out["factors"] = {
        **_mean_std_tree([r["factors"] for r in per_seed]),
        "chance": {k: 1.0 / len(test.label_values[k]) for k in y},
        "home": {k: home_latent(kinds[k]) for k in y},
    }
    if judge2 is not None:
        out["agreement"] = _mean_std_tree([r["agreement"] for r in per_seed])
    if has_motion:
        counts = np.bincount(y[motion], minlength=len(test.label_values[motion]))
        present = counts[counts > 0]
        out["motion_scores"] = {
            "classes": int(len(present)),
            "per_class": int(present.min()),
            **mean_std([r["motion_scores"] for r in per_seed]),
        }
        if len(present) < len(counts):
            notes.append(f"only {len(present)} of the {len(counts)} motions occur in the test set")
    return out


def _factor_scores(
    p: dict[str, dict[str, np.ndarray]], y: dict[str, np.ndarray], partner: np.ndarray, kinds: dict[str, str]
) -> dict:
    """One seed's per-factor matrices (:mod:`dsvae.evaluate.factors`): of the swaps (f of a, z of
    partner[a]) the rates of following f, z or neither; of the samples the rate of keeping a's
    label with f kept (z from the prior) and with z kept (f from the prior); each matrix's
    assignment score against the factors' home latents."""
    swap = {}
    for k in y:
        rates = swap_following(p["swap"][k].argmax(1), y[k], y[k][partner])
        swap[k] = {c: rates[c] for c in ("f", "z", "neither")}
    sample = {k: {"f": accuracy(p["fixed_f"][k], y[k]), "z": accuracy(p["fixed_z"][k], y[k])} for k in y}
    home = [home_latent(kinds[k]) for k in y]
    return {
        "swap": swap,
        "sample": sample,
        "swap_score": assignment_score([[swap[k]["f"], swap[k]["z"]] for k in y], home),
        "sample_score": assignment_score([[sample[k]["f"], sample[k]["z"]] for k in y], home),
    }


def _latents(
    model: DSVAE,
    dataset: SequenceDataset,
    test: SequenceDataset,
    codes: dict[str, np.ndarray],
    kinds: dict[str, str],
    ceilings: dict[str, float] | None,
    regressors: Sequence[str],
    max_train: int,
    batch_size: int,
    device: torch.device,
    notes: list[str],
    watch: Stopwatch | None = None,
) -> dict | None:
    """DCI and the leakage probes (:func:`dsvae.evaluate.codes.latent_scores`), fitted on at most
    ``max_train`` training sequences (a seeded subset) and scored on the test set; ``watch`` gets
    the seconds of each part."""
    watch = watch or Stopwatch()
    train = dataset.subset("train")
    if len(train) == 0:
        notes.append("no training split: no DCI or probes (they are fitted on training codes)")
        return None
    if len(train) > max_train:
        train = train.subset(np.sort(np.random.default_rng(0).choice(len(train), max_train, replace=False)))
    with watch.part("encode training codes"):
        f_train, z_train = encode_means(model, train, batch_size, device)
    out = latent_scores(
        {"f": f_train, "z": z_train.mean(axis=1)},
        {k: train.label_array(k) for k in train.labels},
        {"f": codes["f"], "z": codes["z"].mean(axis=1)},
        {k: test.label_array(k) for k in test.labels},
        kinds,
        ceilings,
        regressors,
        watch=watch,
    )
    out["train_sequences"] = len(train)
    notes += [f"no DCI or probes of {k}: {why}" for k, why in out["skipped"].items()]
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


# --- the markdown table ------------------------------------------------------------------------------
def _pct(ms: dict) -> str:
    return f"{100 * ms['mean']:.2f}% ± {100 * ms['std']:.2f}"


def _num(ms: dict) -> str:
    return f"{ms['mean']:.3f} ± {ms['std']:.3f}"


def metrics_table(m: dict) -> str:
    """metrics.json as markdown: one table per protocol."""
    d = m["dataset"]
    lines = [
        f"# Evaluation of {m['run']}",
        "",
        f"Data: {d['name']}, {d['test_sequences']} test sequences; seeds: {m['seeds']} (mean ± std); "
        f"generated and judged in {m['precision']}.",
    ]
    if m["judge"]:
        real = ", ".join(f"{k} {100 * v:.2f}%" for k, v in (m["judge"]["test_accuracy"] or {}).items())
        lines.append(
            f"Judge: {m['judge']['dir']} (sha256 {m['judge']['sha256']}); on real test data: {real}."
        )
    lines += [f"Note: {note}." for note in m["notes"]]
    motion = motion_label({k: v["kind"] for k, v in (m.get("factor_kinds") or {}).items()}) or MOTION
    if pp := m["paper_protocol"]:
        fixed_f, fixed_z = (
            "f fixed (posterior mean), z ~ learned prior",
            "z fixed (posterior mean), f ~ N(0, I)",
        )
        rows = [(fixed_f, k, _pct(v)) for k, v in pp.get("attributes", {}).items()]
        if "attributes_mean" in pp:
            rows.append((fixed_f, "attributes (mean)", _pct(pp["attributes_mean"])))
        if "motion" in pp:
            rows.append((fixed_z, motion, _pct(pp["motion"])))
        lines += table("1. Paper protocol", ("videos", "judged", "accuracy"), rows)
    if ms := m["motion_scores"]:
        k = ms["classes"]
        lines += table(
            f"2. Motion head on fixed-z videos (class-balanced: {ms['per_class']} per class x {k})",
            ("Acc", f"IS (max {k})", "H(y|x) (min 0)", f"H(y) (max ln {k} = {math.log(k):.3f})"),
            [tuple(_pct(ms[s]) if s == "acc" else _num(ms[s]) for s in MOTION_SCORES)],
        )
    if sw := m["swap"]:
        rows = [(f"{k} of a", _pct(v)) for k, v in sw.get("attributes", {}).items()]
        if "attributes_mean" in sw:
            rows.append(("attributes of a (mean)", _pct(sw["attributes_mean"])))
        if "motion" in sw:
            rows.append((f"{motion} of b", _pct(sw["motion"])))
        lines += table("3. Swap: decode (f of a, z of b)", ("judged", "accuracy"), rows)
    r = m["reconstruction"]
    lines += table(
        "4. Reconstruction and ELBO (test set; ELBO terms per sequence)",
        ("MSE per pixel", "PSNR (dB)", "loss (-ELBO)", "recon", "kl_f", "kl_z"),
        [
            (
                f"{r['mse']:.5f}",
                f"{r['psnr']:.2f}",
                *(f"{r[k]:.1f}" for k in ELBO_TERMS),
            )
        ],
    )
    if eer := m["identity_eer"]:
        lines += table(
            "Character identity EER (cosine scores; all motions of a character are 'same')",
            ("with f (lower: f holds identity)", "with z, time-averaged (higher: z holds none)"),
            [(f"{100 * eer['f']:.2f}%", f"{100 * eer['z']:.2f}%")],
        )
    if fa := m.get("factors"):
        kinds = m["factor_kinds"]
        rows = [
            (
                k,
                f"{kinds[k]['kind']} ({kinds[k]['rule']}): {fa['home'][k]}",
                f"{100 * fa['chance'][k]:.1f}%",
                *(_pct(fa["swap"][k][c]) for c in ("f", "z", "neither")),
                *(_pct(fa["sample"][k][c]) for c in ("f", "z")),
            )
            for k in fa["swap"]
        ]
        rows.append(
            ("assignment score (1 ideal, 0 none, -1 reversed)", "", "0", _num(fa["swap_score"]), "", "",
             _num(fa["sample_score"]), "")
        )  # fmt: skip
        lines += table(
            "5. Which factor follows which latent (per factor; swaps count pairs whose labels differ)",
            ("factor", "kind (rule): should follow", "chance (1/K)", "swap: follows f (a)",
             "swap: follows z (b)", "swap: neither", "f kept, z ~ prior", "z kept, f ~ N(0, I)"),
            rows,
        )  # fmt: skip
    if audit := m.get("judge_audit"):
        names = [n for n in ("judge", "judge2") if n in audit]
        agree = audit.get("agreement")
        header = ("head",) + tuple(f"{n}: {w}" for n in names for w in ("real test", "reconstructions"))
        rows = [
            (k,)
            + tuple(pct(audit[n][w][k]) for n in names for w in ("real", "reconstruction"))
            + ((_pct(agree[k]),) if agree else ())
            for k in audit["judge"]["real"]
        ]
        lines += table(
            "6. The judge audited: accuracy on real test sequences and on the model's reconstructions "
            "(the ceiling of the scores above)",
            header + (("judges agree on generated videos",) if agree else ()),
            rows,
        )
    if m.get("latents"):
        lines += latent_tables(m["latents"], first=7)
    lines += user_metrics_table(m.get("user_metrics"))
    if m.get("timings_s"):
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in m["timings_s"].items())
        lines += ["", f"Evaluation time: {sum(m['timings_s'].values()):.0f} s ({parts})."]
    return "\n".join(lines) + "\n"


__all__ = ["add_user_metrics", "evaluate_run", "metrics_table"]
