"""The judges that ship with dsvae: present, small, the hashes the README quotes, checked on load,
the default of `dsvae eval` for their data, and right on the real test sequences."""

import shutil

import pytest

from dsvae.data.base import SequenceDataset
from dsvae.evaluate import judge as judge_module
from dsvae.evaluate.judge import (
    SHIPPED_DIR,
    SHIPPED_JUDGES,
    Judge,
    ShippedJudgeError,
    judge_accuracy,
    judge_sha256,
    read_judge_metrics,
    shipped_judge_dir,
)


@pytest.mark.parametrize("name", sorted(SHIPPED_JUDGES))
def test_shipped_judges_are_there_small_and_what_the_readme_quotes(name):
    directory = SHIPPED_DIR / name
    assert judge_sha256(directory) == SHIPPED_JUDGES[name]
    assert (directory / "model.safetensors").stat().st_size < 16 * 2**20
    assert min(read_judge_metrics(directory)["test_accuracy"].values()) == 1.0
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert SHIPPED_JUDGES[name] in readme


def test_the_embedded_data_gets_its_shipped_judge_and_it_reads_every_test_sequence(synthetic):
    dataset = synthetic  # open_dataset("synthetic")
    directory = shipped_judge_dir(dataset)
    assert directory == SHIPPED_DIR / "synthetic"
    judge = Judge.load(directory)
    judge.check_labels(dataset.subset("test"))
    acc = judge_accuracy(judge, dataset.subset("test"), batch_size=256, device="cpu", precision="fp32")
    assert min(acc.values()) == 1.0, acc


def test_other_data_gets_no_shipped_judge(tiny_dataset_dir):
    assert shipped_judge_dir(SequenceDataset.open(tiny_dataset_dir)) is None


def test_an_altered_shipped_judge_is_refused(tmp_path, monkeypatch, synthetic):
    copy = tmp_path / "judges"
    shutil.copytree(SHIPPED_DIR, copy)
    weights = copy / "synthetic" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(judge_module, "SHIPPED_DIR", copy)
    with pytest.raises(ShippedJudgeError, match="altered or damaged. Reinstall dsvae"):
        shipped_judge_dir(synthetic)
    weights.unlink()
    with pytest.raises(ShippedJudgeError, match="missing"):
        shipped_judge_dir(synthetic)


def test_the_shipped_sprites_judge_reads_the_real_test_set(sprites_built):
    dataset = sprites_built[0]
    assert shipped_judge_dir(dataset) == SHIPPED_DIR / "sprites"
    judge = Judge.load(SHIPPED_DIR / "sprites")
    test = dataset.subset("test")
    sample = test.subset(range(0, len(test), 4))  # 666 of the 2664 sequences, every motion
    acc = judge_accuracy(judge, sample, batch_size=128, device="cpu", precision="fp32")
    assert min(acc.values()) == 1.0, acc
