"""Killed while writing results (bug report "real-world inputs, round 4", case 5): `kill -9` during
`dsvae eval` after metrics.json was replaced but before metrics.md was left the new metrics.json
beside the previous evaluation's metrics.md, `dsvae report` showed the old one, and a
``.metrics.md.*`` work file stayed. metrics.md now records the sha256 of the metrics.json it was
made from (readers refuse a stale one), and the work files of killed atomic writers are removed with
a note, as those of killed builds are."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from conftest import moving_squares, tiny_train_config
from dsvae._io import atomic_write_text
from dsvae.report import build_report
from dsvae.run import read_metrics_markdown, write_metrics
from dsvae.train import train

FIRST = {"seeds": 1, "notes": [], "reconstruction": {"psnr": 11.25}}
SECOND = {"seeds": 1, "notes": [], "reconstruction": {"psnr": 22.75}}

# write_metrics(SECOND) in a process that is killed (SIGKILL: nothing runs after it) once the work
# file of metrics.md is written and before it is renamed over metrics.md
KILLED_BETWEEN_THE_TWO = """
import os, signal, sys
from pathlib import Path
import dsvae._io as io

flush = io.fsync_file
def fsync_then_die(path):
    if Path(path).name.startswith(".metrics.md."):
        os.kill(os.getpid(), signal.SIGKILL)
    flush(path)
io.fsync_file = fsync_then_die
from dsvae.run import write_metrics
write_metrics(sys.argv[1], {second}, "# Evaluation B\\n\\nPSNR 22.75 ± 0.00\\n")
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("killed")
    moving_squares().save(base / "squares")
    train(tiny_train_config(base / "squares", epochs=1), base / "run")
    return base / "run"


def test_a_kill_between_metrics_json_and_md_leaves_no_mixed_results(trained, capsys):
    run = trained
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_metrics(run, FIRST, "# Evaluation A\n\nPSNR 11.25 ± 0.00\n")
    assert read_metrics_markdown(run) == "# Evaluation A\n\nPSNR 11.25 ± 0.00\n"

    script = KILLED_BETWEEN_THE_TWO.format(second=repr(SECOND))
    done = subprocess.run([sys.executable, "-c", script, str(run)], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr[-2000:]
    assert json.loads((run / "metrics.json").read_text(encoding="utf-8")) == SECOND
    assert "Evaluation A" in (run / "metrics.md").read_text(encoding="utf-8")  # the previous one
    (work,) = run.glob(".metrics.md.*")

    with pytest.warns(UserWarning, match="metrics.md was made from an earlier metrics.json"):
        assert read_metrics_markdown(run) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = build_report(run).read_text(encoding="utf-8")
    assert "Evaluation A" not in page and "11.25" not in page  # not the previous evaluation's
    assert '<td class="key">reconstruction.psnr</td><td>22.75</td>' in page
    assert "metrics.md is of an earlier evaluation than metrics.json" in page
    err = capsys.readouterr().err
    assert f"note: removed {work} " in err and f"left by an interrupted write of {run / 'metrics.md'}" in err
    assert not work.exists()

    with warnings.catch_warnings():  # the next dsvae eval writes one set again
        warnings.simplefilter("ignore")
        write_metrics(run, SECOND, "# Evaluation B\n\nPSNR 22.75 ± 0.00\n")
    assert read_metrics_markdown(run) == "# Evaluation B\n\nPSNR 22.75 ± 0.00\n"
    assert "<h3>Evaluation B</h3>" in build_report(run).read_text(encoding="utf-8")


def test_work_files_of_killed_writers_are_removed_by_the_next_write(tmp_path, capsys):
    """The work file of every atomic writer names its process: those of dead ones go (with a note),
    those of one still running stay, and older versions' (no process named) go too."""
    out = tmp_path / "train.json"
    dead = tmp_path / ".train.json.tmp-999999999-abc123"  # a pid no process has
    legacy = tmp_path / ".train.json.k2j3_9ab"  # mkstemp's name in earlier versions
    live = tmp_path / f".train.json.tmp-{os.getppid()}-def456"  # a writer still running
    other = tmp_path / ".env.json.tmp-999999999-abc123"  # another file's
    for path in (dead, legacy, live, other):
        path.write_bytes(b"{")
    atomic_write_text(out, "{}\n")
    err = capsys.readouterr().err
    assert not dead.exists() and not legacy.exists() and live.exists() and other.exists()
    assert f"removed {dead}" in err and f"removed {legacy}" in err and f"interrupted write of {out}" in err
    assert f"{live} belongs to a write still running (pid {os.getppid()}); left alone" in err
    assert out.read_text(encoding="utf-8") == "{}\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".train.json.")] == [live.name]
