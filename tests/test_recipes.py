"""Recipes: shipped and users' files, the command line over them, what a run folder records of them,
and what --resume accepts; the diagnoses of dsvae train that name the fix."""

import json
import re
import shlex
import sys

import numpy as np
import pytest

from conftest import tiny_train_config
from dsvae.cli import build_parser, main, train_config_from_args
from dsvae.config import DSVAEConfig
from dsvae.data import SequenceDataset
from dsvae.options import TrainConfig
from dsvae.recipes import RecipeError, load_recipe, recipe_names
from dsvae.train import check_view_fits, model_config_for, train

# the main job's command before recipes (README of the previous version): the silhouette ablation
# must train it
SILHOUETTE_FLAGS = (
    "train --epochs 16 --lr 3e-3 --lr-decay-steps 195 --set likelihood=bernoulli "
    "--set z_view=silhouette-change --set z_conv_channels=8,16,32,64 --out runs/quickstart"
)
# the main job by DBSE's encoder, as flags: what the quickstart recipe must train
MAIN_JOB_FLAGS = (
    "train --epochs 16 --lr 3e-3 --lr-decay-steps 195 --method dbse --method-option first_frame_recon=1 "
    "--set likelihood=bernoulli "
    "--set q_f=first-frame --set z_input=minus-first --set q_z=full-no-f --out runs/quickstart"
)
SPRITES_FLAGS = (
    "train --data sprites --preset sprites --epochs 16 --batch-size 50 --lr 1e-3 "
    "--kl-warmup-steps 2000 --lr-decay-steps 720 --seed 0 --out runs/sprites-full-s0"
)


def resolve(cmd: str):
    return train_config_from_args(build_parser().parse_args(shlex.split(cmd)))


def test_every_shipped_recipe_loads_and_builds_its_model():
    names = recipe_names()
    assert {"quickstart", "sprites", "paper", "paper-fast", "fsdd", "video"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.about and recipe.source == f"dsvae:{name}"
        tc = recipe.train_config({"data": recipe.train.get("data") or "my_clips"})
        DSVAEConfig.preset(tc.preset, **tc.model_overrides)


@pytest.mark.parametrize(
    "flags, recipe",
    [(MAIN_JOB_FLAGS, "quickstart"), (SILHOUETTE_FLAGS, "quickstart-silhouette"), (SPRITES_FLAGS, "sprites")],
)
def test_recipe_trains_exactly_what_the_flag_command_trained(flags, recipe):
    old, _ = resolve(flags)
    new, r = resolve(f"train --recipe {recipe} --out runs/x")
    assert r.name == recipe
    assert new == old


def test_paper_recipe_is_the_seed_schedule():
    tc, _ = resolve("train --recipe paper")
    assert (tc.preset, tc.lr, tc.betas, tc.batch_size, tc.epochs) == ("paper", 2e-4, (0.9, 0.999), 25, 200)
    assert tc.kl_warmup_steps == 0 and tc.lr_decay_steps == 0 and tc.model_overrides == {}


def test_command_line_options_override_the_recipe():
    tc, _ = resolve("train --recipe quickstart --epochs 3 --lr 1e-3 --set z_dim=4 --set likelihood=gaussian")
    assert (tc.epochs, tc.lr) == (3, 1e-3)
    assert tc.model_overrides["z_dim"] == 4 and tc.model_overrides["likelihood"] == "gaussian"
    assert tc.model_overrides["q_f"] == "first-frame"  # the rest of the recipe stays
    assert tc.method == "dbse" and tc.method_options == {"first_frame_recon": 1.0}
    assert tc.lr_decay_steps == 195


def test_bare_train_keeps_the_documented_defaults():
    tc, recipe = resolve("train")
    assert recipe is None and tc == TrainConfig()


def test_video_recipe_needs_data():
    with pytest.raises(RecipeError, match="--data FOLDER"):
        resolve("train --recipe video")
    tc, _ = resolve("train --recipe video --data data/my_clips")
    assert tc.data == "data/my_clips" and tc.model_overrides == {}


def test_an_unknown_recipe_name_gets_the_closest_names(tmp_path):
    with pytest.raises(RecipeError, match="did you mean quickstart"):
        load_recipe("quikstart")
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "text, message",
    [
        ('data = "synthetic"\nepoch = 3\n', "unknown training option 'epoch'.*did you mean epochs"),
        ('epochs = "many"\n', "epochs"),
        ("[model]\nz_dimm = 3\n", "did you mean z_dim"),
        ("epochs = [\n", "not valid TOML"),
    ],
)
def test_bad_recipe_files_are_named(tmp_path, text, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(RecipeError, match=message):
        load_recipe(bad)


def test_a_users_recipe_file_is_recorded_in_the_run(tmp_path, tiny_dataset_dir, capsys):
    recipe = tmp_path / "mine.toml"
    recipe.write_text(
        f'about = "a test"\ndata = "{tiny_dataset_dir}"\npreset = "tiny"\nepochs = 1\nbatch_size = 10\n'
        'precision = "fp32"\ndevice = "cpu"\npictures = false\n[model]\nz_dim = 3\n'
    )
    run = tmp_path / "run"
    assert main(["train", "--recipe", str(recipe), "--no-progress", "--out", str(run)]) == 0
    opts = json.loads((run / "train.json").read_text())
    assert opts["recipe"]["name"] == "mine" and opts["recipe"]["source"] == str(recipe.resolve())
    assert opts["recipe"]["sha256"] == load_recipe(recipe).sha256
    assert (run / "recipe.toml").read_text() == recipe.read_text()
    assert json.loads((run / "config.json").read_text())["z_dim"] == 3
    env = json.loads((run / "env.json").read_text())
    assert env["cpu"]["isa"] in ("AMX", "AVX-512 BF16", "AVX-512", "AVX2", "other")
    assert env["precision"] == "fp32" and env["memory_format"] in ("contiguous", "channels_last")


@pytest.fixture
def short_run(tmp_path, tiny_dataset_dir):
    run = tmp_path / "run"
    train(tiny_train_config(tiny_dataset_dir, epochs=1, model_overrides={"z_dim": 3}), run)
    return run


def test_resume_refuses_options_that_differ_and_names_each(short_run, capsys):
    code = main(
        [
            "train",
            "--resume",
            "--out",
            str(short_run),
            "--lr",
            "0.01",
            "--batch-size",
            "20",
            "--set",
            "z_dim=5",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--lr 0.01 (the run recorded 0.001)" in err
    assert "--batch-size 20 (the run recorded 10)" in err
    assert "--set z_dim=5 (the run recorded z_dim=3)" in err


def test_resume_takes_a_longer_run_and_says_so(short_run, capsys):
    # options equal to the recorded ones are no change; --epochs may change
    args = [
        "train",
        "--resume",
        "--out",
        str(short_run),
        "--epochs",
        "2",
        "--lr",
        "0.001",
        "--set",
        "z_dim=3",
    ]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "resuming with epochs: 1 -> 2" in out.err and "done: 2 epochs" in out.out


def test_unknown_model_field_gets_the_closest_names(tiny_dataset_dir, capsys):
    args = ["train", "--data", str(tiny_dataset_dir), "--set", "z_dimm=8", "--max-steps", "1"]
    assert main([*args, "--out", "/nonexistent/x"]) == 2
    assert "did you mean z_dim" in capsys.readouterr().err


def test_presets_of_the_other_frame_kind_are_refused(tiny_dataset_dir):
    video = SequenceDataset.open(tiny_dataset_dir)
    with pytest.raises(ValueError, match="preset 'speech' is for vector frames.*--preset paper or cpu"):
        model_config_for(video, "speech", {})
    vectors = SequenceDataset.from_arrays(
        np.zeros((20, 20, 64), np.float32), labels={}, label_values={}, info={}, meta={"name": "v"}
    )
    with pytest.raises(ValueError, match="preset 'cpu' is for video frames.*--preset speech"):
        model_config_for(vectors, "cpu", {})


def test_a_folder_of_clips_is_named_with_the_command_that_imports_it(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"\0" * 10)
    (clips / "b.MOV").write_bytes(b"\0" * 10)
    assert main(["train", "--data", str(clips), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "holds video clips (2 files)" in err and f"dsvae data video --input {clips}" in err


def test_silhouette_views_refuse_data_without_a_uniform_background(tiny_dataset_dir):
    squares = SequenceDataset.open(tiny_dataset_dir)  # black background
    cfg = DSVAEConfig.preset("tiny", z_view="silhouette-change", frame_size=16, T=4)
    assert check_view_fits(cfg, squares) > 0.9  # a 4x4 square on 16x16 black frames
    rng = np.random.default_rng(0)
    footage = SequenceDataset.from_arrays(
        rng.integers(0, 256, (40, 4, 16, 16, 3), dtype=np.uint8),
        labels={},
        label_values={},
        info={},
        meta={"name": "camera"},
        test_fraction=0.25,
    )
    with pytest.raises(ValueError, match="only .*% of the pixels have that colour.*z_view=shared"):
        check_view_fits(cfg, footage)
    assert check_view_fits(cfg.replace(z_view="shared"), footage) == 1.0


def test_the_silhouette_ablations_view_fits_the_embedded_data(synthetic):
    """The quickstart-silhouette recipe's silhouette-change view on the embedded data (a ground strip
    at the bottom of every frame, characters that walk across it) passes the background check."""
    tc, _ = resolve("train --recipe quickstart-silhouette")
    data = synthetic  # open_dataset("synthetic")
    cfg = model_config_for(data, tc.preset, tc.model_overrides)
    assert check_view_fits(cfg, data) > 0.5


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    from dsvae import __version__

    assert capsys.readouterr().out.strip() == f"dsvae {__version__}"


def test_recipes_command_lists_every_recipe_with_its_command(capsys):
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name in recipe_names():
        assert f"dsvae train --recipe {name}" in out
    assert main(["recipes", "quickstart"]) == 0
    assert 'q_f = "first-frame"' in capsys.readouterr().out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_recipes_identity_is_its_settings_not_its_comments(tmp_path):
    a = tmp_path / "a.toml"
    a.write_text('about = "one"\nepochs = 3  # three\n[model]\nz_dim = 4\n')
    b = tmp_path / "b.toml"
    b.write_text('# another layout, another about\nabout = "two"\nepochs = 3\n\n[model]\nz_dim = 4\n')
    assert load_recipe(a).sha256 == load_recipe(b).sha256
    b.write_text('about = "one"\nepochs = 4\n[model]\nz_dim = 4\n')
    assert load_recipe(a).sha256 != load_recipe(b).sha256


def test_compare_records_a_recipes_results_and_recipes_lists_them(tmp_path, tiny_dataset_dir, capsys):
    recipe = tmp_path / "mine.toml"
    recipe.write_text(
        f'about = "a test"\ndata = "{tiny_dataset_dir}"\npreset = "tiny"\nepochs = 1\nbatch_size = 10\n'
        'precision = "fp32"\ndevice = "cpu"\npictures = false\n'
    )
    runs = [tmp_path / f"run{s}" for s in (0, 1)]
    for seed, run in enumerate(runs):
        args = ["train", "--recipe", str(recipe), "--seed", str(seed), "--no-progress", "--out", str(run)]
        assert main(args) == 0
        assert main(["eval", str(run), "--seeds", "1", "--dci", "linear", "--device", "cpu"]) == 0
    results = tmp_path / "results.json"
    assert main(["compare", *map(str, runs), "--record", str(results), "--boot", "100"]) == 0
    doc = json.loads(results.read_text())
    (entry,) = doc["mine"]
    assert entry["runs"] == 2 and entry["sha256"] == load_recipe(recipe).sha256
    assert entry["kind"].startswith("CPU ") and entry["kind"].endswith(", fp32")
    assert len(entry["scores"]["train_minutes"]["per_run"]) == 2
    assert entry["threads"] == json.loads((runs[0] / "env.json").read_text())["torch_threads"]
    # recording again replaces the entry of the same recipe and kind; runs trained with different
    # thread counts are recorded with the range, not the first run's count
    env = json.loads((runs[1] / "env.json").read_text())
    (runs[1] / "env.json").write_text(json.dumps({**env, "torch_threads": 99}))
    assert main(["compare", *map(str, runs), "--record", str(results), "--boot", "100"]) == 0
    (again,) = json.loads(results.read_text())["mine"]
    assert again["threads"] == f"{entry['threads']}-99"
    (runs[1] / "env.json").write_text(json.dumps(env))
    # runs that differ in more than their seed are not one recipe's results
    other = tmp_path / "other"
    assert (
        main(["train", "--recipe", str(recipe), "--epochs", "2", "--no-progress", "--out", str(other)]) == 0
    )
    assert main(["eval", str(other), "--seeds", "1", "--dci", "linear", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["compare", str(runs[0]), str(other), "--record", str(tmp_path / "r2.json")]) == 2
    assert "differ in more than their seed: epochs" in capsys.readouterr().err
    assert not (tmp_path / "r2.json").exists()
    # --as records the runs under another recipe of the same settings (a recipe renamed), and
    # refuses one whose settings differ, and without --record
    renamed = tmp_path / "renamed.toml"
    renamed.write_text("# the same settings under a new name\n" + recipe.read_text().replace("a test", "new"))
    as_renamed = ["--record", str(results), "--boot", "100", "--as", str(renamed)]
    assert main(["compare", *map(str, runs), *as_renamed]) == 0
    doc = json.loads(results.read_text())
    assert doc["renamed"][0]["sha256"] == entry["sha256"] and doc["renamed"][0]["runs"] == 2
    changed = tmp_path / "changed.toml"
    changed.write_text(recipe.read_text().replace("epochs = 1", "epochs = 2"))
    capsys.readouterr()
    assert (
        main(["compare", *map(str, runs), "--record", str(results), "--boot", "100", "--as", str(changed)])
        == 2
    )
    assert "are not the ones these runs were trained from (mine" in capsys.readouterr().err
    assert "changed" not in json.loads(results.read_text())
    assert main(["compare", *map(str, runs), "--as", str(renamed)]) == 2
    assert "give --record FILE too" in capsys.readouterr().err
    # what dsvae recipes prints of an entry: the kind of machine, the runs, the time and scores
    from dsvae.evaluate.compare import results_lines
    from dsvae.evaluate.records import SCORING_VERSION

    (line,) = results_lines([entry], entry["sha256"])
    assert line.startswith(entry["kind"]) and "2 runs" in line and "train" in line
    assert entry["scoring"] == SCORING_VERSION and "scor" not in line  # scored by this dsvae eval
    unversioned, earlier = {k: v for k, v in entry.items() if k != "scoring"}, {**entry, "scoring": 1}
    assert "recorded before dsvae eval kept a scoring version" in results_lines([unversioned])[0]
    assert "scored by an earlier dsvae eval: scoring version 1" in results_lines([earlier])[0]
    # a seed trained before a field was added (its files lack it, and name the recipe by an older
    # sha256 of the same text) is a seed of the same recipe: the field's default is what it ran
    from dsvae.evaluate.compare import recipe_differences

    for name, key in (("train.json", "grad_clip"), ("config.json", "frame_context")):
        record = json.loads((runs[1] / name).read_text())
        record.pop(key)
        if name == "train.json":
            record["recipe"] = {**record["recipe"], "sha256": "0" * 64}
        (runs[1] / name).write_text(json.dumps(record))
    assert recipe_differences(runs) == {}
    assert main(["compare", *map(str, runs), "--record", str(results), "--boot", "100"]) == 0
    # a value that differs still tells
    record = json.loads((runs[1] / "config.json").read_text())
    (runs[1] / "config.json").write_text(json.dumps({**record, "frame_context": "sequence"}))
    assert recipe_differences(runs) == {"model.frame_context": ["frame", "sequence"]}


# each successor's keys: what its recipes add to the DSVAE recipe of the same benchmark
CDSVAE_KEYS = {
    "method": "cdsvae",
    "method_options": {"contrastive_f": 10.0, "contrastive_z": 10.0, "mi_fz": 1.0, "contrastive_tau": 0.5},
}
CDSVAE_MODEL = {"q_z": "full-no-f"}
DBSE_KEYS = {"method": "dbse", "method_options": {"first_frame_recon": 1.0}}
DBSE_MODEL = {"q_f": "first-frame", "z_input": "minus-first", "q_z": "full-no-f"}
SPYL_KEYS = {
    "method": "spyl",
    "method_options": {
        "sample_predict": 0.1, "sample_predict_negatives": 0.5, "mi_fz": 0.1, "contrastive_tau": 0.5,
    },
}  # fmt: skip


@pytest.mark.parametrize(
    "recipe, base, keys, model, removed",
    [
        ("sprites-cdsvae", "sprites", CDSVAE_KEYS, CDSVAE_MODEL, set()),
        ("sprites-dbse", "sprites", DBSE_KEYS, {**DBSE_MODEL, "recon_scale": 5.0}, set()),
        ("fsdd-cdsvae", "fsdd", CDSVAE_KEYS, CDSVAE_MODEL, set()),
        # on speech DBSE's frame features read the whole segment (its audio encoder's BiLSTM)
        ("fsdd-dbse", "fsdd", DBSE_KEYS, {**DBSE_MODEL, "frame_context": "sequence"}, set()),
        ("sprites-spyl", "sprites", SPYL_KEYS, CDSVAE_MODEL, set()),
        ("fsdd-spyl", "fsdd", SPYL_KEYS, CDSVAE_MODEL, set()),
        (
            "quickstart-cdsvae",
            "quickstart-silhouette",
            CDSVAE_KEYS,
            CDSVAE_MODEL,
            {"z_view", "z_conv_channels"},
        ),
        ("quickstart", "quickstart-silhouette", DBSE_KEYS, DBSE_MODEL, {"z_view", "z_conv_channels"}),
    ],
)
def test_a_successors_recipe_is_its_benchmarks_recipe_plus_the_method(recipe, base, keys, model, removed):
    """On one benchmark only the method differs: the same data, backbone and schedule."""
    r, b = load_recipe(recipe), load_recipe(base)
    assert r.train == {**b.train, **keys}
    assert r.model == {**{k: v for k, v in b.model.items() if k not in removed}, **model}


def test_a_recipe_saved_with_a_byte_order_mark_reads_as_any_other(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(
        b'\xef\xbb\xbfabout = "\xc3\xa9t\xc3\xa9"\ndata = "synthetic"\npreset = "tiny"\nepochs = 1\n'
    )
    recipe = load_recipe(path)
    assert recipe.train == {"data": "synthetic", "preset": "tiny", "epochs": 1} and recipe.about == "été"


@pytest.mark.parametrize(
    "line, says",
    [
        ("grad_clip = -1", "grad_clip (--grad-clip) = -1.0 is out of range: grad_clip must be >= 0"),
        ("kl_warmup_steps = -100", "kl_warmup_steps must be >= 0"),
        ("epochs = 0", "epochs must be >= 1"),
        ("betas = [0.9, 1.0]", "each of betas must be in [0, 1)"),
    ],
)
def test_a_recipe_with_a_value_out_of_range_is_refused_when_read(tmp_path, line, says):
    path = tmp_path / "bad.toml"
    path.write_text(f'data = "synthetic"\npreset = "tiny"\n{line}\n', encoding="utf-8")
    with pytest.raises(RecipeError, match=re.escape(says)):
        load_recipe(path)
