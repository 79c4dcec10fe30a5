"""The table of data sources (dsvae.data.sources): the built-ins drive open_dataset, the advice, the
judge lookup and `dsvae data`; a user's source in a file outside the package, registered by an
installed distribution's entry point, is built, trained on, scored and opened like a built-in."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import conftest
import dsvae.data as data_mod
from dsvae.cli import main as cli_main
from dsvae.data import DatasetError, SequenceDataset, build_source, open_dataset, sources
from dsvae.data.sources import BUILTIN, Source, SourceError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"  # examples/moving_balls.py: the very file docs/extending.md shows


def fake_distribution(site: Path, entry_points: dict[str, str], name: str = "mypkg", files=None) -> Path:
    """A distribution with entry points of the group dsvae.data (:func:`conftest.fake_distribution`)."""
    return conftest.fake_distribution(site, "dsvae.data", entry_points, name, files)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The example source (examples/moving_balls.py, imported from where it is) installed through a
    fake distribution, DSVAE_DATA pointed at tmp_path/data; returns the site folder."""
    site = fake_distribution(tmp_path / "site", {"moving-balls": "moving_balls:SOURCE"})
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(data_mod, "DEFAULT_DATA_ROOT", tmp_path / "data")
    monkeypatch.setattr(sources, "_LOADED", {})
    return site


# --- the table drives the built-ins -------------------------------------------------------------------
def test_the_table_names_every_builtin_once_with_a_kind_and_a_way_to_be_made():
    names = [s.name for s in BUILTIN]
    assert len(names) == len(set(names))
    assert data_mod.GENERATED == ("synthetic", "synthetic-shifted")
    assert data_mod.BUILT == ("sprites", "fsdd")
    from dsvae.cli import build_parser

    data_parser = build_parser()._subparsers._group_actions[0].choices["data"]
    commands = set(data_parser._subparsers._group_actions[0].choices)
    assert set(sources.data_commands()) | {"list"} == commands  # every built source has its command


def test_generated_sources_come_from_the_table(synthetic, synthetic_shifted):
    plain, shifted = synthetic, synthetic_shifted  # open_dataset of each name (conftest)
    assert plain.meta["max_x_offset"] == 0 and shifted.meta["max_x_offset"] == 8
    assert sources.builtin("synthetic-shifted").generator_options == {"max_x_offset": 8}


def test_a_built_source_not_built_yet_names_its_build_command(tmp_path, monkeypatch):
    monkeypatch.setattr(data_mod, "DEFAULT_DATA_ROOT", tmp_path)
    with pytest.raises(DatasetError) as e:
        open_dataset("sprites")
    assert "dsvae data sprites --out data/sprites (downloads the sheets; or --sheets DIR)" in str(e.value)
    with pytest.raises(DatasetError, match="dsvae data fsdd --out data/fsdd"):
        open_dataset("fsdd")


def test_an_unknown_name_gets_the_closest_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="did you mean sprites"):
        open_dataset("sprits")
    with pytest.raises(DatasetError, match="did you mean synthetic"):
        open_dataset("synthtic")


def test_the_judge_lookup_reads_the_table(synthetic):
    from dsvae.evaluate.judge import SHIPPED_DIR, SHIPPED_FOR, shipped_judge_dir

    assert SHIPPED_FOR == {"synthetic": "synthetic", "synthetic-shifted": "synthetic", "sprites": "sprites"}
    assert sources.judge_for({"name": "sprites"}) == "sprites"
    assert sources.judge_for({"name": "fsdd"}) is None
    assert sources.judge_for({"name": "my-clips"}) is None
    assert shipped_judge_dir(synthetic) == SHIPPED_DIR / "synthetic"


def test_one_list_of_video_file_kinds():
    from dsvae.data import video

    assert video.VIDEO_EXTENSIONS is sources.VIDEO_EXTENSIONS
    assert video.FRAME_EXTENSIONS is sources.FRAME_EXTENSIONS
    what, exts, command = sources.folder_advice()[0]
    assert what == "video clips" and {".ts", ".gif", ".webp", ".mp4"} <= set(exts)
    assert command == "dsvae data video --input {path} --out data/{name}"


def test_a_folder_of_clips_is_advised_from_the_table(tmp_path):
    for name in ("a.ts", "b.webp"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"holds video clips \(2 files\).*dsvae data video --input"):
        SequenceDataset.open(tmp_path)


def test_the_help_strings_come_from_the_table():
    assert sources.data_help().startswith("synthetic, synthetic-shifted, sprites, fsdd, a source of an")
    assert sources.judge_help() == "synthetic, synthetic-shifted, sprites, or a labelled dataset folder"


# --- a user's source ------------------------------------------------------------------------------------
def test_a_users_source_through_the_python_api(installed, tmp_path):
    assert "moving-balls" in sources.all_names()
    with pytest.raises(DatasetError, match="dsvae data moving-balls --out data/moving-balls"):
        open_dataset("moving-balls")
    ds = build_source("moving-balls", n=40, T=4, size=16, seed=3)
    assert ds.kind == "video" and ds.frames.shape == (40, 4, 16, 16, 3)
    again = open_dataset("moving-balls")
    assert again.meta["name"] == "moving-balls"
    assert again.meta["static_labels"] == ["colour", "size"] and again.meta["dynamic_labels"] == ["direction"]
    made = again.meta["data_source"]
    assert made["name"] == "moving-balls" and "mypkg 0.1" in made["origin"]
    assert made["options"] == {"n": 40, "T": 4, "size": 16, "speed": 0.08, "test_fraction": 0.1, "seed": 3}
    np.testing.assert_array_equal(again.labels["direction"], ds.labels["direction"])
    with pytest.raises(FileExistsError, match="--force"):
        build_source("moving-balls", n=40, T=4, size=16)
    with pytest.raises(SourceError, match="did you mean seed"):
        build_source("moving-balls", sed=1, force=True)
    assert sources.judge_for(again.meta) is None


def test_the_example_balls_move_as_labelled(installed):
    """direction E moves the ball to the right, N up, ...: the label is what the frames show (the
    centre of mass taken on the torus the balls live on, so a ball across an edge counts too)."""
    size = 32
    ds = build_source("moving-balls", n=64, T=2, size=size, speed=0.05)
    mass = np.asarray(ds.frames, dtype=np.float64).sum(-1)  # (n, T, H, W)
    phase = np.exp(2j * np.pi * (np.arange(size) + 0.5) / size)
    cx = np.angle((mass.sum(2) * phase).sum(-1)) * size / (2 * np.pi)  # (n, T) pixels, circular
    cy = np.angle((mass.sum(3) * phase).sum(-1)) * size / (2 * np.pi)
    step_x = (cx[:, 1] - cx[:, 0] + size / 2) % size - size / 2
    step_y = (cy[:, 1] - cy[:, 0] + size / 2) % size - size / 2
    angle = ds.labels["direction"] * np.pi / 4
    np.testing.assert_allclose(step_x, 0.05 * size * np.cos(angle), atol=0.3)
    np.testing.assert_allclose(step_y, -0.05 * size * np.sin(angle), atol=0.3)  # rows grow downwards


def test_a_users_source_end_to_end_on_the_command_line(installed, tmp_path, capsys):
    """dsvae data NAME in a fresh process (the entry point found through PYTHONPATH), its --help and
    dsvae data list here (the entry point found on sys.path), then dsvae train --data NAME, dsvae eval
    RUN --judge none."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(installed), str(EXAMPLES), str(ROOT / "src")]),
        "DSVAE_DATA": str(tmp_path / "data"),
    }
    cmd = [sys.executable, "-m", "dsvae", "data", "moving-balls", "--n", "60", "--T", "4", "--size", "16"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "dataset: " in done.stdout and "dsvae train --data moving-balls" in done.stdout
    with pytest.raises(SystemExit) as e:
        cli_main(["data", "moving-balls", "--help"])
    helped = capsys.readouterr().out
    assert e.value.code == 0 and "--test-fraction" in helped and "frames per sequence" in helped
    assert cli_main(["data", "list"]) == 0
    listed = capsys.readouterr().out
    assert "moving-balls" in listed and "package mypkg 0.1" in listed

    run = tmp_path / "run"
    args = ["train", "--data", "moving-balls", "--preset", "tiny", "--epochs", "1", "--batch-size", "20"]
    args += ["--out", str(run), "--no-pictures", "--device", "cpu"]
    assert cli_main(args) == 0, capsys.readouterr().err
    assert json.loads((run / "train.json").read_text())["data"] == "moving-balls"
    assert cli_main(["eval", str(run), "--judge", "none", "--device", "cpu"]) == 0, capsys.readouterr().err
    assert (run / "metrics.json").exists()


def test_a_package_that_does_not_import_is_named(tmp_path, monkeypatch, capsys):
    site = fake_distribution(
        tmp_path / "site",
        {"broken-source": "brokenpkg.broken:SOURCE"},
        name="brokenpkg",
        files={"brokenpkg/broken.py": "import a_module_nobody_installed\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sources, "_LOADED", {})
    with pytest.raises(SourceError, match=r"failed to import.*pip install brokenpkg"):
        sources.find("broken-source")
    with pytest.raises(SystemExit) as e:  # the parser of `dsvae data broken-source` ends the command
        cli_main(["data", "broken-source", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "pip install brokenpkg" in capsys.readouterr().err
    assert cli_main(["data", "list"]) == 1  # the others are listed, the broken one named on stderr
    out = capsys.readouterr()
    assert "sprites" in out.out and "broken-source" in out.err


def test_what_a_builder_writes_is_checked(tmp_path, monkeypatch):
    code = '''
from pathlib import Path
import numpy as np
from dsvae.data import SequenceDataset
from dsvae.data.sources import Source

def frames(n=8):
    return np.zeros((n, 2, 8, 8, 3), dtype=np.uint8)

def plain(out: Path, *, n: int = 8) -> None:
    """A builder function as the entry point: a video source named by its entry point."""
    SequenceDataset.from_arrays(frames(n), labels={"a": np.arange(n) % 2}).save(out)

def nothing(out, *, n: int = 8):
    pass

def tampered(out, *, n: int = 8):
    SequenceDataset.from_arrays(frames(n)).save(out)
    np.save(Path(out) / "split.npy", np.ones(n, dtype=np.int8))

def misnamed(out, *, n: int = 8):
    SequenceDataset.from_arrays(frames(n), meta={"name": "other"}).save(out)

def vectors(out, *, n: int = 8):
    SequenceDataset.from_arrays(np.zeros((n, 2, 5), dtype=np.float32)).save(out)

def no_default(out, *, n: int):
    pass

VECTORS = Source("vectors", "video", "declares video, writes vectors", builder=vectors)
'''
    eps = {n: f"builderpkg.builders:{n}" for n in ("plain", "nothing", "tampered", "misnamed")}
    eps |= {"vectors": "builderpkg.builders:VECTORS", "no-default": "builderpkg.builders:no_default"}
    files = {"builderpkg/builders.py": code}
    site = fake_distribution(tmp_path / "site", eps, name="builderpkg", files=files)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sources, "_LOADED", {})
    monkeypatch.setattr(data_mod, "DEFAULT_DATA_ROOT", tmp_path / "data")

    ds = build_source("plain")
    assert len(ds) == 8 and ds.meta["name"] == "plain"
    assert sources.find("plain").description.startswith("A builder function as the entry point")
    for name, match in [
        ("nothing", "wrote no dataset folder"),
        ("tampered", "sha256 differ"),
        ("misnamed", "names its dataset 'other'"),
        ("vectors", "wrote vector frames"),
    ]:
        with pytest.raises(DatasetError, match=match):
            build_source(name)
        assert not (tmp_path / "data" / name).exists()  # nothing half-checked is left
    with pytest.raises(SourceError, match="has no default"):
        sources.find("no-default")


def test_a_users_source_may_declare_its_own_judge(tmp_path, monkeypatch):
    from dsvae.evaluate.judge import ShippedJudgeError, judge_sha256, shipped_judge_dir

    judge_dir = tmp_path / "judge"
    code = f"""
from pathlib import Path
import numpy as np
from dsvae.data import SequenceDataset
from dsvae.data.sources import Source

def build(out, *, n: int = 8):
    SequenceDataset.from_arrays(np.zeros((n, 2, 8, 8, 3), dtype=np.uint8)).save(out)

OWN = Source("own", "video", "with its own judge", builder=build, judge=Path({str(judge_dir)!r}))
SHIPPED = Source("shipped", "video", "scored by the synthetic judge", builder=build, judge="synthetic")
"""
    site = fake_distribution(
        tmp_path / "site",
        {"own": "judgepkg.j:OWN", "shipped": "judgepkg.j:SHIPPED"},
        name="judgepkg",
        files={"judgepkg/j.py": code},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(sources, "_LOADED", {})
    monkeypatch.setattr(data_mod, "DEFAULT_DATA_ROOT", tmp_path / "data")
    own, shipped = build_source("own"), build_source("shipped")
    assert sources.judge_for(shipped.meta) == "synthetic"
    assert sources.judge_for(own.meta) == judge_dir
    with pytest.raises(ShippedJudgeError, match="judge of data source 'own' is missing"):
        shipped_judge_dir(own)
    # an imported folder that only shares the name is not scored by the source's judge
    assert sources.judge_for({"name": "own"}) is None
    from dsvae.evaluate.judge import SHIPPED_DIR

    assert shipped_judge_dir(shipped) == SHIPPED_DIR / "synthetic"
    assert judge_sha256(SHIPPED_DIR / "synthetic")  # the shipped one is still checked as before


def test_a_source_named_like_a_builtin_is_ignored(tmp_path, monkeypatch):
    eps = {"sprites": "clashpkg:nothing", "list": "clashpkg:x"}
    site = fake_distribution(tmp_path / "site", eps, name="clashpkg")
    monkeypatch.syspath_prepend(str(site))
    with pytest.warns(UserWarning, match="name of a built-in source"):
        assert not {"sprites", "list"} & set(sources.user_source_names())
    assert sources.find("sprites") is sources.builtin("sprites")


def test_a_source_checks_its_own_fields():
    with pytest.raises(SourceError, match="kind must be one of"):
        Source("x", "audio", "")
    with pytest.raises(SourceError, match="letters, digits"):
        Source("a b", "video", "")


def test_the_user_guide_shows_the_example_file_whole():
    """docs/extending.md's code is examples/moving_balls.py, the file the tests above run."""
    page = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```\n", page, flags=re.S)
    assert (EXAMPLES / "moving_balls.py").read_text(encoding="utf-8") in blocks
    assert 'moving-balls = "moving_balls:SOURCE"' in page
