"""A user's metric from outside the package: a file, a module, a registered function or an installed
package's entry point, run by `dsvae eval --metric`, stored in metrics.json's user_metrics, compared
with intervals by `dsvae compare`, shown by `dsvae report`, and through the Python API."""

import json
import math
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import fake_distribution
from dsvae import DSVAE, DSVAEConfig
from dsvae.cli import main
from dsvae.evaluate.compare import compare_runs, run_scores
from dsvae.evaluate.protocols import add_user_metrics, evaluate_run
from dsvae.evaluate.records import MetricsRecord
from dsvae.evaluate.usermetrics import (
    MetricImportError,
    available_metrics,
    find_metric,
    metric,
    register_metric,
    unregister_metric,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "active_units.py"
# a metric file as a user writes it, outside the package: one over codes, one over the model
METRIC_FILE = '''
import numpy as np
from dsvae.evaluate.usermetrics import metric


@metric(scores={"spread_f": ("higher", "nats", "log mean variance of f"), "n": (None, "sequences")})
def spread(codes, factors):
    """How far apart the test sequences' f lie."""
    assert codes["f"].ndim == 2 and codes["z"].ndim == 3
    assert all(y.shape == (len(codes["f"]),) for y in factors.values())
    return {"spread_f": float(np.log(codes["f"].var(axis=0).mean())), "n": len(codes["f"])}


@metric(name="prior_energy", scores={"mean_sq": "lower"}, inputs="model")
def prior(model, test):
    z = model.sample_prior_z(4)  # seeded by dsvae: the same draws every time
    return {"mean_sq": float(z.pow(2).mean())}
'''
# one quick evaluation: no judge, one seed, linear DCI on few training codes
EVAL = ["--judge", "none", "--seeds", "1", "--dci", "linear", "--dci-train", "60", "--device", "cpu"]
API = dict(judge_dir=None, seeds=1, regressors=("linear",), max_train=60, device="cpu")


def make_runs(root: Path, data: Path, n: int = 2) -> list[Path]:
    """Run folders as `dsvae train` leaves them, each with an untrained model of its own seed."""
    runs = []
    for seed in range(n):
        torch.manual_seed(seed)
        model = DSVAE(DSVAEConfig.preset("tiny"))
        run = root / f"s{seed}"
        model.save(run / "model")
        model.config.save(run / "config.json")
        (run / "train.json").write_text(json.dumps({"data": str(data), "seed": seed}))
        runs.append(run)
    return runs


@pytest.fixture
def metric_file(tmp_path) -> Path:
    path = tmp_path / "elsewhere" / "my_metrics.py"
    path.parent.mkdir()
    path.write_text(METRIC_FILE)
    return path


def test_a_file_metric_through_eval_compare_and_report(tmp_path, tiny_dataset_dir, metric_file, capsys):
    runs = make_runs(tmp_path, tiny_dataset_dir)
    for run in runs:
        args = [
            "eval",
            str(run),
            *EVAL,
            "--metric",
            f"{metric_file}:spread",
            "--metric",
            f"{metric_file}:prior",
        ]
        assert main(args) == 0
    out = capsys.readouterr().out
    assert "## User metrics (dsvae eval --metric)" in out and "| spread | spread_f |" in out
    doc = json.loads((runs[0] / "metrics.json").read_text())
    assert list(doc)[0] == "schema" and doc["schema"] == 2
    assert MetricsRecord.from_dict(doc).undeclared() == []  # every number of a video run is declared
    spread = doc["user_metrics"]["spread"]
    assert spread["scores"]["n"] == 20.0 and math.isfinite(spread["scores"]["spread_f"])
    assert spread["declared"]["spread_f"] == {
        "direction": "higher",
        "unit": "nats",
        "about": "log mean variance of f",
    }
    assert spread["source"]["kind"] == "file" and spread["source"]["file"] == str(metric_file.resolve())
    assert (
        len(spread["source"]["sha256"]) == 64
        and spread["about"] == "How far apart the test sequences' f lie."
    )
    assert doc["user_metrics"]["prior_energy"]["inputs"] == "model"

    cmp = tmp_path / "cmp"
    assert main(["compare", *map(str, runs), "--out", str(cmp)]) == 0
    result = json.loads((cmp / "compare.json").read_text())
    s = result["scores"]["user_metrics.spread.spread_f"]
    per_run = [
        json.loads((r / "metrics.json").read_text())["user_metrics"]["spread"]["scores"]["spread_f"]
        for r in runs
    ]
    assert s["per_run"] == per_run and per_run[0] != per_run[1] and s["n"] == 2
    assert s["ci95"][0] <= s["mean"] <= s["ci95"][1] and s["std"] > 0
    assert (s["direction"], s["unit"]) == ("higher", "nats")
    assert result["scores"]["user_metrics.prior_energy.mean_sq"]["direction"] == "lower"
    assert result["differences"] == {}  # the same file: the scores pool as seeds
    md = (cmp / "compare.md").read_text()
    assert "| user_metrics.spread.spread_f | higher | nats | 2 |" in md

    assert main(["report", str(runs[0])]) == 0
    page = (runs[0] / "report.html").read_text()
    assert "User metrics (dsvae eval --metric)" in page and "<td>spread_f</td>" in page

    # another version of the metric file: compare says the runs differ in it
    metric_file.write_text(METRIC_FILE + "\n# changed\n")
    assert main(["eval", str(runs[1]), "--metric", f"{metric_file}:spread", "--metrics-only"]) == 0
    assert "user_metrics.spread.source" in compare_runs(runs)["differences"]


def test_metrics_only_keeps_the_scores_and_a_model_metric_is_seeded(tmp_path, tiny_dataset_dir, metric_file):
    (run,) = make_runs(tmp_path, tiny_dataset_dir, 1)
    first = evaluate_run(run, **API)
    assert "user_metrics" not in first
    before = json.loads((run / "metrics.json").read_text())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = add_user_metrics(run, [f"{metric_file}:prior", str(EXAMPLE)], device="cpu")
    assert not [w for w in caught if "replaced" in str(w.message)]  # added to, not replaced
    after = json.loads((run / "metrics.json").read_text())
    assert {k: v for k, v in after.items() if k != "user_metrics"} == before  # built-ins kept as they were
    assert set(after["user_metrics"]) == {"prior_energy", "active_units"} and doc == after
    again = add_user_metrics(run, [f"{metric_file}:prior"], device="cpu")
    assert again["user_metrics"]["prior_energy"] == after["user_metrics"]["prior_energy"]  # seeded
    assert set(again["user_metrics"]) == {"prior_energy", "active_units"}  # others kept
    assert "| prior_energy | mean_sq |" in (run / "metrics.md").read_text()
    # the run trained on since: its scores are of another model, so the metric alone is refused
    doc = json.loads((run / "metrics.json").read_text())
    doc["model"]["step"] = 12345
    (run / "metrics.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="score everything again"):
        add_user_metrics(run, [str(EXAMPLE)], device="cpu")
    shutil.rmtree(run / "model")
    with pytest.raises(FileNotFoundError):
        add_user_metrics(tmp_path / "nothing", [str(EXAMPLE)])
    assert main(["eval", str(tmp_path / "s0"), "--metrics-only"]) == 2  # nothing named


def test_the_python_api_and_a_registered_name(tmp_path, tiny_dataset_dir):
    @metric(scores={"mean_abs_z": (None, "")})
    def z_size(codes, factors):
        return {"mean_abs_z": np.abs(codes["z"]).mean()}

    (run,) = make_runs(tmp_path, tiny_dataset_dir, 1)
    m = evaluate_run(run, **API, user_metrics=[z_size])
    assert m["user_metrics"]["z_size"]["source"]["kind"] == "function"
    assert "user_metrics.z_size.mean_abs_z" in run_scores(run)
    assert register_metric(z_size, "zsize") == "zsize"
    try:
        assert "zsize" in available_metrics()
        assert find_metric("zsize").source["kind"] == "registered"
        with pytest.raises(ValueError, match="did you mean zsize"):
            find_metric("zsise")
    finally:
        unregister_metric("zsize")


def test_the_example_counts_active_units():
    """examples/active_units.py (docs/extending.md) on codes with known variances."""
    loaded = find_metric(str(EXAMPLE))
    assert loaded.name == "active_units" and loaded.spec.scores["f"].unit == "dims"
    rng = np.random.default_rng(0)
    f = np.concatenate([rng.normal(size=(200, 3)), 0.01 * rng.normal(size=(200, 2))], axis=1)  # 3 of 5
    z = np.zeros((200, 4, 6))
    z[:, :, 0] = rng.normal(size=(200, 4))  # moves between sequences and frames
    z[:, :, 1] = np.linspace(-1, 1, 4)  # moves in time only: active as well
    assert loaded.fn({"f": f, "z": z}, {}) == {"f": 3, "z": 2}


def test_the_docs_show_the_example_file_as_it_is():
    """The metric section of the user guide holds examples/active_units.py verbatim (the file the
    tests run), so the guide cannot drift from working code."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    guide = next(
        p
        for p in (docs / "extending.md", docs / "extending-metric.md")
        if p.exists() and "def active_units" in p.read_text()
    )
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(), flags=re.S)
    assert EXAMPLE.read_text() in blocks


def test_an_installed_package_entry_point(tmp_path, monkeypatch, tiny_dataset_dir):
    code = (
        "from dsvae.evaluate.usermetrics import metric\n\n"
        "@metric(scores={'dims': ('higher', 'dims')})\n"
        "def f_dims(codes, factors):\n    return {'dims': codes['f'].shape[1]}\n"
    )
    site = fake_distribution(
        tmp_path / "site", "dsvae.metrics", {"my_dims": "mypkg:f_dims"}, files={"mypkg/__init__.py": code}
    )
    broken = {"brokenpkg/__init__.py": "import not_installed_anywhere\n"}
    fake_distribution(site, "dsvae.metrics", {"broken": "brokenpkg:f"}, name="brokenpkg", files=broken)
    monkeypatch.syspath_prepend(str(site))
    assert {"my_dims", "broken"} <= set(available_metrics())
    loaded = find_metric("my_dims")
    assert loaded.name == "f_dims"
    assert {k: loaded.source[k] for k in ("kind", "package", "version")} == {
        "kind": "entry point",
        "package": "mypkg",
        "version": "0.1",
    }
    with pytest.raises(MetricImportError, match=r"brokenpkg 0\.1.*not_installed_anywhere.*reinstall"):
        find_metric("broken")
    with pytest.raises(ValueError, match="did you mean my_dims"):
        find_metric("my_dim")
    (run,) = make_runs(tmp_path, tiny_dataset_dir, 1)
    assert main(["eval", str(run), *EVAL, "--metric", "my_dims"]) == 0
    rec = MetricsRecord.from_dict(json.loads((run / "metrics.json").read_text()))
    assert rec.user_metrics["f_dims"].source["package"] == "mypkg"
    assert rec.scores()["user_metrics.f_dims.dims"] == DSVAEConfig.preset("tiny").f_dim
    assert main(["eval", str(run), "--metric", "broken", "--metrics-only"]) == 2  # a message, no traceback


def test_what_is_refused_says_what_to_do(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    with pytest.raises(MetricImportError, match="fails to import .*fix the file"):
        find_metric(f"{bad}:f")
    missing = tmp_path / "needs.py"
    missing.write_text("import not_installed_anywhere\n")
    with pytest.raises(MetricImportError, match="'not_installed_anywhere', which is not installed"):
        find_metric(f"{missing}:f")
    with pytest.raises(FileNotFoundError):
        find_metric(str(tmp_path / "absent.py"))
    with pytest.raises(MetricImportError, match="no module named 'no_such_module'"):
        find_metric("no_such_module:f")
    plain = tmp_path / "plain.py"
    plain.write_text(
        "from dsvae.evaluate.usermetrics import metric\n"
        "def undeclared(codes, factors):\n    return {}\n"
        "@metric(scores={'a': 'higher'})\ndef declared(codes, factors):\n    return {'a': 1, 'b': 2}\n"
        "@metric(scores={'a': 'higher'})\ndef nan(codes, factors):\n    return {'a': float('nan')}\n"
    )
    with pytest.raises(ValueError, match="not declared as a dsvae metric"):
        find_metric(f"{plain}:undeclared")
    with pytest.raises(ValueError, match="did you mean declared"):
        find_metric(f"{plain}:declard")
    with pytest.raises(ValueError, match="declares 2 metrics"):
        find_metric(str(plain))
    from dsvae.evaluate.usermetrics import run_user_metrics

    codes = {"f": np.zeros((2, 3), np.float32), "z": np.zeros((2, 2, 1), np.float32)}

    class Test:  # what metric_inputs reads of the test data, for a unit test without a model
        labels: dict = {}

    with pytest.raises(ValueError, match=r"\['b'\] not declared"):
        _call(find_metric(f"{plain}:declared"), codes)
    with pytest.raises(ValueError, match="is nan"):
        _call(find_metric(f"{plain}:nan"), codes)
    with pytest.raises(ValueError, match="direction"):
        metric(scores={"a": "sideways"})
    with pytest.raises(ValueError, match="at least one score"):
        metric(scores={})
    assert run_user_metrics([], None, Test()) == {}


def _call(loaded, codes):
    from dsvae.evaluate.usermetrics import _checked_result

    return _checked_result(loaded, loaded.fn(codes, {}))
