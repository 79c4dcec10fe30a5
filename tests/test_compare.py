"""`dsvae compare`: scores over trained runs, their spread and a bootstrap interval."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dsvae.cli import main
from dsvae.evaluate.compare import bootstrap_ci, compare_runs, compare_table, run_scores


def fake_run(root: Path, name: str, acc: float, psnr: float, minutes: float) -> Path:
    run = root / name
    run.mkdir()
    metrics = {
        "run": str(run),
        "dataset": {"name": "toy", "test_sequences": 10},
        "motion_scores": {"acc": {"mean": acc, "std": 0.01}, "classes": 2},
        "reconstruction": {"psnr": psnr},
        "factors": {"chance": {"color": 0.33}, "swap_score": {"mean": acc - 0.1, "std": 0.0}},
        "notes": ["a note"],
        "judge": {"path": "judges/x", "sha256": "ab" * 32, "test_accuracy": {"color": 1.0}},
        "judge_audit": {
            "judge": {"real": {"color": 1.0}, "reconstruction": {"color": 0.875}},
            "agreement": None,
        },
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "log.csv").write_text(
        "epoch,split,loss,recon,kl_f,kl_z,seq_per_s,wall_s\n"
        f"1,train,1,1,0,0,10,{30 * minutes}\n1,test,1,1,0,0,10,1\n2,train,1,1,0,0,10,{30 * minutes}\n"
    )
    return run


def test_run_scores_flatten_the_means_and_skip_what_is_not_a_score(tmp_path):
    s = run_scores(fake_run(tmp_path, "a", 0.9, 20.0, 2.0))
    assert s == pytest.approx(
        {
            "motion_scores.acc": 0.9,
            "reconstruction.psnr": 20.0,
            "factors.swap_score": 0.8,
            "judge_audit.judge.real.color": 1.0,  # the audit is a score; the judge's provenance is not
            "judge_audit.judge.reconstruction.color": 0.875,
            "train_minutes": 2.0,
        }
    )
    with pytest.raises(FileNotFoundError, match="dsvae eval"):
        run_scores(tmp_path)


def test_bootstrap_interval():
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0])
    assert 1.0 <= lo < 2.5 < hi <= 4.0
    assert bootstrap_ci([1.0, 2.0, 3.0, 4.0]) == (lo, hi)  # seeded
    rng = np.random.default_rng(0)  # the interval of the mean covers the true mean about 95% of the time
    hits = sum(
        lo <= 0.0 <= hi for lo, hi in (bootstrap_ci(rng.normal(size=30), n_boot=2000) for _ in range(200))
    )
    assert 0.85 <= hits / 200 <= 0.99
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_compare_runs_table_and_cli(tmp_path, capsys):
    runs = [fake_run(tmp_path, f"s{i}", acc, 20.0 + i, 1.0) for i, acc in enumerate((0.8, 0.9, 1.0))]
    result = compare_runs(runs)
    acc = result["scores"]["motion_scores.acc"]
    assert acc["per_run"] == [0.8, 0.9, 1.0] and acc["n"] == 3
    assert acc["mean"] == pytest.approx(0.9) and acc["std"] == pytest.approx(0.1)  # ddof 1
    assert 0.8 <= acc["ci95"][0] < 0.9 < acc["ci95"][1] <= 1.0
    assert (acc["direction"], acc["unit"]) == ("higher", "fraction")  # from the records
    assert result["scores"]["train_minutes"]["direction"] == "lower"
    md = compare_table(result)
    assert "| mean ± std | 0.9 ± 0.1 |" in md and "95% bootstrap CI" in md and "train_minutes" in md
    assert "| motion_scores.acc | higher | fraction | 3 | 0.9 ± 0.1 |" in md
    assert "| reconstruction.psnr | higher | dB | 3 |" in md
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, runs), "--out", str(out)]) == 0
    assert "3 runs compared" in capsys.readouterr().out
    assert json.loads((out / "compare.json").read_text())["scores"]["motion_scores.acc"]["n"] == 3
    # one run: its std is undefined (ddof 1), shown as "-", not "± 0"
    one = compare_runs(runs[:1])["scores"]["motion_scores.acc"]
    assert one["std"] is None and "| mean ± std | 0.8 ± - |" in compare_table(compare_runs(runs[:1]))
    assert main(["compare", str(tmp_path / "nothing")]) == 2
    assert "dsvae eval" in capsys.readouterr().err


def test_seed_table_wraps_compare(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import seed_table
    finally:
        sys.path.pop(0)
    run = fake_run(tmp_path, "s0", 0.9, 20.0, 1.5)
    assert seed_table.figures(run) == pytest.approx({"Acc": 90.0, "PSNR": 20.0, "train min": 1.5})
    seed_table.main([f"recipe={tmp_path}/s*"])
    assert "1 runs compared" in capsys.readouterr().out


def test_compare_says_when_runs_differ_in_more_than_their_seed(tmp_path, capsys):
    runs = [fake_run(tmp_path, f"s{i}", 0.9, 20.0, 1.0) for i in range(3)]
    for i, run in enumerate(runs):
        opts = {"seed": i, "lr": 3e-3, "epochs": 16, "cwd": f"/home/{i}", "max_steps": 5 * i}
        (run / "train.json").write_text(json.dumps(opts))
        (run / "config.json").write_text(json.dumps({"z_dim": 16, "conv_channels": [16, 32]}))
    assert compare_runs(runs)["differences"] == {}  # seeds, folders and stops are not the recipe
    md = compare_table(compare_runs(runs))
    assert "differ" not in md
    (runs[2] / "train.json").write_text(json.dumps({"seed": 2, "lr": 1e-3, "epochs": 16}))
    (runs[1] / "config.json").write_text(json.dumps({"z_dim": 8, "conv_channels": [16, 32]}))
    diff = compare_runs(runs)["differences"]
    assert diff == {"lr": [3e-3, 3e-3, 1e-3], "model.z_dim": [16, 8, 16]}
    assert "- lr: 0.003 / 0.003 / 0.001" in compare_table(compare_runs(runs))
    assert main(["compare", *map(str, runs)]) == 0
    err = capsys.readouterr().err
    assert "differ in more than their seed: lr, model.z_dim" in err
    (runs[0] / "config.json").write_text("{not json")  # unreadable: compared on scores alone
    assert "model.z_dim" in compare_runs(runs)["differences"]


def test_runs_scored_by_different_scoring_versions_do_not_pool(tmp_path):
    from dsvae.evaluate.compare import run_scoring
    from dsvae.evaluate.records import SCORING_VERSION

    old, new = fake_run(tmp_path, "old", 0.9, 20.0, 2.0), fake_run(tmp_path, "new", 0.8, 21.0, 2.0)
    metrics = json.loads((new / "metrics.json").read_text())
    (new / "metrics.json").write_text(json.dumps({**metrics, "scoring": SCORING_VERSION}))
    assert (run_scoring(old), run_scoring(new)) == (1, SCORING_VERSION)  # a file without the key: 1
    refused = r"different versions of dsvae eval.*old: scoring version 1.*dsvae eval RUN"
    with pytest.raises(ValueError, match=refused):
        compare_runs([old, new])
    assert compare_runs([new, new])["scores"]["motion_scores.acc"]["mean"] == pytest.approx(0.8)


@pytest.mark.parametrize(
    "model, shown",
    [
        ("Intel(R) Xeon(R) Processor", "Intel Xeon"),
        ("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz", "Intel Xeon Platinum 8480+"),
        ("AMD EPYC 7B13 64-Core Processor", "AMD EPYC 7B13 64-Core"),
        ("AMD EPYC", "AMD EPYC"),
        ("Processor", "Processor"),  # nothing left: the name as it was, never an empty cell
        (None, None),
    ],
)
def test_a_recorded_machine_is_the_cpus_name_without_trademarks_and_clock(model, shown):
    from dsvae.evaluate.compare import machine_name

    assert machine_name(model) == shown


def test_a_record_replaces_the_same_kind_on_the_same_machine_only(tmp_path):
    from dsvae.evaluate.compare import read_results, record_results

    path = tmp_path / "results.json"

    def entry(machine, acc):
        return {
            "recipe": "r",
            "sha256": "s",
            "kind": "CPU AVX2 (capped), fp32",
            "machine": machine,
            "acc": acc,
        }

    record_results(path, entry("AMD EPYC", 0.9))
    record_results(path, entry("Intel Xeon", 0.8))  # another vendor's bits: a row of its own
    record_results(path, entry("AMD EPYC", 0.95))  # the same machine again: replaces its row
    rows = read_results(path)["r"]
    assert sorted((e["machine"], e["acc"]) for e in rows) == [("AMD EPYC", 0.95), ("Intel Xeon", 0.8)]
