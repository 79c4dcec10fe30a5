"""The judge: learns a small labelled dataset, round-trips through its folder, refuses other data."""

import json

import numpy as np
import pytest
import torch

from dsvae.data.base import SequenceDataset
from dsvae.evaluate.judge import (
    Judge,
    JudgeConfig,
    JudgeMismatchError,
    judge_accuracy,
    judge_sha256,
    train_judge,
)

SIZE, T = 16, 4
COLORS = ["red", "green", "blue"]
MOTIONS = ["right", "left"]


def render_toy(color: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """A 4x4 square of one colour crossing the frame to the right (0) or the left (1):
    uint8 (N, T, SIZE, SIZE, 3). The motion can only be read across frames."""
    frames = np.zeros((len(color), T, SIZE, SIZE, 3), dtype=np.uint8)
    for i, (c, m) in enumerate(zip(color, motion)):
        for t in range(T):
            x0 = 2 + 3 * t if m == 0 else SIZE - 6 - 3 * t
            frames[i, t, 6:10, x0 : x0 + 4, c] = 255
    return frames


def toy_dataset(n: int = 128, labelled: bool = True, seed: int = 0) -> SequenceDataset:
    """Colour (the static attribute) and motion (the dynamic label); 'character' = the colour."""
    rng = np.random.default_rng(seed)
    color, motion = rng.integers(0, 3, n), rng.integers(0, 2, n)
    labels = {"color": color, "motion": motion} if labelled else {}
    values = {"color": COLORS, "motion": MOTIONS} if labelled else {}
    return SequenceDataset.from_arrays(
        render_toy(color, motion),
        labels,
        values,
        info={"character": color},
        meta={"name": "toy"},
        test_fraction=0.25,
        seed=seed,
    )


@pytest.fixture(scope="module")
def trained(toy_judge_trained):
    """toy_dataset() and its judge (12 epochs, conv 16-32, 32 wide), trained once per session."""
    return toy_judge_trained


def test_judge_learns_every_label(trained):
    ds, out, acc = trained
    assert set(acc) == {"color", "motion"}
    assert acc["color"] >= 0.9  # chance 1/3
    assert acc["motion"] >= 0.9  # chance 1/2: needs the LSTM across frames
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test_accuracy"] == acc
    assert saved["label_values"] == {"color": COLORS, "motion": MOTIONS}


def test_save_load_round_trip(trained):
    ds, out, acc = trained
    judge = Judge.load(out)
    assert not judge.training
    assert judge_accuracy(judge, ds.subset("test"), batch_size=7) == acc
    again = Judge.load(out)
    x = ds.normalize(ds.get_batch(np.arange(10)))
    a, b = judge(x), again(x)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((out / "metrics.json").read_text())["sha256"] == judge_sha256(out)


def test_existing_folder_needs_force(trained):
    ds, out, _ = trained
    with pytest.raises(FileExistsError, match="--force"):
        train_judge(ds, out, epochs=1)


def test_head_mismatch_is_refused(trained):
    _, out, _ = trained
    judge = Judge.load(out)
    rng = np.random.default_rng(1)
    frames = render_toy(rng.integers(0, 3, 8), rng.integers(0, 2, 8))
    other = SequenceDataset.from_arrays(
        frames, {"color": rng.integers(0, 4, 8)}, {"color": COLORS + ["black"]}
    )
    with pytest.raises(JudgeMismatchError, match="'color': the judge has 3 classes, the dataset 4") as e:
        judge.check_labels(other)
    assert "no such label" in str(e.value) and "dsvae judge train" in str(e.value)
    with pytest.raises(JudgeMismatchError, match="dataset has no such label"):
        judge.check_labels(toy_dataset(16, labelled=False))
    small = SequenceDataset.from_arrays(
        frames[:, :, :8, :8],
        {"color": np.zeros(8), "motion": np.zeros(8)},
        {"color": COLORS, "motion": MOTIONS},
    )
    with pytest.raises(JudgeMismatchError, match=r"\(T, C, H, W\)"):
        judge.check_labels(small)


def test_bad_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no labels"):
        JudgeConfig.for_dataset(toy_dataset(16, labelled=False))
    judge = Judge(JudgeConfig.for_dataset(toy_dataset(16)))
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        judge(torch.zeros(2, T, SIZE, SIZE, 3))
    with pytest.raises(FileNotFoundError, match="judge.json"):
        Judge.load(tmp_path)


def test_config_adapts_to_small_frames():
    cfg = JudgeConfig.for_dataset(toy_dataset(16))
    assert cfg.conv_channels == (32, 64, 128)  # 16 -> 2x2 after three halvings
    assert cfg.label_values == {"color": COLORS, "motion": MOTIONS}
    assert JudgeConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_cli_trains_a_judge(tmp_path, capsys):
    from dsvae.cli import main

    toy_dataset(32).save(tmp_path / "toy")
    args = ["judge", "train", "--data", str(tmp_path / "toy"), "--out", str(tmp_path / "judge")]
    assert main(args + ["--epochs", "1", "--batch-size", "8", "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy: color" in out and judge_sha256(tmp_path / "judge") in out
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_judge_scores_with_batchnorm_folded_and_says_the_same(channels_last):
    import torch

    from dsvae.evaluate.judge import SHIPPED_DIR

    judge = Judge.load(SHIPPED_DIR / "synthetic").eval()
    scorer = judge.for_scoring(channels_last)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in scorer.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in judge.modules())  # the judge itself is kept
    x = torch.rand(6, judge.config.T, judge.config.channels, judge.config.frame_size, judge.config.frame_size)
    with torch.no_grad():
        a, b = judge(x), scorer(x)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4)
        assert torch.equal(a[k].argmax(1), b[k].argmax(1))
