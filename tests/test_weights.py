"""The one saved-network format (config JSON, safetensors, checksums.json; atomic) of the model, the
judge and the checkpoint's model part: written, read back, and a damaged folder refused naming the file."""

import json

import pytest
import torch
from torch import nn

from dsvae._io import CHECKSUMS, DamagedFileError
from dsvae.weights import WEIGHTS, load_network, save_network, weights_bytes


def build(doc: dict) -> nn.Module:
    return nn.Linear(doc["n_in"], doc["n_out"])


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    return net, save_network(tmp_path / "net", net, {"n_in": 3, "n_out": 2}, "net.json")


def test_a_saved_network_is_three_files_and_reads_back(saved):
    net, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == sorted([CHECKSUMS, "net.json", WEIGHTS])
    recorded = json.loads((folder / CHECKSUMS).read_text())["sha256"]
    assert set(recorded) == {"net.json", WEIGHTS}
    back = load_network(folder, build, "net.json")
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
    # the same weights give the same bytes (a checkpoint is compared byte for byte)
    assert (folder / WEIGHTS).read_bytes() == weights_bytes(back)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_a_damaged_weights_file_is_refused_naming_it(saved):
    _, folder = saved
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(
        DamagedFileError, match=rf"{folder / WEIGHTS} is damaged: its sha256 differs.*; retrain"
    ):
        load_network(folder, build, "net.json", remedy="retrain")


def test_a_truncated_file_without_checksums_is_unreadable(saved):
    _, folder = saved
    (folder / CHECKSUMS).unlink()  # as a folder saved before checksums were recorded
    (folder / WEIGHTS).write_bytes((folder / WEIGHTS).read_bytes()[:20])
    with pytest.raises(DamagedFileError, match=r"is unreadable \(truncated or damaged\?\)"):
        load_network(folder, build, "net.json")


def test_a_config_that_does_not_fit_the_weights_says_so(saved):
    _, folder = saved
    (folder / "net.json").write_text(json.dumps({"n_in": 4, "n_out": 2}))
    (folder / CHECKSUMS).unlink()
    with pytest.raises(DamagedFileError, match=r"net.json does not match .*model.safetensors.*; restore it"):
        load_network(folder, build, "net.json", mismatch="restore it", remedy="retrain")
    (folder / "net.json").write_text("{not json")
    with pytest.raises(DamagedFileError, match=r"net.json is unreadable"):
        load_network(folder, build, "net.json")


def test_a_missing_file_names_what_the_folder_holds(saved):
    _, folder = saved
    (folder / WEIGHTS).unlink()
    with pytest.raises(
        FileNotFoundError, match=r"a net folder holds net.json and model.safetensors \(save it\)"
    ):
        load_network(folder, build, "net.json", kind="a net folder", made_by="save it")


def test_the_model_and_the_judge_share_the_format(tmp_path):
    from dsvae.config import DSVAEConfig
    from dsvae.evaluate.judge import Judge, JudgeConfig
    from dsvae.model import DSVAE

    model = DSVAE(DSVAEConfig.preset("tiny"))
    model.save(tmp_path / "model")
    assert (tmp_path / "model" / WEIGHTS).read_bytes() == weights_bytes(model)
    config = JudgeConfig(channels=3, frame_size=16, T=4, label_values={"c": ["a", "b"]}, conv_channels=(4,))
    judge = Judge(config)
    judge.save(tmp_path / "judge", {"test_accuracy": {"c": 1.0}})
    folder = tmp_path / "judge"
    recorded = json.loads((folder / CHECKSUMS).read_text())["sha256"]
    assert set(recorded) == {"judge.json", WEIGHTS}
    # metrics.json keeps the weights' sha256: the judge's identity that reports quote
    assert json.loads((folder / "metrics.json").read_text())["sha256"] == recorded[WEIGHTS]
    Judge.load(folder)
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="is damaged.*dsvae judge train"):
        Judge.load(folder)
    # a judge saved before checksums.json: checked against the sha256 metrics.json recorded
    (folder / CHECKSUMS).unlink()
    with pytest.raises(DamagedFileError, match="recorded in .*metrics.json"):
        Judge.load(folder)
