"""`dsvae report RUN`: one self-contained HTML page about a run, RUN/report.html.

The page holds what a reader needs to judge the run at a glance: a summary, the metrics of
`dsvae eval` when the run has them, the training curves, the swap matrix and the samples (animated),
the reconstructions, and the configuration (config.json, train.json, env.json as tables). Nothing is
fetched from elsewhere: pictures are embedded as base64 ``data:`` URIs and the style is inline, so
the one file can be mailed, archived or opened offline. The page lays out what the run folder holds
and draws nothing: what is missing is named with the command that makes it (:func:`missing`).
"""

from __future__ import annotations

import base64
import html
import math
import re
import time
from pathlib import Path

from ._io import atomic_write_text, remove_stale_temporaries
from .evaluate.records import MetricsRecord
from .run import TrainedRun, read_metrics_markdown
from .viz import LATENT_PICTURES, PICTURES

MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".wav": "audio/wav"}
VECTOR_PICTURES = ("curves.png", "recon.png", "swap.png")  # what `dsvae viz` draws for speech runs
STRIPS_SHOWN = ("swap_matrix.png",)  # the one frame-by-frame PNG the page shows beside its animation
STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; color: #1a1a1a; margin: 0 auto; max-width: 1200px;
       padding: 1em 2em; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.key { font-family: ui-monospace, monospace; white-space: nowrap; }
figure { margin: 1em 0 2em; }
figcaption { color: #444; max-width: 60em; margin-bottom: .4em; }
.scroll { overflow-x: auto; }
img { image-rendering: pixelated; display: block; }
.muted { color: #666; }
"""


def build_report(run_dir: str | Path) -> Path:
    """Write RUN/report.html from what the run folder holds and return its path; what is missing
    (:func:`missing`) is named on the page with the command that makes it. Work files that killed
    writers left in the run folder are removed first, with a note on stderr. Raises
    FileNotFoundError for a folder without config.json."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise FileNotFoundError(
            f"{run_dir / 'config.json'} not found: is {run_dir} a run folder? Train one with "
            "`dsvae train --out DIR`"
        )
    remove_stale_temporaries(run_dir)
    return atomic_write_text(run_dir / "report.html", render_page(TrainedRun(run_dir)))


def missing(run_dir: str | Path | TrainedRun) -> list[str]:
    """What the page would show that the run folder lacks, one line each with the command that
    makes it: the metrics (`dsvae eval RUN`) and the pictures (`dsvae viz RUN`, after eval for the
    latent map)."""
    run = TrainedRun.of(run_dir)
    run_dir, lines = run.path, []
    if not (run_dir / "metrics.json").exists():
        lines.append(f"no metrics (metrics.json): run dsvae eval {run_dir}")
    pictures = missing_pictures(run)
    if pictures:
        lines.append(f"no {', '.join(pictures)} in {run_dir / 'pictures'}: run dsvae viz {run_dir}")
    return lines


def missing_pictures(run_dir: str | Path | TrainedRun) -> list[str]:
    """The pictures `dsvae viz` would draw for this run that RUN/pictures lacks."""
    run = TrainedRun.of(run_dir)
    expected = [name for name in PICTURES if run.config.is_video or name in VECTOR_PICTURES]
    if not run.log:
        expected.remove("curves.png")
    return [name for name in expected if not (run.path / "pictures" / name).exists()]


def render_page(run: TrainedRun) -> str:
    run_dir = run.path
    name = html.escape(run_dir.resolve().name)
    sections = [
        ("summary", "Summary", _summary(run) + _missing(run)),
        ("metrics", "Metrics", _metrics(run)),
        ("curves", "Training curves", _pictures(run_dir, ["curves.png"])),
        ("latents", "Which factor lives where", _latent_pictures(run_dir)),
        (
            "pictures",
            "What the model learned",
            _pictures(run_dir, [n for n in PICTURES if n != "curves.png"], others=True),
        ),
        ("config", "Configuration", _configuration(run)),
    ]
    nav = " ".join(f'<a href="#{key}">{title}</a>' for key, title, _ in sections)
    body = "\n".join(
        f'<section id="{key}">\n<h2>{title}</h2>\n{content}\n</section>' for key, title, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>dsvae run {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>dsvae run {name}</h1>\n"
        f'<p class="muted">{html.escape(str(run_dir))}, report written {time.strftime("%Y-%m-%d %H:%M")}'
        "</p>\n"
        f"<nav>{nav}</nav>\n{body}\n</body>\n</html>\n"
    )


# --- sections --------------------------------------------------------------------------------------


def _summary(run: TrainedRun) -> str:
    cfg, train = run.config, run.record("train.json")
    frames = (
        f"{cfg.channels} x {cfg.frame_size} x {cfg.frame_size} frames"
        if cfg.is_video
        else f"{cfg.frame_dim}-wide vectors"
    )
    data, preset = (html.escape(str(train.get(k, "?"))) for k in ("data", "preset"))
    items = [
        f"data <b>{data}</b>, preset <b>{preset}</b>",
        f"sequences of T = {cfg.T} {frames}; f_dim {cfg.f_dim}, z_dim {cfg.z_dim}, q(z) {cfg.q_z}, "
        f"likelihood {cfg.likelihood}",
    ]
    tests = [r for r in run.log if r["split"] == "test"]
    if tests:
        last = tests[-1]
        terms = ", ".join(f"{k} {last[k]:.4g}" for k in ("recon", "kl_f", "kl_z"))
        items.append(
            f"after epoch {last['epoch']} of {train.get('epochs', '?')}: test loss (-ELBO per sequence) "
            f"<b>{last['loss']:.4g}</b> ({terms})"
        )
    else:
        items.append("no test rows in log.csv yet")
    return "<ul>\n" + "\n".join(f"<li>{item}</li>" for item in items) + "\n</ul>"


def _missing(run: TrainedRun) -> str:
    lines = missing(run)
    if not lines:
        return ""
    items = "\n".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'\n<p class="muted">Missing from the run folder:</p>\n<ul class="missing">\n{items}\n</ul>'


def _metrics(run: TrainedRun) -> str:
    md = read_metrics_markdown(run.path)  # None where it is of another evaluation than metrics.json
    if md is not None:
        return markdown_to_html(md)
    if run.metrics is not None:
        stale = (run.path / "metrics.md").exists()
        note = (
            '<p class="muted">metrics.md is of an earlier evaluation than metrics.json (a dsvae eval '
            "was interrupted between writing the two): the scores of metrics.json are shown; "
            f"<code>dsvae eval {html.escape(str(run.path))}</code> writes both again.</p>\n"
            if stale
            else ""
        )
        return note + _scores_table(run.metrics)
    return f'<p class="muted">No metrics yet: run <code>dsvae eval {html.escape(str(run.path))}</code>.</p>'


def _pictures(run_dir: Path, names: list[str], others: bool = False) -> str:
    """The pictures ``names`` of RUN/pictures that exist, in that order; with ``others`` also the
    files there that `dsvae viz` does not name (such as the voice conversion examples of speech runs).
    A PNG whose animated GIF is shown stays out (except :data:`STRIPS_SHOWN`): the page stays light."""
    folder = run_dir / "pictures"
    names = [name for name in names if (folder / name).exists()]
    if others and folder.is_dir():
        names += [
            p.relative_to(folder).as_posix()
            for p in sorted(folder.rglob("*"))
            if p.suffix in MEDIA_TYPES
            and not p.name.startswith(".")
            and p.relative_to(folder).as_posix() not in PICTURES
            and p.name not in LATENT_PICTURES
            and not p.name.startswith("traverse_")
        ]
    shown = [
        name
        for name in names
        if not (
            name.endswith(".png")
            and name not in STRIPS_SHOWN
            and (folder / name).with_suffix(".gif").exists()
        )
    ]
    parts = [
        _figure(folder, name, *PICTURES.get(name, (Path(name).stem.replace("_", " "), ""))) for name in shown
    ]
    if len(shown) < len(names):
        parts.append(
            f'<p class="muted">The frame-by-frame PNGs of the animations are beside them in '
            f"{html.escape(str(folder))}.</p>"
        )
    return "\n".join(parts) or '<p class="muted">None: draw them with <code>dsvae viz RUN</code>.</p>'


def _latent_pictures(run_dir: Path) -> str:
    """The latent map, the per-factor score charts and the traversals, where `dsvae viz` drew them."""
    folder = run_dir / "pictures"
    # the animation of a video run's traversal; the spectrogram rows (PNG only) of a vector run's
    traversals = (
        sorted(
            p.name
            for p in folder.glob("traverse_*.*")
            if p.suffix == ".gif" or (p.suffix == ".png" and not p.with_suffix(".gif").exists())
        )
        if folder.is_dir()
        else []
    )
    names = [n for n in (*LATENT_PICTURES, *traversals) if (folder / n).exists()]
    if not names:
        return (
            '<p class="muted">None: a labelled run gets them from <code>dsvae eval RUN</code> and '
            "<code>dsvae viz RUN</code>.</p>"
        )
    caption = LATENT_PICTURES["traverse_*.gif"]
    return "\n".join(
        _figure(folder, n, *LATENT_PICTURES.get(n, (f"{caption[0]}: {n[9:-4]}", caption[1]))) for n in names
    )


def _configuration(run: TrainedRun) -> str:
    parts = []
    for name, what in (
        ("config.json", "the model (DSVAEConfig)"),
        ("train.json", "training options"),
        ("env.json", "environment"),
    ):
        data = run.record(name)
        if data:
            parts.append(f"<h3>{name}: {what}</h3>\n{_table(_flatten(data))}")
    return "\n".join(parts)


# --- building blocks ------------------------------------------------------------------------------


def data_uri(path: Path) -> str:
    return f"data:{MEDIA_TYPES[path.suffix]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figure(folder: Path, name: str, title: str, how: str) -> str:
    """A picture (or sound) of RUN/pictures, ``name`` relative to it, embedded with its caption."""
    path = folder / name
    ident = "pic-" + re.sub(r"[^A-Za-z0-9]+", "-", name)
    if path.suffix == ".wav":
        media = f'<audio id="{ident}" controls src="{data_uri(path)}"></audio>'
    else:
        media = f'<img id="{ident}" alt="{html.escape(title)}" src="{data_uri(path)}">'
    caption = f"<b>{html.escape(title)}</b> ({html.escape(name)})" + (f". {html.escape(how)}" if how else "")
    return f'<figure>\n<figcaption>{caption}</figcaption>\n<div class="scroll">{media}</div>\n</figure>'


def _value_text(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, list):
        return " ".join(map(str, v)) if all(isinstance(x, str) for x in v) else ", ".join(map(_value_text, v))
    return "-" if v is None else str(v)


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Nested JSON as (dotted key, value text) rows."""
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, name + ".")
        else:
            rows.append((name, _value_text(value)))
    return rows


def _scores_table(metrics: dict) -> str:
    """metrics.json through its records (:mod:`dsvae.evaluate.records`): every score with its unit
    and the side that is better, then the rest (provenance, settings, notes) as it is."""
    items = MetricsRecord.from_dict(metrics).score_items()
    rows = "\n".join(
        f'<tr><td class="key">{html.escape(k)}</td><td>{html.escape(_value_text(v))}</td>'
        f"<td>{html.escape(s.unit)}</td><td>{html.escape(s.direction or '')}</td></tr>"
        for k, (v, s) in items.items()
    )
    scores = f"<table>\n<tr><th>score</th><th>value</th><th>unit</th><th>better</th></tr>\n{rows}\n</table>"
    rest = [(k, v) for k, v in _flatten(metrics) if k not in items and k.rpartition(".")[0] not in items]
    return f"<h3>Scores</h3>\n{scores}\n<h3>The rest of metrics.json</h3>\n{_table(rest)}"


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "\n".join(
        f'<tr><td class="key">{html.escape(k)}</td><td>{html.escape(v)}</td></tr>' for k, v in rows
    )
    return f"<table>\n{cells}\n</table>"


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row; ``\\|`` is a literal bar."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def markdown_to_html(text: str) -> str:
    """The markdown `dsvae eval` writes (headings, pipe tables, paragraphs) as HTML; headings move two
    levels down to sit under the page's own."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if not table:
            return
        head, *rows = table
        rows = [r for r in rows if not all(re.fullmatch(r":?-+:?", c) for c in r)]
        out.append("<table>")
        out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>")
        out.extend("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        out.append("</table>")
        table.clear()

    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|"):
            table.append(_cells(s))
            continue
        flush()
        heading = re.match(r"(#{1,6})\s+(.*)", s)
        if heading:
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{html.escape(heading.group(2))}</h{level}>")
        elif s:
            out.append(f"<p>{html.escape(s)}</p>")
    flush()
    return "\n".join(out)


__all__ = ["build_report", "data_uri", "markdown_to_html", "missing", "missing_pictures", "render_page"]
