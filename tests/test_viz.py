import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from conftest import moving_squares, tiny_train_config
from dsvae import viz
from dsvae.cli import main as cli_main
from dsvae.config import DSVAEConfig
from dsvae.data import SequenceDataset
from dsvae.model import DSVAE
from dsvae.run import read_log
from dsvae.train import train

LOG_HEADER = "epoch,split,loss,recon,kl_f,kl_z,seq_per_s,wall_s\n"


def tiny_train(data, out, **kw):
    """Train as `dsvae train` does: the library's train(), then the pictures of viz (the loop draws
    none)."""
    result = train(tiny_train_config(data, **kw), out)
    assert not (out / "pictures").exists()
    viz.write_run_train_pictures(out)
    return result


def evaluate(run):
    """`dsvae eval RUN` without a judge: metrics.json with the latent scores the latent map draws."""
    from dsvae.evaluate.protocols import evaluate_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_run(run, None, seeds=1, regressors=("linear",))


def write_latent_metrics(run):
    """metrics.json holding what `dsvae eval` computes of a labelled run's latents (codes.latent_scores
    on posterior means), for data that no protocol of eval takes (vectors without utterances)."""
    from dsvae.evaluate.codes import encode_means, latent_scores
    from dsvae.evaluate.factors import dataset_factor_kinds
    from dsvae.run import load_model, open_run_dataset

    model, ds = load_model(run), open_run_dataset(run)
    codes, labels = {}, {}
    for name in ("train", "test"):
        part = ds.subset(name)
        f, z = encode_means(model, part)
        codes[name] = {"f": f, "z": z.mean(axis=1)}
        labels[name] = {k: part.label_array(k) for k in part.labels}
    latents = latent_scores(
        codes["train"], labels["train"], codes["test"], labels["test"], dataset_factor_kinds(ds)[0],
        regressors=("linear",),
    )  # fmt: skip
    (run / "metrics.json").write_text(json.dumps({"latents": latents}))


@pytest.fixture(scope="module")
def run_dir(tiny_dataset_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("viz") / "run"
    tiny_train(tiny_dataset_dir, run)
    return run


def gif_frames(path) -> list[Image.Image]:
    with Image.open(path) as im:
        assert im.info["loop"] == 0
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(im)]


def test_upscale_is_exact_nearest_neighbour():
    a = np.random.default_rng(0).integers(0, 256, (2, 3, 5, 3), dtype=np.uint8)
    big = viz.upscale(a, 4)
    assert big.shape == (2, 12, 20, 3)
    ys, xs = np.meshgrid(np.arange(12), np.arange(20), indexing="ij")
    assert np.array_equal(big, a[:, ys // 4, xs // 4])
    assert viz.upscale(a, (2, 3)).shape == (2, 6, 15, 3)
    assert [viz.default_scale(s) for s in (64, 32, 16, 200)] == [2, 4, 8, 1]
    with pytest.raises(ValueError, match="positive integer"):
        viz.upscale(a, 0)


def test_to_uint8_maps_unit_floats_to_bytes_and_grey_to_rgb():
    x = torch.tensor([0.0, 0.5, 1.0, -1.0, 2.0, float("nan")]).view(1, 1, 2, 3)  # (T, C, H, W)
    out = viz.to_uint8(x)
    assert out.shape == (1, 2, 3, 3) and out.dtype == np.uint8
    assert out[0, :, :, 0].ravel().tolist() == [0, 128, 255, 0, 255, 0]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    with pytest.raises(ValueError, match=r"\(T, C, H, W\)"):
        viz.to_uint8(np.zeros((2, 4, 4, 3)))


def test_grid_cells_hold_the_exact_frames_and_labels_sit_outside_them():
    rng = np.random.default_rng(1)
    clips = [
        [viz.upscale(rng.integers(0, 256, (3, 4, 5, 3), dtype=np.uint8), 2) for _ in range(2)]
        for _ in range(2)
    ]
    clips[0][0] = None
    grid = viz.Grid(clips, "title", ["row one", "row two"], ["column one", "column two is long"], (0,), (0,))
    for t in (0, 2, None):
        img = np.asarray(viz.render(grid, t))
        lay, _ = viz.layout(grid, strips=t is None)
        assert img.shape[:2] == lay.size[::-1]
        cw, ch = lay.cell_size
        for i, row in enumerate(clips):
            for j, clip in enumerate(row):
                if clip is None:
                    continue
                x, y = lay.cells[i][j]
                want = viz.strip(clip) if t is None else clip[t]
                assert np.array_equal(img[y : y + ch, x : x + cw], want), (t, i, j)
    # a strip is the T frames side by side: a whole multiple of the frame
    assert viz.strip(clips[1][1]).shape == (8, 3 * 10, 3)
    # labels: dark text left of the cells and above them; none without labels
    img = np.asarray(viz.render(grid, 0))
    lay, _ = viz.layout(grid, strips=False)
    first_x, first_y = lay.cells[1][0]
    assert (img[first_y:, : lay.label_width] < 100).any()
    assert (img[lay.cells[0][1][1] - 14 : lay.cells[0][1][1], first_x:] < 100).any()
    bare = viz.Grid(clips, "title")
    img = np.asarray(viz.render(bare, 0))
    lay, _ = viz.layout(bare, strips=False)
    assert lay.label_width == 0
    assert (img[lay.cells[0][0][1] :, : lay.cells[1][0][0]] == 255).all()


def test_grid_refuses_mismatched_clips_and_labels():
    a, b = np.zeros((2, 4, 4, 3), np.uint8), np.zeros((2, 6, 6, 3), np.uint8)
    with pytest.raises(ValueError, match="one shape"):
        viz.Grid([[a, b]], "t")
    with pytest.raises(ValueError, match="row labels"):
        viz.Grid([[a, a]], "t", row_labels=["x", "y"])


def test_gif_has_one_frame_per_step_even_for_a_still_clip(tmp_path):
    still = np.full((5, 8, 8, 3), 90, np.uint8)
    grid = viz.Grid([[still, still]], "still")
    paths = viz.write_grid(grid, tmp_path, "still")
    assert set(paths) == {"still.png", "still.gif"}
    frames = gif_frames(paths["still.gif"])
    assert len(frames) == 5  # the title counts t, so identical frames are not merged away
    with Image.open(paths["still.gif"]) as im:
        assert im.info["duration"] == viz.FRAME_MS
    assert frames[0].size == viz.render(grid, 0).size
    with Image.open(paths["still.png"]) as im:
        assert im.size == viz.render(grid).size
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temporary files


def test_describe_names_split_number_character_and_motion():
    ds = moving_squares()
    test = ds.subset("test")
    pos = 3
    row = test.index[pos]
    char = ds.info["character"][row]
    motion = ds.label_values["motion"][ds.labels["motion"][row]]
    assert viz.describe(test, pos) == f"test #{pos} (char {char}, {motion})"
    assert viz.describe(test, pos, "f") == f"f: test #{pos} (char {char})"
    assert viz.describe(test, pos, "z") == f"z: test #{pos} ({motion})"
    assert viz.describe(ds, row) == f"test #{pos} (char {char}, {motion})"  # numbered within its split
    plain = SequenceDataset.from_arrays(np.zeros((4, 2, 4, 4, 3), np.uint8), test_fraction=0.0)
    assert viz.describe(plain, 2, "f") == "f: train #2"


def test_pick_prefers_distinct_values_then_fills_up():
    test = moving_squares().subset("test")
    chars = test.info_array("character")
    three = viz.pick(test, 3, np.random.default_rng(0), viz.STATIC_KEYS)
    assert len(set(chars[three])) == 3
    five = viz.pick(test, 5, np.random.default_rng(0), viz.STATIC_KEYS, exclude=three[:1])
    assert len(set(five)) == 5 and three[0] not in five
    assert len(viz.pick(test, 1000, np.random.default_rng(0), viz.STATIC_KEYS)) == len(test)


def test_write_train_pictures_recon_and_swap(tmp_path):
    test = moving_squares().subset("test")
    model = DSVAE(DSVAEConfig.preset("tiny"))
    model.train()
    paths = viz.write_train_pictures(model, test, tmp_path, n=6)
    assert model.training  # the caller's mode is restored
    assert set(paths) == {"recon.png", "recon.gif", "swap.png", "swap.gif"}
    cell = 16 * viz.default_scale(16)
    for name in ("recon", "swap"):
        frames = gif_frames(paths[f"{name}.gif"])
        assert len(frames) == test.T
        assert frames[0].size[0] >= 6 // (2 if name == "swap" else 1) * cell
    with Image.open(paths["recon.png"]) as im:  # each of 6 sequences: original strip above its reconstruction
        assert im.size[0] >= test.T * cell and im.size[1] >= 12 * cell
    with Image.open(paths["swap.png"]) as im:  # 3 pairs of a, b, two swaps
        assert im.size[1] >= 12 * cell
    wrong = DSVAE(DSVAEConfig.preset("tiny", T=3))
    with pytest.raises(ValueError, match="trained on"):
        viz.write_train_pictures(wrong, test, tmp_path)


def test_training_ends_with_its_pictures(tiny_dataset_dir, tmp_path, capsys):
    """`dsvae train` draws the reconstructions and swaps after training; the library's train() does not."""
    args = ["train", "--data", str(tiny_dataset_dir), "--preset", "tiny", "--epochs", "1", "--batch-size"]
    args += ["10", "--device", "cpu", "--precision", "fp32", "--no-progress", "--out", str(tmp_path / "run")]
    assert cli_main(args) == 0
    for name in ("recon.png", "recon.gif", "swap.png", "swap.gif"):
        assert (tmp_path / "run" / "pictures" / name).exists(), name
    assert cli_main([*args[:-1], str(tmp_path / "bare"), "--no-pictures"]) == 0
    assert not (tmp_path / "bare" / "pictures").exists()
    train(tiny_train_config(tiny_dataset_dir, epochs=1, pictures=True), tmp_path / "lib")
    assert not (tmp_path / "lib" / "pictures").exists()


def test_visualize_run_writes_every_picture(run_dir, tmp_path):
    # before `dsvae eval`: every picture but the latent ones, and a line saying to evaluate first
    with pytest.warns(UserWarning, match=r"no metrics.json yet; run `dsvae eval"):
        paths = viz.visualize_run(run_dir, tmp_path / "before", n_rows=1, n_cols=1, k=1)
    assert set(paths) == set(viz.PICTURES)
    evaluate(run_dir)
    paths = viz.visualize_run(run_dir, tmp_path, n_rows=2, n_cols=3, k=3)
    latent = {"latent_map.png", *(f"traverse_{f}.{e}" for f in ("colour", "motion") for e in ("gif", "png"))}
    assert set(paths) == set(viz.PICTURES) | latent  # metrics.json without a judge: no factor_scores.png
    assert all(p.exists() and p.parent == tmp_path for p in paths.values())
    cell = 16 * viz.default_scale(16)
    for name in ("swap_matrix", "fixed_f", "fixed_z", "interpolate_f"):
        assert len(gif_frames(paths[f"{name}.gif"])) == 4  # T of the tiny data
    frame = gif_frames(paths["swap_matrix.gif"])[0]
    assert frame.size[0] >= 4 * cell and frame.size[1] >= 3 * cell  # sources + 3 columns, sources + 2 rows
    with Image.open(paths["swap_matrix.png"]) as im:
        assert im.size[0] >= 4 * 4 * cell  # four columns of 4-frame strips
    with Image.open(paths["interpolate_f.png"]) as im:  # 2 pairs: a, 3 mixes, b each
        assert im.size[1] >= 2 * 5 * cell


def test_prior_draws_are_seeded_and_leave_the_global_rng_alone(run_dir, tmp_path):
    from dsvae.run import load_model, open_run_dataset

    model = load_model(run_dir)
    test = open_run_dataset(run_dir).subset("test")
    cpu = torch.device("cpu")
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    a = viz.fixed_part(model, test, tmp_path / "a", "f", 2, 3, seed=1, device=cpu)
    assert torch.equal(torch.rand(3), expected)
    b = viz.fixed_part(model, test, tmp_path / "b", "f", 2, 3, seed=1, device=cpu)
    c = viz.fixed_part(model, test, tmp_path / "c", "f", 2, 3, seed=2, device=cpu)
    assert a["fixed_f.png"].read_bytes() == b["fixed_f.png"].read_bytes()
    assert a["fixed_f.png"].read_bytes() != c["fixed_f.png"].read_bytes()


def test_curves_from_a_log_csv(tmp_path):
    (tmp_path / "log.csv").write_text(
        LOG_HEADER
        + "".join(
            f"{e},{s},{loss * m},{loss * m * 0.9},{kf * m},{kz * m},10,1\n"
            for e, loss, kf, kz in ((1, 1000, 1.0, 5.0), (2, 100, 2.0, 6.0), (3, 10, 3.0, 7.0))
            for s, m in (("train", 1.0), ("test", 1.5))
        )
        + "4,test,nan,nan,nan,nan,10,1\n"  # a diverged epoch is left out
    )
    rows = read_log(tmp_path)
    fig = viz.curves_figure(rows)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "loss (-ELBO) (log scale)",
        "recon (log scale)",
        "KL_f",
        "KL_z",
    ]
    assert [ax.get_yscale() for ax in axes] == ["log", "log", "linear", "linear"]
    for ax, key in zip(axes, viz.CURVE_TERMS):
        train, test = ax.get_lines()
        assert train.get_label() == "train" and test.get_label() == "test"
        assert list(train.get_xdata()) == [1, 2, 3] and list(test.get_xdata()) == [1, 2, 3]
        expected = [r[key] for r in rows if r["split"] == "test" and r["epoch"] < 4]
        assert list(test.get_ydata()) == pytest.approx(expected)
    assert viz.curves_figure(rows, log_scale=False).axes[0].get_yscale() == "linear"
    path = viz.plot_curves(rows, tmp_path / "curves.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 400
    with pytest.raises(ValueError, match="log.csv"):
        viz.plot_curves([], tmp_path / "none.png")


def test_latent_map_and_factor_scores_figures(tmp_path):
    R = np.array([[0.9, 0.0], [0.1, 0.0], [0.0, 2.0]])  # f0, f1 hold the colour, z0 the motion
    fig = viz.latent_map_figure(R, ["colour", "motion"], ["f0", "f1", "z0"], "map")
    share = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_allclose(np.asarray(share), [[0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["colour", "motion"]
    with pytest.raises(ValueError, match="dimensions, factors"):
        viz.latent_map_figure(R.T, ["colour", "motion"], ["f0", "f1", "z0"], "map")
    ms = {"mean": 0.5, "std": 0.1}
    factors = {
        "swap": {k: {"f": ms, "z": ms, "neither": ms} for k in ("colour", "motion")},
        "sample": {k: {"f": ms, "z": ms} for k in ("colour", "motion")},
        "swap_score": ms,
        "sample_score": ms,
        "chance": {"colour": 1 / 3, "motion": 0.25},
        "home": {"colour": "f", "motion": "z"},
    }
    kinds = {"colour": {"kind": "static"}, "motion": {"kind": "dynamic"}}
    fig = viz.factor_scores_figure(factors, kinds)
    swap_ax, sample_ax = fig.axes
    assert len(swap_ax.patches) == 2 * 3 and len(sample_ax.patches) == 2 * 2
    assert "colour\n(static: f)" in [t.get_text() for t in swap_ax.get_xticklabels()]
    assert viz.save_figure(fig, tmp_path / "bars.png").exists()


def test_heatmap_puts_time_right_and_the_first_feature_at_the_bottom():
    seq = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]], np.float32)  # (T=2, D=3)
    img = viz.heatmap(seq, (0.0, 1.0))
    assert img.shape == (3, 2, 3)
    lowest, middle, highest = (viz.colormap(v).tolist() for v in (0.0, 0.5, 1.0))  # matplotlib's
    assert img[2, 0].tolist() == lowest and img[2, 1].tolist() == highest
    assert img[1, 0].tolist() == highest
    assert img[0, 0].tolist() == middle


@pytest.fixture(scope="module")
def vector_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    rng = np.random.default_rng(0)
    speaker = rng.integers(0, 3, 40)
    frames = (rng.normal(size=(40, 4, 6)) + speaker[:, None, None]).astype(np.float32)
    SequenceDataset.from_arrays(
        frames,
        labels={"speaker": speaker},
        label_values={"speaker": ["ann", "bob", "cy"]},
        test_fraction=0.25,
    ).save(root / "data")
    small = dict(mlp_hidden=[16], feature_dim=16, f_dim=8, z_dim=4, hidden_dim=16, factorized_hidden=16)
    tiny_train(root / "data", root / "run", epochs=1, preset="speech", model_overrides=small)
    write_latent_metrics(root / "run")
    return root / "run"


def test_vector_run_gets_spectrograms_and_says_what_is_missing(vector_run, tmp_path, monkeypatch):
    assert {"recon.png", "swap.png"} <= {p.name for p in (vector_run / "pictures").iterdir()}
    with pytest.warns(UserWarning, match="voice conversion"):  # no recordings of speakers to convert
        paths = viz.visualize_run(vector_run, tmp_path / "a")
    # traversals of sound: spectrogram rows (PNG), no GIF of one-frame clips
    assert set(paths) == {"curves.png", "recon.png", "swap.png", "latent_map.png", "traverse_speaker.png"}
    with Image.open(paths["traverse_speaker.png"]) as im:
        assert im.size[1] >= 2 * 6 * viz.default_scale(6)  # two dimensions of the (D=6)-tall heatmaps
    with Image.open(paths["swap.png"]) as im:
        assert im.size[1] >= 4 * 6 * viz.default_scale(6)  # 4 rows of the (D=6)-tall heatmaps per pair

    calls = []

    def voice_conversion(run, out_dir, device):
        calls.append((run.path, out_dir))  # the run as visualize_run opened it
        return {"converted.wav": out_dir / "converted.wav"}

    monkeypatch.setattr(viz.run_pictures, "voice_conversion", voice_conversion)
    paths = viz.visualize_run(vector_run, tmp_path / "b")
    assert calls == [(vector_run, tmp_path / "b" / "voice")] and "voice/converted.wav" in paths

    def not_speech(run, out_dir, device):
        raise ValueError("the dataset has no 'utterance' column")

    monkeypatch.setattr(viz.run_pictures, "voice_conversion", not_speech)
    with pytest.warns(UserWarning, match="no 'utterance' column"):
        assert "curves.png" in viz.visualize_run(vector_run, tmp_path / "c")


def test_cli_viz(run_dir, tmp_path, capsys):
    out = tmp_path / "pics"
    assert (
        cli_main(
            [
                "viz",
                str(run_dir),
                "--out",
                str(out),
                "--rows",
                "2",
                "--cols",
                "2",
                "--k",
                "2",
                "--device",
                "cpu",
                "--linear",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.split()
    assert (out / "swap_matrix.gif").exists() and str(out / "swap_matrix.gif") in printed
    assert cli_main(["viz", str(tmp_path / "missing")]) == 2
    assert "no run folder" in capsys.readouterr().err
