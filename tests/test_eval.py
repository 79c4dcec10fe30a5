"""`dsvae eval`: the protocols on a run folder, wired right (an oracle model scores perfectly)."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import dsvae.run.trained as run_mod
from dsvae import DSVAE, DSVAEConfig
from dsvae.cli import main
from dsvae.evaluate.judge import Judge, JudgeConfig, JudgeMismatchError
from dsvae.evaluate.protocols import evaluate_run
from dsvae.evaluate.records import SCORING_VERSION, MetricsRecord
from dsvae.model import Encoding
from test_judge import SIZE, T, render_toy, toy_dataset

KEYS = {
    "schema",
    "scoring",
    "timings_s",
    "run",
    "model",
    "dataset",
    "judge",
    "seeds",
    "precision",
    "paper_protocol",
    "motion_scores",
    "swap",
    "reconstruction",
    "identity_eer",
    "factor_kinds",
    "factors",
    "judge_audit",
    "latents",
    "notes",
}


def make_run(root, dataset, model=None):
    """A run folder as `dsvae train` writes it (docs/CONTRACTS.md): model/, config.json, train.json."""
    data_dir = root / "data"
    dataset.save(data_dir)
    run = root / "run"
    model = model or DSVAE(DSVAEConfig.preset("tiny"))
    model.save(run / "model")
    model.config.save(run / "config.json")
    (run / "train.json").write_text(json.dumps({"data": str(data_dir)}))
    return run


@pytest.fixture(scope="module")
def toy_judge(toy_judge_trained):
    """The folder of a judge of toy_dataset() (conftest.toy_judge_trained) that reads it perfectly."""
    _, out, acc = toy_judge_trained
    assert min(acc.values()) == 1.0
    return out


class OracleDSVAE(torch.nn.Module):
    """A perfectly disentangled 'DSVAE' of the toy data: f is the colour (one-hot), every z_t the
    direction (one-hot). Decoding renders the toy video exactly."""

    config = DSVAEConfig.preset("tiny", f_dim=3, z_dim=2)

    def encode(self, x):
        color = x.sum(dim=(1, 3, 4)).argmax(dim=-1)  # (B, T, C, H, W) -> (B,)
        columns = x.sum(dim=(2, 3))  # (B, T, W)
        centre = (columns * torch.arange(SIZE)).sum(-1) / columns.sum(-1)
        motion = (centre[:, -1] < centre[:, 0]).long()
        f = torch.nn.functional.one_hot(color, 3).float()
        z = torch.nn.functional.one_hot(motion, 2).float()[:, None].expand(-1, T, -1)
        return Encoding(f, z, None, None)

    def decode(self, f, z):
        frames = render_toy(f.argmax(-1).numpy(), z[:, 0].argmax(-1).numpy())
        return torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255

    def sample_prior_f(self, batch_size):
        return torch.nn.functional.one_hot(torch.randint(0, 3, (batch_size,)), 3).float()

    def for_scoring(self, channels_last=False):
        return self  # nothing to fold: it has no layers

    def sample_prior_z(self, batch_size):
        return (
            torch.nn.functional.one_hot(torch.randint(0, 2, (batch_size,)), 2)
            .float()[:, None]
            .expand(-1, T, -1)
        )

    def forward(self, x):
        enc = self.encode(x)
        mse = (self.decode(enc.f, enc.z) - x).pow(2).flatten(1).sum(1).mean()
        return SimpleNamespace(loss=mse + 1.0, recon=mse, kl_f=torch.tensor(0.25), kl_z=torch.tensor(0.75))

    def encode_and_elbo(self, x):
        return self.encode(x), self(x)


def test_oracle_model_scores_perfectly(tmp_path, toy_judge, monkeypatch):
    run = make_run(tmp_path, toy_dataset())
    monkeypatch.setattr(run_mod, "load_model", lambda run_dir, map_location: OracleDSVAE())
    m = evaluate_run(run, toy_judge, seeds=3, batch_size=10)
    assert m["paper_protocol"]["attributes"]["color"] == {"mean": 1.0, "std": 0.0}
    assert m["paper_protocol"]["motion"] == {"mean": 1.0, "std": 0.0}
    assert m["swap"]["attributes_mean"]["mean"] == 1.0
    assert m["swap"]["motion"]["mean"] == 1.0  # b's motion, not a's
    ms = m["motion_scores"]
    assert ms["classes"] == 2 and ms["acc"]["mean"] == 1.0
    assert ms["h_y"]["mean"] == pytest.approx(math.log(2))  # class-balanced
    assert ms["is"]["mean"] == pytest.approx(2.0, abs=0.05)
    assert ms["h_yx"]["mean"] < 0.05
    r = m["reconstruction"]
    assert r["mse"] == 0.0 and r["psnr"] == pytest.approx(120.0)
    assert r["kl_f"] == pytest.approx(0.25) and r["loss"] == pytest.approx(1.0)
    # 'character' is the colour: f identifies it, z (the direction) does not
    assert m["identity_eer"]["f"] == 0.0 and m["identity_eer"]["z"] > 0.3
    # per factor: colour is static (constant per character) and follows f, the motion follows z
    assert m["factor_kinds"] == {
        "color": {"kind": "static", "rule": "identity"},
        "motion": {"kind": "dynamic", "rule": "identity"},
    }
    fa = m["factors"]
    assert fa["swap"]["color"]["f"]["mean"] == 1.0 and fa["swap"]["color"]["z"]["mean"] == 0.0
    assert fa["swap"]["motion"]["z"]["mean"] == 1.0 and fa["swap"]["motion"]["neither"]["mean"] == 0.0
    assert fa["swap_score"]["mean"] == 1.0 and fa["chance"] == {"color": 1 / 3, "motion": 0.5}
    assert fa["sample"]["color"]["f"]["mean"] == 1.0 and fa["sample"]["motion"]["z"]["mean"] == 1.0
    # the other latent drawn anew matches only by chance: the sample score lies below 1
    assert 0.2 < fa["sample_score"]["mean"] < 0.9
    audit = m["judge_audit"]["judge"]
    assert audit["real"] == {"color": 1.0, "motion": 1.0} and audit["reconstruction"] == audit["real"]
    # the oracle's code: colour one-hot in f, direction one-hot in z
    lat = m["latents"]
    assert lat["factors"] == ["color", "motion"] and lat["latent_names"] == ["f0", "f1", "f2", "z0", "z1"]
    gbt = lat["dci"]["gbt"]["f+z"]
    R = np.asarray(gbt["importance"])
    assert R[:3, 0].sum() > 0.99 and R[3:, 1].sum() > 0.99 and gbt["D"] > 0.95 and gbt["I"] == 1.0
    assert set(lat["dci"]["linear"]) == {"f", "z", "f+z"}
    probes = lat["probes"]
    assert probes["color"]["leak"]["latent"] == "z" and probes["motion"]["leak"]["latent"] == "f"
    assert probes["color"]["from_f"]["linear"] == 1.0 and probes["color"]["ceiling"] == 1.0
    assert probes["motion"]["leak"]["linear_fraction"] < 0.3
    md = (run / "metrics.md").read_text()
    for title in ("5. Which factor follows", "6. The judge audited", "DCI", "Latent map (gbt)", "Leakage"):
        assert title in md


def test_second_judge_agrees_with_the_first(tmp_path, toy_judge, monkeypatch):
    run = make_run(tmp_path, toy_dataset(64))
    monkeypatch.setattr(run_mod, "load_model", lambda run_dir, map_location: OracleDSVAE())
    m = evaluate_run(run, toy_judge, seeds=1, batch_size=16, judge2_dir=toy_judge, regressors=("linear",))
    assert m["judge2"]["sha256"] == m["judge"]["sha256"]
    assert m["judge_audit"]["agreement"] == {k: {"mean": 1.0, "std": 0.0} for k in ("color", "motion")}
    assert set(m["latents"]["dci"]) == {"linear"}
    with pytest.raises(ValueError, match="pass --judge"):
        evaluate_run(run, None, judge2_dir=toy_judge)


def test_real_run_writes_every_key(tmp_path, toy_judge):
    torch.manual_seed(0)
    run = make_run(tmp_path, toy_dataset())
    m = evaluate_run(run, toy_judge, seeds=2, batch_size=16)
    saved = json.loads((run / "metrics.json").read_text())
    assert set(saved) == KEYS and saved == json.loads(json.dumps(m))
    assert MetricsRecord.from_dict(saved).undeclared() == []  # every number is declared by a record
    assert saved["scoring"] == SCORING_VERSION  # the version of these numbers, for compare and the tables
    assert set(m["paper_protocol"]) == {"attributes", "attributes_mean", "motion"}
    assert set(m["motion_scores"]) == {"classes", "per_class", "acc", "is", "h_yx", "h_y"}
    assert set(m["swap"]) == {"attributes", "attributes_mean", "motion"}
    assert set(m["reconstruction"]) == {"mse", "psnr", "loss", "recon", "kl_f", "kl_z"}
    assert m["reconstruction"]["loss"] == pytest.approx(
        sum(m["reconstruction"][k] for k in ("recon", "kl_f", "kl_z")), rel=1e-5
    )
    assert len(m["judge"]["sha256"]) == 64
    assert set(m["identity_eer"]) == {"f", "z"}
    md = (run / "metrics.md").read_text()
    for title in ("1. Paper protocol", "2. Motion head", "3. Swap", "4. Reconstruction"):
        assert title in md
    # each part's seconds, and the evaluation time in the table
    assert {"encode and reconstruct", "judge protocols (generate and judge)", "DCI (gbt)", "probes"} <= set(
        m["timings_s"]
    )
    assert "Evaluation time:" in md
    # the same seeds give the same numbers (only the timings differ)
    again = evaluate_run(run, toy_judge, seeds=2, batch_size=16)
    assert {k: v for k, v in again.items() if k != "timings_s"} == {
        k: v for k, v in m.items() if k != "timings_s"
    }


def test_cli_prints_the_table(tmp_path, toy_judge, capsys):
    run = make_run(tmp_path, toy_dataset(48))
    assert main(["eval", str(run), "--judge", str(toy_judge), "--seeds", "1"]) == 0
    assert "## 1. Paper protocol" in capsys.readouterr().out
    # labelled data without a judge: DCI and the probes, and a note saying what a judge would add
    assert main(["eval", str(run), "--dci", "linear"]) == 0
    out = capsys.readouterr().out
    assert "no judge" in out and "DCI" in out and "Leakage probes" in out and "1. Paper" not in out


def test_unlabelled_data_gets_reconstruction_only(tmp_path):
    run = make_run(tmp_path, toy_dataset(24, labelled=False))
    m = evaluate_run(run, seeds=1)
    assert m["paper_protocol"] is None and m["motion_scores"] is None and m["swap"] is None
    assert m["latents"] is None and m["factors"] is None and m["judge_audit"] is None
    assert m["reconstruction"]["psnr"] > 0
    assert "no labels" in (run / "metrics.md").read_text()


def test_data_without_motion_label(tmp_path):
    rng = np.random.default_rng(0)
    color = rng.integers(0, 3, 24)
    ds = toy_dataset(24)
    ds = type(ds).from_arrays(
        render_toy(color, rng.integers(0, 2, 24)),
        {"color": color},
        {"color": ["red", "green", "blue"]},
        test_fraction=0.5,
    )
    Judge(JudgeConfig.for_dataset(ds)).save(tmp_path / "judge", {})
    m = evaluate_run(make_run(tmp_path, ds), tmp_path / "judge", seeds=1)
    assert m["motion_scores"] is None and "motion" not in m["swap"]
    assert set(m["paper_protocol"]) == {"attributes", "attributes_mean"}
    assert any("no 'motion' label" in note for note in m["notes"])


def test_bad_runs_are_refused(tmp_path, toy_judge):
    with pytest.raises(FileNotFoundError, match="holds no model"):
        evaluate_run(tmp_path, toy_judge)
    run = make_run(tmp_path, toy_dataset(24))
    other = tmp_path / "other"
    ds = toy_dataset(24)
    ds.label_values["motion"] = ["up", "down"]
    Judge(JudgeConfig.for_dataset(ds)).save(other, {})
    with pytest.raises(JudgeMismatchError, match="class names differ"):
        evaluate_run(run, other)


def test_a_dynamic_label_of_any_name_is_scored_as_motion(tmp_path, capsys):
    """`dsvae eval --dynamic action`: the paper protocol scores the dynamic label as the motion,
    whatever its name, and only the static labels as attributes."""
    rng = np.random.default_rng(0)
    color, action = rng.integers(0, 3, 32), rng.integers(0, 2, 32)
    ds = type(toy_dataset()).from_arrays(
        render_toy(color, action),
        {"color": color, "action": action},
        {"color": ["red", "green", "blue"], "action": ["right", "left"]},
        test_fraction=0.5,
    )
    Judge(JudgeConfig.for_dataset(ds)).save(tmp_path / "judge", {})
    run = make_run(tmp_path, ds)
    args = ["eval", str(run), "--judge", str(tmp_path / "judge"), "--seeds", "1", "--dci", "linear"]
    # without a word from the data or the user, a label not named motion is static (by name)
    assert main(args) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["factor_kinds"]["action"] == {"kind": "static", "rule": "name"}
    assert set(m["paper_protocol"]) == {"attributes", "attributes_mean"} and m["motion_scores"] is None
    assert set(m["paper_protocol"]["attributes"]) == {"color", "action"}
    capsys.readouterr()
    assert main([*args, "--dynamic", "action"]) == 0
    out = capsys.readouterr().out
    m = json.loads((run / "metrics.json").read_text())
    assert m["factor_kinds"]["action"] == {"kind": "dynamic", "rule": "given"}
    assert set(m["paper_protocol"]) == {"attributes", "attributes_mean", "motion"}
    assert set(m["paper_protocol"]["attributes"]) == {"color"}
    assert set(m["swap"]) == {"attributes", "attributes_mean", "motion"}
    assert m["motion_scores"]["classes"] == 2 and m["factors"]["home"] == {"color": "f", "action": "z"}
    assert any("dynamic label 'action'" in note for note in m["notes"])
    assert "| z fixed (posterior mean), f ~ N(0, I) | action |" in out and "action of b" in out


@pytest.mark.parametrize(
    "overrides", [{}, {"q_z": "full-no-f", "q_f": "first-frame", "z_input": "minus-first"}]
)
def test_the_first_pass_scores_as_the_separate_passes(toy_judge, overrides):
    """One pass over the test set (codes, reconstruction, ELBO, the fp32 judge audit) gives exactly
    the numbers of the separate passes it replaces: encode + decode, elbo_terms, the audit's own loop."""
    from dsvae.elbo import elbo_terms
    from dsvae.evaluate.protocols import _encode_and_reconstruct, _judge_audit

    torch.manual_seed(0)
    test = toy_dataset(40)
    model = DSVAE(DSVAEConfig.preset("tiny", **overrides)).for_scoring()
    judge = Judge.load(toy_judge).for_scoring()
    device = torch.device("cpu")
    codes, recon, counted = _encode_and_reconstruct(model, test, 16, device, {"judge": judge})
    with torch.no_grad():
        f, z, mse = [], [], []
        for pos in test.batches(16):
            x = test.model_batch(pos, device)
            enc = model.encode(x)
            mse.append((model.decode(enc.f, enc.z) - x).pow(2).flatten(1).mean(dim=1).numpy())
            f.append(enc.f.numpy())
            z.append(enc.z.numpy())
    assert np.array_equal(codes["f"], np.concatenate(f)) and np.array_equal(codes["z"], np.concatenate(z))
    assert recon["mse"] == float(np.concatenate(mse).astype(np.float64).mean())
    assert {k: recon[k] for k in ("loss", "recon", "kl_f", "kl_z")} == elbo_terms(model, test, 16, device)
    separate = _judge_audit(model, {"judge": judge}, test, codes, 16, device, "fp32")
    assert counted == separate and set(counted["judge"]) == {"real", "reconstruction"}
    # the ELBO's draws are its own (seeded): the caller's random state is left as it was
    state = torch.random.get_rng_state()
    _encode_and_reconstruct(model, test, 16, device)
    assert torch.equal(state, torch.random.get_rng_state())
