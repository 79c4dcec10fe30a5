"""Methods as one class each (dsvae.methods): the built-ins listed, a user's method in a file or an
installed package trained, resumed, scored, compared and reported like them, the names checked, and
runs of the flat options of earlier versions read as their method."""

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import fake_distribution, tiny_train_config
from dsvae.cli import main
from dsvae.methods import BUILT_IN, MethodError, make_method, method_class, method_source
from dsvae.run import read_train_options
from dsvae.train import train

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "static_triplet.py"  # the very file docs/extending.md shows
TRIPLET = f"{EXAMPLE}:StaticTriplet"


def weights(run: Path, where: str = "model") -> dict:
    return load_file(str(run / where / "model.safetensors"))


def test_dsvae_methods_lists_the_four_builtins_with_options_and_citations(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name, cls in BUILT_IN.items():
        assert f"{name}: {cls.title}" in out and cls.citation.split(",")[0] in out
    assert "--method-option contrastive_f=10.0" in out and "model: q_f=first-frame" in out
    assert main(["methods", TRIPLET]) == 0
    assert "--method-option margin=1.0" in capsys.readouterr().out


def test_the_guide_shows_the_example_method_whole():
    """docs/extending.md holds examples/static_triplet.py verbatim: the file the tests above run."""
    page = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    assert EXAMPLE.read_text(encoding="utf-8") in re.findall(r"```python\n(.*?)```\n", page, flags=re.S)


def test_a_method_through_the_python_api(tiny_dataset_dir, tmp_path):
    method = make_method(TRIPLET, {"weight": 0.5})
    assert method.term_names() == ("triplet_f",) and method.options.margin == 1.0
    tc = tiny_train_config(tiny_dataset_dir, epochs=1, method=TRIPLET, method_options={"weight": 0.5})
    result = train(tc, tmp_path / "api")
    assert "triplet_f" in result.train and result.epochs_done == 1
    with pytest.raises(MethodError, match="weight must be >= 0"):
        make_method(TRIPLET, {"weight": -1.0})


def test_an_installed_package_method_is_found_and_named_when_it_is_gone(
    tiny_dataset_dir, tmp_path, monkeypatch, capsys
):
    site = fake_distribution(
        tmp_path / "site",
        "dsvae.methods",
        {"triplet": "methodpkg.triplet:StaticTriplet"},
        name="methodpkg",
        files={"methodpkg/triplet.py": EXAMPLE.read_text()},
    )
    broken = {"brokenpkg/__init__.py": "import gone\n"}
    fake_distribution(site, "dsvae.methods", {"broken": "brokenpkg:Nothing"}, name="brokenpkg", files=broken)
    monkeypatch.syspath_prepend(str(site))
    assert method_class("triplet").name == "static-triplet"
    assert {k: method_source("triplet")[k] for k in ("package", "version")} == {
        "package": "methodpkg",
        "version": "0.1",
    }
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "triplet: DSVAE + static triplet  [methodpkg 0.1]" in out
    assert "broken: brokenpkg 0.1: cannot import" in out
    with pytest.raises(MethodError, match="brokenpkg 0.1.*No module named 'gone'.*reinstall"):
        method_class("broken")
    run = tmp_path / "run"
    train(tiny_train_config(tiny_dataset_dir, epochs=1, method="triplet"), run)
    assert read_train_options(run)["method_source"]["package"] == "methodpkg"
    # the package uninstalled: a later command that needs the method says what to install
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site)])
    for mod in [m for m in sys.modules if m.startswith("methodpkg")]:
        monkeypatch.delitem(sys.modules, mod)
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(run), "--epochs", "2"]) == 2
    assert "pip install methodpkg==0.1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--method", "cdsvea"], "unknown method 'cdsvea': did you mean cdsvae"),
        (["--method", "cdsvae", "--method-option", "contrastve_f=1"], "did you mean contrastive_f"),
        (["--method", "dbse", "--method-option", "first_frame_recon=-1"], "first_frame_recon must be >= 0"),
        (["--method", "nowhere.py:Thing"], "nowhere.py not found (give path/to/file.py:Class)"),
        (["--method", "no_such_module:Thing"], "cannot import no_such_module"),
    ],
)
def test_unknown_methods_and_options_are_refused_with_the_closest_names(tmp_path, capsys, args, says):
    assert main(["train", "--preset", "tiny", *args, "--out", str(tmp_path / "r")]) == 2
    assert says in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_recipe_names_its_method_in_a_table_and_the_flat_form_of_earlier_recipes_still_reads(tmp_path):
    from dsvae.recipes import load_recipe

    new = tmp_path / "new.toml"
    new.write_text('data = "synthetic"\npreset = "tiny"\n\n[method]\nname = "cdsvae"\ncontrastive_f = 3.0\n')
    old = tmp_path / "old.toml"
    old.write_text(
        'data = "synthetic"\npreset = "tiny"\ncontrastive_f = 3.0\ncontrastive_z = 10.0\nmi_fz = 1.0\n'
    )
    a = load_recipe(new)
    with pytest.warns(UserWarning, match="the cdsvae method's options"):
        b = load_recipe(old)
    assert a.train_config() == b.train_config()
    assert a.train_config().method_options == {
        "contrastive_f": 3.0, "contrastive_z": 10.0, "mi_fz": 1.0, "contrastive_tau": 0.5
    }  # fmt: skip
    bad = tmp_path / "bad.toml"
    bad.write_text('data = "synthetic"\n\n[method]\ncontrastive_f = 3.0\n')
    with pytest.raises(ValueError, match="a \\[method\\] table with a name"):
        load_recipe(bad)


def test_a_run_of_the_flat_options_resumes_scores_and_compares_as_its_method(tiny_dataset_dir, tmp_path):
    """A run folder written before methods had names (train.json with contrastive_f, ... and no
    method) resumes to the same bits as a run of today's, and compares as a seed of the same recipe."""
    from dsvae.evaluate.compare import recipe_differences

    over = {"q_z": "full"}  # the earlier runs' q(z) unless their recipe set it
    options = {"contrastive_f": 1.0, "contrastive_z": 1.0, "mi_fz": 1.0}
    tc = tiny_train_config(
        tiny_dataset_dir, epochs=2, method="cdsvae", method_options=options, model_overrides=over
    )
    train(tc, tmp_path / "today")
    part = tmp_path / "earlier"
    train(tiny_train_config(tiny_dataset_dir, epochs=2, max_steps=6, **{k: v for k, v in tc.to_dict().items()
          if k in ("method", "method_options", "model_overrides")}), part)  # fmt: skip
    record = json.loads((part / "train.json").read_text())
    for key in ("method", "method_options", "method_source"):
        record.pop(key)
    record["model_overrides"] = {}
    record.update(
        options, contrastive_tau=0.5, first_frame_recon=0.0, sample_predict=0.0, sample_predict_negatives=0.5
    )
    (part / "train.json").write_text(json.dumps(record))
    assert read_train_options(part)["method"] == "cdsvae"
    train(tiny_train_config(tiny_dataset_dir, epochs=2), part, resume=True)
    a, b = weights(tmp_path / "today"), weights(part)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert recipe_differences([tmp_path / "today", part]) == {}
    assert (
        main(["eval", str(part), "--seeds", "1", "--dci", "linear", "--device", "cpu", "--judge", "none"])
        == 0
    )


def test_a_method_a_metric_and_a_source_of_ones_own_through_every_command(tmp_path, monkeypatch, capsys):
    """The issue's bar: the three examples of docs/extending.md, files outside the package, through
    dsvae data, train, --resume, eval --metric, compare and report, as the built-ins go. The method in
    a file is recorded with its source and options, logs its term, and a run of it stopped after 3
    steps and resumed has the same bits as the run trained in one go."""
    import dsvae.data as data_mod
    from dsvae.data import sources

    site = fake_distribution(tmp_path / "site", "dsvae.data", {"moving-balls": "moving_balls:SOURCE"})
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sources, "_LOADED", {})
    monkeypatch.setattr(data_mod, "DEFAULT_DATA_ROOT", tmp_path / "data")
    assert main(["data", "moving-balls", "--n", "60", "--T", "4", "--size", "16"]) == 0
    common = ["--data", "moving-balls", "--preset", "tiny", "--batch-size", "10", "--precision", "fp32"]
    common += ["--no-progress", "--no-pictures", "--method", TRIPLET, "--method-option", "weight=2"]
    common += ["--epochs", "2"]
    runs = [tmp_path / "s0", tmp_path / "s1"]
    for seed, run in enumerate(runs):
        assert main(["train", *common, "--seed", str(seed), "--out", str(run)]) == 0
    recorded = read_train_options(runs[0])
    assert recorded["method"] == TRIPLET and recorded["method_options"] == {"weight": 2.0, "margin": 1.0}
    source = recorded["method_source"]
    assert (
        source["file"] == str(EXAMPLE) and source["qualname"] == "StaticTriplet" and source["package"] is None
    )
    assert "triplet_f" in (runs[0] / "objective.csv").read_text().splitlines()[0]
    # stopped after 3 steps and resumed: the same bits as the run trained in one go
    part = tmp_path / "part"
    assert main(["train", *common, "--seed", "0", "--max-steps", "3", "--out", str(part)]) == 0
    assert main(["train", "--resume", "--out", str(part), "--no-progress"]) == 0
    a, b = weights(runs[0]), weights(part)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # an option the method does not have, on resume as anywhere: the closest names
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(part), "--method-option", "margn=2"]) == 2
    assert "unknown option 'margn'" in capsys.readouterr().err.replace("method option", "option")
    metric = str(ROOT / "examples" / "active_units.py")
    for run in runs:
        assert (
            main(["eval", str(run), "--seeds", "1", "--dci", "linear", "--judge", "none", "--metric", metric])
            == 0
        )
        assert "active_units" in json.loads((run / "metrics.json").read_text())["user_metrics"]
    capsys.readouterr()
    assert main(["compare", *map(str, runs), "--boot", "100"]) == 0
    assert "active_units" in capsys.readouterr().out
    assert main(["report", str(runs[0])]) == 0
    page = (runs[0] / "report.html").read_text(encoding="utf-8")
    assert "active_units" in page
