"""The markdown of metrics.md, every table of it: video runs (:func:`metrics_table`), speech runs
(:func:`speech_metrics_table`), the latent scores and the user's metrics both share, and the pipe
rows of `dsvae compare`. Scoring writes numbers into metrics.json; only this module writes text."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..elbo import ELBO_PARTS, ELBO_TERMS
from .factors import MOTION, motion_label
from .metrics import MOTION_SCORES
from .records import UserMetricRecord, show


def row(*cells: object) -> str:
    """One pipe-table row; a bar inside a cell is escaped."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def table(title: str, header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """Lines of a ``## title`` section holding one table."""
    return ["", f"## {title}", "", row(*header), row(*["---"] * len(header))] + [row(*r) for r in rows]


def pct(v: float | None) -> str:
    """A rate as a percentage with one decimal; '-' where there is none."""
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def latent_tables(latents: dict, first: int = 1) -> list[str]:
    """DCI, the latent map's strongest dimensions and the leakage probes of
    :func:`dsvae.evaluate.codes.latent_scores` as markdown sections numbered from ``first``."""
    lines: list[str] = []
    counter = iter(range(first, first + 100))

    def number() -> str:
        return f"{next(counter)}. "

    if latents.get("dci"):
        rows = []
        for reg, by_code in latents["dci"].items():
            for code, d in by_code.items():
                chance = sum(d["chance"].values()) / len(d["chance"])
                info = ", ".join(f"{k} {pct(v)}" for k, v in d["I_j"].items())
                dc = (f"{d['D']:.3f}", f"{d['C']:.3f}")
                rows.append((reg, code, *dc, f"{pct(d['I'])} ({info})", pct(chance)))
        lines += table(
            f"{number()}DCI (Eastwood & Williams 2018; z averaged over time; fitted on "
            f"{latents.get('train_sequences', '?')} training sequences, I on the test set)",
            ("regressor", "code", "D (0-1)", "C (0-1)", "I: held-out accuracy", "I at chance"),
            rows,
        )
        names = latents["latent_names"]
        for reg, by_code in latents["dci"].items():
            if "f+z" not in by_code:
                continue
            R = by_code["f+z"]["importance"]
            rows = []
            for j, factor in enumerate(latents["factors"]):
                col = [r[j] for r in R]
                total = sum(col) or 1.0
                top = sorted(range(len(col)), key=lambda i: -col[i])[:3]
                f_share = sum(col[i] for i, n in enumerate(names) if n.startswith("f")) / total
                rows.append(
                    (factor, ", ".join(f"{names[i]} ({pct(col[i] / total)})" for i in top), pct(f_share))
                )
            lines += table(
                f"{number()}Latent map ({reg}): where each factor lives in (f, z)",
                ("factor", "most important dimensions (share of the factor's importance)", "share in f"),
                rows,
            )
    if latents.get("probes"):
        rows = []
        for name, p in latents["probes"].items():
            rows.append(_probe_row(name, p))
            rows += [_probe_row(f"{name}: {q}", r) for q, r in p.get("parts", {}).items()]
        lines += table(
            f"{number()}Leakage probes (trained on training codes, accuracy on held-out sequences; "
            "linear / MLP)",
            ("label", "kind", "from its own latent", "from the other latent (leak)", "chance", "ceiling",
             "leak as a fraction of chance -> ceiling"),
            rows,
        )  # fmt: skip
    return lines


def _probe_row(name: str, p: dict) -> tuple:
    """One row of the leakage probes' table: a label's (or a part's) probes ``p``
    (:func:`dsvae.evaluate.probes.probe_table`)."""
    leak = p["leak"]
    frac = " / ".join("-" if leak[f"{k}_fraction"] is None else f"{leak[f'{k}_fraction']:.2f}"
                      for k in ("linear", "mlp"))  # fmt: skip
    home = "f" if leak["latent"] == "z" else "z"
    return (
        name,
        p["kind"],
        f"{pct(p[f'from_{home}']['linear'])} / {pct(p[f'from_{home}']['mlp'])}",
        f"{leak['latent']}: {pct(leak['linear'])} / {pct(leak['mlp'])}",
        pct(p["chance"]),
        pct(p["ceiling"]),
        frac,
    )


def user_metrics_table(section: Mapping[str, Mapping] | None) -> list[str]:
    """metrics.json's ``user_metrics`` as a markdown section (empty where there are none)."""
    if not section:
        return []
    rows = []
    for name, d in section.items():
        r = UserMetricRecord.from_dict(name, d)
        src = r.source
        where = src.get("file") or src.get("module") or "?"
        if src.get("package"):
            where += f" ({src['package']} {src.get('version') or ''})".rstrip()
        for k, v in r.scores.items():
            s = r.declared.get(k)
            better = {"higher": "higher", "lower": "lower"}.get(s.direction if s else None, "")
            rows.append((name, k, show(v, s, 2), better, where))
    return table("User metrics (dsvae eval --metric)", ("metric", "score", "value", "better", "source"), rows)


# --- metrics.md of a video run -----------------------------------------------------------------------
def mean_pct(ms: dict) -> str:
    """A rate's {"mean", "std"} over seeds as percentages: "93.20% ± 1.05"."""
    return f"{100 * ms['mean']:.2f}% ± {100 * ms['std']:.2f}"


def mean_num(ms: dict) -> str:
    """A number's {"mean", "std"} over seeds: "1.234 ± 0.056"."""
    return f"{ms['mean']:.3f} ± {ms['std']:.3f}"


def metrics_table(m: dict) -> str:
    """metrics.json of a video run (:func:`dsvae.evaluate.protocols.evaluate_run`) as markdown: the
    header and notes, then one table per protocol, the latent scores, the user's metrics and the
    time each part took."""
    motion = motion_label({k: v["kind"] for k, v in (m.get("factor_kinds") or {}).items()}) or MOTION
    lines = _header(m)
    lines += _paper_protocol(m["paper_protocol"], motion) + _motion_scores(m["motion_scores"])
    lines += _swap(m["swap"], motion) + _reconstruction(m["reconstruction"])
    lines += _identity(m["identity_eer"]) + _factors(m.get("factors"), m.get("factor_kinds"))
    lines += _audit(m.get("judge_audit"))
    if m.get("latents"):
        lines += latent_tables(m["latents"], first=7)
    lines += user_metrics_table(m.get("user_metrics"))
    if m.get("timings_s"):
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in m["timings_s"].items())
        lines += ["", f"Evaluation time: {sum(m['timings_s'].values()):.0f} s ({parts})."]
    return "\n".join(lines) + "\n"


def _header(m: dict) -> list[str]:
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
    return lines + [f"Note: {note}." for note in m["notes"]]


def _paper_protocol(pp: dict | None, motion: str) -> list[str]:
    if not pp:
        return []
    fixed_f, fixed_z = (
        "f fixed (posterior mean), z ~ learned prior",
        "z fixed (posterior mean), f ~ N(0, I)",
    )
    parts = pp.get("parts", {})
    rows = [(fixed_f, k, mean_pct(v)) for k, v in pp.get("attributes", {}).items()]
    rows += [(fixed_f, name, v) for k in pp.get("attributes", {}) for name, v in _part_cells(parts, k)]
    if "attributes_mean" in pp:
        rows.append((fixed_f, "attributes (mean)", mean_pct(pp["attributes_mean"])))
    if "motion" in pp:
        rows.append((fixed_z, motion, mean_pct(pp["motion"])))
        rows += [(fixed_z, name, v) for name, v in _part_cells(parts, motion)]
    return table("1. Paper protocol", ("videos", "judged", "accuracy"), rows)


def _part_cells(parts: dict, label: str, suffix: str = "") -> list[tuple[str, str]]:
    """("label: part" + ``suffix``, mean ± std) of each part of ``label`` in a section's ``parts``
    {label: {part: {"mean", "std"}}} (the parts of a split label, :mod:`dsvae.data.parts`)."""
    return [(f"{label}: {q}{suffix}", mean_pct(v)) for q, v in parts.get(label, {}).items()]


def _motion_scores(ms: dict | None) -> list[str]:
    if not ms:
        return []
    k = ms["classes"]
    lines = table(
        f"2. Motion head on fixed-z videos (class-balanced: {ms['per_class']} per class x {k})",
        ("Acc", f"IS (max {k})", "H(y|x) (min 0)", f"H(y) (max ln {k} = {math.log(k):.3f})"),
        [tuple(mean_pct(ms[s]) if s == "acc" else mean_num(ms[s]) for s in MOTION_SCORES)],
    )
    if ms.get("acc_parts"):  # the parts of the motion the judge reads (dsvae.data.parts)
        acc = ", ".join(f"{q} {mean_pct(v)}" for q, v in ms["acc_parts"].items())
        lines += ["", f"Acc per part of the motion (the part of the motion the judge reads): {acc}."]
    return lines


def _swap(sw: dict | None, motion: str) -> list[str]:
    if not sw:
        return []
    parts = sw.get("parts", {})
    rows = [(f"{k} of a", mean_pct(v)) for k, v in sw.get("attributes", {}).items()]
    rows += [cells for k in sw.get("attributes", {}) for cells in _part_cells(parts, k, " of a")]
    if "attributes_mean" in sw:
        rows.append(("attributes of a (mean)", mean_pct(sw["attributes_mean"])))
    if "motion" in sw:
        rows.append((f"{motion} of b", mean_pct(sw["motion"])))
        rows += _part_cells(parts, motion, " of b")
    return table("3. Swap: decode (f of a, z of b)", ("judged", "accuracy"), rows)


def _reconstruction(r: dict) -> list[str]:
    return table(
        "4. Reconstruction and ELBO (test set; ELBO terms per sequence)",
        ("MSE per pixel", "PSNR (dB)", "loss (-ELBO)", *ELBO_PARTS),
        [(f"{r['mse']:.5f}", f"{r['psnr']:.2f}", *(f"{r[k]:.1f}" for k in ELBO_TERMS))],
    )


def _identity(eer: dict | None) -> list[str]:
    if not eer:
        return []
    return table(
        "Character identity EER (cosine scores; all motions of a character are 'same')",
        ("with f (lower: f holds identity)", "with z, time-averaged (higher: z holds none)"),
        [(f"{100 * eer['f']:.2f}%", f"{100 * eer['z']:.2f}%")],
    )


def _factors(fa: dict | None, kinds: dict | None) -> list[str]:
    if not fa:
        return []
    rows = []
    for k in fa["swap"]:
        kind = f"{kinds[k]['kind']} ({kinds[k]['rule']}): {fa['home'][k]}"
        rows.append(_factor_row(k, kind, fa["chance"][k], fa["swap"][k], fa["sample"][k]))
        for q, r in fa.get("parts", {}).get(k, {}).items():  # a split label's parts (dsvae.data.parts)
            rows.append(_factor_row(f"{k}: {q}", kind, r["chance"], r["swap"], r["sample"]))
    rows.append(
        ("assignment score (1 ideal, 0 none, -1 reversed)", "", "0", mean_num(fa["swap_score"]), "", "",
         mean_num(fa["sample_score"]), "")
    )  # fmt: skip
    return table(
        "5. Which factor follows which latent (per factor; swaps count pairs whose labels differ)",
        ("factor", "kind (rule): should follow", "chance (1/K)", "swap: follows f (a)",
         "swap: follows z (b)", "swap: neither", "f kept, z ~ prior", "z kept, f ~ N(0, I)"),
        rows,
    )  # fmt: skip


def _factor_row(name: str, kind: str, chance: float, swap: dict, sample: dict) -> tuple:
    """One factor's (or part's) row of the per-factor table: its rates over seeds in the swaps
    (follows f, z, neither) and the samples (f kept, z kept)."""
    return (
        name,
        kind,
        f"{100 * chance:.1f}%",
        *(mean_pct(swap[c]) for c in ("f", "z", "neither")),
        *(mean_pct(sample[c]) for c in ("f", "z")),
    )


def _audit(audit: dict | None) -> list[str]:
    if not audit:
        return []
    names = [n for n in ("judge", "judge2") if n in audit]
    agree = audit.get("agreement")
    header = ("head",) + tuple(f"{n}: {w}" for n in names for w in ("real test", "reconstructions"))
    rows = []
    for k in audit["judge"]["real"]:
        rows.append(
            (k,)
            + tuple(pct(audit[n][w][k]) for n in names for w in ("real", "reconstruction"))
            + ((mean_pct(agree[k]),) if agree else ())
        )
        for q in audit["judge"].get("parts", {}).get("real", {}).get(k, {}):  # the parts it reads
            rows.append(
                (f"{k}: {q}",)
                + tuple(pct(audit[n]["parts"][w][k][q]) for n in names for w in ("real", "reconstruction"))
                + (("",) if agree else ())
            )
    return table(
        "6. The judge audited: accuracy on real test sequences and on the model's reconstructions "
        "(the ceiling of the scores above)",
        header + (("judges agree on generated videos",) if agree else ()),
        rows,
    )


# --- metrics.md of a speech run ----------------------------------------------------------------------
def speech_metrics_table(m: dict) -> str:
    """metrics.json of a speech run (:func:`dsvae.evaluate.speech.evaluate_speech_run`) as markdown,
    with the paper's TIMIT figures beside ours."""
    d = m["dataset"]
    lines = [
        f"# Evaluation of {m['run']}",
        "",
        f"Data: {d['name']}, {d['test_utterances']} test utterances ({d['test_segments']} segments) of "
        f"{d['test_speakers']} speakers; {m['pairs']['same']} same-speaker and {m['pairs']['different']} "
        "different-speaker pairs.",
        *[f"Note: {note}." for note in m["notes"]],
        "",
        "## Speaker verification EER (cosine scores over all test utterance pairs)",
        "",
        "| model (data) | EER with f (lower: f is the speaker) | EER with z (higher: z is not) |",
        "| --- | --- | --- |",
        f"| ours ({d['name']}) | {100 * m['speaker_eer']['f']:.2f}% | {100 * m['speaker_eer']['z']:.2f}% |",
        *[
            f"| {name} (paper, TIMIT) | {100 * v['f']:.2f}% | {100 * v['z']:.2f}% |"
            for name, v in m["paper_timit_eer"].items()
        ],
    ]
    r = m["reconstruction"]
    lines += [
        "",
        "## Test ELBO (per segment, summed over frames and mel bins of standardized features)",
        "",
        row("MSE per value", "loss (-ELBO)", *ELBO_PARTS),
        row(*["---"] * (1 + len(ELBO_TERMS))),
        row(f"{r['mse']:.4f}", *(f"{r[k]:.1f}" for k in ELBO_TERMS)),
    ]
    if m.get("latents"):
        lines += latent_tables(m["latents"])
    lines += user_metrics_table(m.get("user_metrics"))
    return "\n".join(lines) + "\n"


__all__ = [
    "latent_tables",
    "mean_num",
    "mean_pct",
    "metrics_table",
    "pct",
    "row",
    "speech_metrics_table",
    "table",
    "user_metrics_table",
]
