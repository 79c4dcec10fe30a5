"""`dsvae eval`: score a trained run the way the field does, on its test sequences.

1. The paper's protocol (Li & Mandt 2018): f fixed to the posterior mean, z_1:T drawn from the learned
   prior -> the judge's accuracy on every attribute (every label but "motion"); z_1:T fixed to the
   posterior mean, f ~ N(0, I) -> the judge's motion accuracy.
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

import json
import math
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .._io import atomic_write_text
from ..data.base import SequenceDataset
from ..device import autocast, resolve_device, resolve_precision
from ..elbo import elbo_terms
from ..model import DSVAE
from ..run import load_model, open_run_dataset
from .judge import Judge, judge_sha256, read_judge_metrics
from .metrics import MOTION_SCORES, accuracy, class_balanced_subset, mean_std, motion_scores
from .verification import identity_eer

ELBO_TERMS = ("loss", "recon", "kl_f", "kl_z")
MOTION = "motion"  # the label the dynamic latent z should carry; every other label is an attribute


def evaluate_run(
    run_dir: str | Path,
    judge_dir: str | Path | None = None,
    seeds: int = 5,
    batch_size: int = 128,
    device: str = "auto",
    precision: str = "auto",
) -> dict:
    """Every protocol that applies to the run's data; writes RUN/metrics.json and RUN/metrics.md and
    returns the metrics. ``precision`` (auto: bf16 where the hardware has it) is that of generating
    and judging the videos of protocols 1-3; reconstruction and ELBO are computed in fp32. A vector
    (speech) run is handed to ``dsvae.evaluate.speech``."""
    run_dir = Path(run_dir)
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    model = load_model(run_dir, map_location=device)
    if not model.config.is_video:  # speech: scored by speaker verification instead of a judge
        from .speech import evaluate_speech_run

        return evaluate_speech_run(run_dir, device=device, batch_size=batch_size)
    test = open_run_dataset(run_dir).subset("test")
    _check_model_fits(model, test)
    judge = _open_judge(judge_dir, test, device)

    metrics: dict = {
        "run": str(run_dir),
        "dataset": {
            "name": test.meta.get("name", "?"),
            "test_sequences": len(test),
            "labels": test.num_classes,
        },
        "judge": None,
        "seeds": seeds,
        "precision": precision,
        "paper_protocol": None,
        "motion_scores": None,
        "swap": None,
        "reconstruction": None,
        "identity_eer": None,
        "notes": [],
    }
    codes, metrics["reconstruction"] = _encode_and_reconstruct(model, test, batch_size, device)
    if judge is None:
        metrics["notes"].append("the dataset has no labels: reconstruction and ELBO only")
    else:
        metrics["judge"] = {
            "dir": str(judge_dir),
            "sha256": judge_sha256(judge_dir),
            "test_accuracy": read_judge_metrics(judge_dir).get("test_accuracy"),
        }
        metrics.update(
            _judge_protocols(
                model, judge, test, codes, seeds, batch_size, device, precision, metrics["notes"]
            )
        )
    metrics["identity_eer"] = _identity_eer(test, codes)

    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write_text(run_dir / "metrics.md", metrics_table(metrics))
    return metrics


def _check_model_fits(model: DSVAE, test: SequenceDataset) -> None:
    cfg = model.config
    if len(test) == 0:
        raise ValueError("the run's dataset has no test sequences to evaluate on")
    if test.kind != "video" or (test.T, *test.frame_shape) != (cfg.T, *cfg.frame_shape):
        raise ValueError(
            f"the run's model reads sequences (T, C, H, W) = {(cfg.T, *cfg.frame_shape)}, its dataset "
            f"holds {(test.T, *test.frame_shape)}: does RUN/train.json name the data it trained on?"
        )


def _open_judge(judge_dir: str | Path | None, test: SequenceDataset, device: torch.device) -> Judge | None:
    if judge_dir is None:
        if test.labels:
            raise ValueError(
                f"the run's dataset is labelled ({', '.join(test.labels)}): pass --judge DIR, a judge "
                "trained on it (dsvae judge train --data DATA --out DIR)"
            )
        return None
    judge = Judge.load(judge_dir, map_location=device)
    judge.check_labels(test)
    return judge


@torch.no_grad()
def _encode_and_reconstruct(
    model: DSVAE, test: SequenceDataset, batch_size: int, device: torch.device
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Posterior means of every test sequence, and protocol 4: reconstruction from those means
    (per-pixel MSE, PSNR from each sequence's MSE) and the ELBO terms with posterior samples."""
    f, z, mse = [], [], []
    for pos in tqdm(list(test.batches(batch_size)), desc="encode", unit="batch"):
        x = test.normalize(test.get_batch(pos).to(device))
        enc = model.encode(x)
        x_hat = model.decode(enc.f, enc.z)
        mse.append((x_hat - x).pow(2).flatten(1).mean(dim=1).cpu().numpy())
        f.append(enc.f.cpu().numpy())
        z.append(enc.z.cpu().numpy())
    mse_seq = np.concatenate(mse).astype(np.float64)
    psnr = 10.0 * np.log10(1.0 / np.maximum(mse_seq, 1e-12))
    recon = {"mse": float(mse_seq.mean()), "psnr": float(psnr.mean())}
    recon.update(elbo_terms(model, test, batch_size, device))
    return {"f": np.concatenate(f), "z": np.concatenate(z)}, recon


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
) -> dict:
    """Protocols 1-3 for every seed, then their mean and standard deviation."""
    attributes = [k for k in test.labels if k != MOTION]
    has_motion = MOTION in test.labels
    if not has_motion:
        notes.append(f"the dataset has no {MOTION!r} label: no motion accuracy, motion scores or swap motion")
    if not attributes:
        notes.append("the dataset has no attribute labels: no attribute accuracies")
    y = {k: test.label_array(k) for k in test.labels}
    f_all, z_all = torch.from_numpy(codes["f"]), torch.from_numpy(codes["z"])
    n = len(test)
    per_seed: list[dict] = []
    bar = tqdm(total=seeds * test.num_batches(batch_size), desc="judge protocols", unit="batch")
    for seed in range(seeds):
        partner = np.random.default_rng(seed).permutation(n)  # swap pairs: (f of a, z of partner[a])
        probs: dict[str, dict[str, list]] = {"fixed_f": {}, "fixed_z": {}, "swap": {}}
        with (
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
            autocast(device, precision),
        ):
            torch.manual_seed(seed)
            for pos in test.batches(batch_size):
                f, z = f_all[pos].to(device), z_all[pos].to(device)
                videos = {"swap": model.decode(f, z_all[partner[pos]].to(device))}
                if attributes:
                    videos["fixed_f"] = model.decode(f, model.sample_prior_z(len(pos)))
                if has_motion:
                    videos["fixed_z"] = model.decode(model.sample_prior_f(len(pos)), z)
                for which, x in videos.items():
                    for k, p in judge.predict_proba(x).items():
                        probs[which].setdefault(k, []).append(p.cpu().numpy())
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
            result["paper_protocol"]["motion"] = accuracy(p["fixed_z"][MOTION], y[MOTION])
            result["swap"]["motion"] = accuracy(p["swap"][MOTION], y[MOTION][partner])
            balanced = class_balanced_subset(y[MOTION], seed)
            result["motion_scores"] = motion_scores(p["fixed_z"][MOTION][balanced], y[MOTION][balanced])
        per_seed.append(result)
    bar.close()

    out = {"paper_protocol": _mean_std_tree([r["paper_protocol"] for r in per_seed])}
    out["swap"] = _mean_std_tree([r["swap"] for r in per_seed])
    if has_motion:
        counts = np.bincount(y[MOTION], minlength=len(test.label_values[MOTION]))
        present = counts[counts > 0]
        out["motion_scores"] = {
            "classes": int(len(present)),
            "per_class": int(present.min()),
            **mean_std([r["motion_scores"] for r in per_seed]),
        }
        if len(present) < len(counts):
            notes.append(f"only {len(present)} of the {len(counts)} motions occur in the test set")
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


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(title: str, header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    return ["", f"## {title}", "", _row(*header), _row(*["---"] * len(header))] + [_row(*r) for r in rows]


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
    if pp := m["paper_protocol"]:
        fixed_f, fixed_z = (
            "f fixed (posterior mean), z ~ learned prior",
            "z fixed (posterior mean), f ~ N(0, I)",
        )
        rows = [(fixed_f, k, _pct(v)) for k, v in pp.get("attributes", {}).items()]
        if "attributes_mean" in pp:
            rows.append((fixed_f, "attributes (mean)", _pct(pp["attributes_mean"])))
        if "motion" in pp:
            rows.append((fixed_z, MOTION, _pct(pp["motion"])))
        lines += _table("1. Paper protocol", ("videos", "judged", "accuracy"), rows)
    if ms := m["motion_scores"]:
        k = ms["classes"]
        lines += _table(
            f"2. Motion head on fixed-z videos (class-balanced: {ms['per_class']} per class x {k})",
            ("Acc", f"IS (max {k})", "H(y\\|x) (min 0)", f"H(y) (max ln {k} = {math.log(k):.3f})"),
            [tuple(_pct(ms[s]) if s == "acc" else _num(ms[s]) for s in MOTION_SCORES)],
        )
    if sw := m["swap"]:
        rows = [(f"{k} of a", _pct(v)) for k, v in sw.get("attributes", {}).items()]
        if "attributes_mean" in sw:
            rows.append(("attributes of a (mean)", _pct(sw["attributes_mean"])))
        if "motion" in sw:
            rows.append((f"{MOTION} of b", _pct(sw["motion"])))
        lines += _table("3. Swap: decode (f of a, z of b)", ("judged", "accuracy"), rows)
    r = m["reconstruction"]
    lines += _table(
        "4. Reconstruction and ELBO (test set; ELBO terms per sequence)",
        ("MSE per pixel", "PSNR (dB)", "loss (-ELBO)", "recon", "kl_f", "kl_z"),
        [
            (
                f"{r['mse']:.5f}",
                f"{r['psnr']:.2f}",
                *(f"{r[k]:.1f}" for k in ("loss", "recon", "kl_f", "kl_z")),
            )
        ],
    )
    if eer := m["identity_eer"]:
        lines += _table(
            "Character identity EER (cosine scores; all motions of a character are 'same')",
            ("with f (lower: f holds identity)", "with z, time-averaged (higher: z holds none)"),
            [(f"{100 * eer['f']:.2f}%", f"{100 * eer['z']:.2f}%")],
        )
    return "\n".join(lines) + "\n"


__all__ = ["evaluate_run", "metrics_table"]
