"""The markdown tables of metrics.md: shared by video runs, speech runs and `dsvae compare`."""

from __future__ import annotations

import math


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
            leak = p["leak"]
            frac = " / ".join("-" if leak[f"{k}_fraction"] is None else f"{leak[f'{k}_fraction']:.2f}"
                              for k in ("linear", "mlp"))  # fmt: skip
            home = "f" if leak["latent"] == "z" else "z"
            rows.append(
                (
                    name,
                    p["kind"],
                    f"{pct(p[f'from_{home}']['linear'])} / {pct(p[f'from_{home}']['mlp'])}",
                    f"{leak['latent']}: {pct(leak['linear'])} / {pct(leak['mlp'])}",
                    pct(p["chance"]),
                    pct(p["ceiling"]),
                    frac,
                )
            )
        lines += table(
            f"{number()}Leakage probes (trained on training codes, accuracy on held-out sequences; "
            "linear / MLP)",
            ("label", "kind", "from its own latent", "from the other latent (leak)", "chance", "ceiling",
             "leak as a fraction of chance -> ceiling"),
            rows,
        )  # fmt: skip
    return lines


__all__ = ["latent_tables", "pct", "row", "table"]
