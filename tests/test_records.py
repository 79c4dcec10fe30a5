"""metrics.json's records (dsvae.evaluate.records): the scores they declare are the scores compare
took before they existed, files of the previous format (no schema) load, and a key no record
declares is never a score."""

import copy
import json
from pathlib import Path

import pytest

from dsvae.evaluate.compare import HEADLINE, compare_runs
from dsvae.evaluate.records import (
    FRACTION,
    SCHEMA_VERSION,
    MetricsRecord,
    Score,
    UserMetricRecord,
    headline,
    score_of,
)
from dsvae.report import build_report

DOCS_RUNS = Path(__file__).resolve().parents[1] / "docs" / "runs"

# compare's rule before the records (dsvae 274bdd7), kept here as the reference: every number of
# metrics.json except these keys
OLD_NOT_SCORES_TOP = {"run", "kind", "dataset", "judge", "judge2", "seeds", "precision", "notes", "timings_s"}
OLD_NOT_SCORES = {
    "notes", "paper_timit_eer", "factor_kinds", "pairs", "chance", "home", "importance", "D_i",
    "latent_names", "factors.chance", "skipped", "train_sequences", "regressor", "classes",
    "per_class", "latent", "ceiling",
}  # fmt: skip


def old_scores(node, prefix="", out=None) -> dict:
    out = {} if out is None else out
    if isinstance(node, dict):
        if set(node) == {"mean", "std"}:
            node = node["mean"]
        else:
            for k, v in node.items():
                key = f"{prefix}{k}"
                if k not in OLD_NOT_SCORES and key not in OLD_NOT_SCORES and key not in OLD_NOT_SCORES_TOP:
                    old_scores(v, key + ".", out)
            return out
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        out[prefix.rstrip(".")] = float(node)
    return out


def ms(v: float) -> dict:
    return {"mean": v, "std": 0.01}


def dci(factors) -> dict:
    return {
        "regressor": "linear",
        "factors": factors,
        "importance": [[0.5, 0.5]],
        "D": 0.4,
        "D_i": [0.1],
        "C": 0.3,
        "C_j": {k: 0.3 for k in factors},
        "I": 0.9,
        "I_j": {k: 0.9 for k in factors},
        "chance": {k: 0.5 for k in factors},
    }


def probes(factors) -> dict:
    return {
        k: {
            "kind": "static",
            "chance": 0.5,
            "ceiling": 1.0,
            "from_f": {"linear": 0.9, "mlp": 0.95},
            "from_z": {"linear": 0.6, "mlp": 0.55},
            "leak": {"latent": "z", "linear": 0.6, "mlp": 0.55, "linear_fraction": 0.2, "mlp_fraction": None},
        }
        for k in factors
    }


# a video run's metrics.json of the previous format (no schema), every section as `dsvae eval`
# writes it with two judges
VIDEO_V1 = {
    "run": "runs/s0",
    "dataset": {"name": "sprites", "test_sequences": 100, "labels": {"skin": 6, "motion": 9}},
    "model": {"source": "model", "finished": True, "epoch": 30, "step": 4890, "epochs": 30},
    "judge": {"dir": "j", "sha256": "ab" * 32, "test_accuracy": {"skin": 1.0}},
    "judge2": {"dir": "j2", "sha256": "cd" * 32, "test_accuracy": {"skin": 1.0}},
    "seeds": 3,
    "precision": "bf16",
    "paper_protocol": {"attributes": {"skin": ms(0.9)}, "attributes_mean": ms(0.9), "motion": ms(0.8)},
    "motion_scores": {
        "classes": 9,
        "per_class": 10,
        "acc": ms(0.8),
        "is": ms(7.0),
        "h_yx": ms(0.1),
        "h_y": ms(2.1),
    },
    "swap": {"attributes": {"skin": ms(0.7)}, "attributes_mean": ms(0.7), "motion": ms(0.6)},
    "reconstruction": {"mse": 0.01, "psnr": 20.0, "loss": 100.0, "recon": 90.0, "kl_f": 4.0, "kl_z": 6.0},
    "identity_eer": {"f": 0.05, "z": 0.4},
    "factor_kinds": {
        "skin": {"kind": "static", "rule": "declared"},
        "motion": {"kind": "dynamic", "rule": "x"},
    },
    "factors": {
        "swap": {"skin": {"f": ms(0.7), "z": ms(0.2), "neither": ms(0.1)}},
        "sample": {"skin": {"f": ms(0.9), "z": ms(0.2)}},
        "swap_score": ms(0.5),
        "sample_score": ms(0.6),
        "chance": {"skin": 1 / 6},
        "home": {"skin": "f"},
    },
    "judge_audit": {
        "judge": {"real": {"skin": 1.0}, "reconstruction": {"skin": 0.9}},
        "judge2": {"real": {"skin": 1.0}, "reconstruction": {"skin": 0.8}},
        "agreement": {"skin": ms(0.95)},
    },
    "latents": {
        "factors": ["skin", "motion"],
        "latent_names": ["f0", "z0"],
        "dci": {
            "gbt": {"f+z": dci(["skin", "motion"])},
            "linear": {c: dci(["skin", "motion"]) for c in ("f", "z", "f+z")},
        },
        "probes": probes(["skin", "motion"]),
        "skipped": {"hat": "one class only in the training split"},
        "train_sequences": 1000,
    },
    "notes": ["a note"],
    "timings_s": {"encode and reconstruct": 3.0},
}
SPEECH_V1 = {
    "run": "runs/fsdd",
    "model": {"source": "model", "finished": True, "epoch": 30, "step": 4890, "epochs": 30},
    "kind": "speech",
    "dataset": {"name": "fsdd", "test_segments": 10, "test_utterances": 5, "train_utterances": 20},
    "speaker_eer": {"f": 0.07, "z": 0.3},
    "pairs": {"same": 10, "different": 90},
    "probe": {"speaker": {"f": 0.99, "z": 0.4, "chance": 0.2}},
    "factor_kinds": {"speaker": {"kind": "static", "rule": "declared"}},
    "latents": {
        "factors": ["speaker"],
        "latent_names": ["f0"],
        "dci": None,
        "probes": probes(["speaker"]),
        "skipped": {},
    },
    "reconstruction": {"loss": 1.0, "recon": 0.5, "kl_f": 0.2, "kl_z": 0.3, "mse": 0.4},
    "paper_timit_eer": {"DSVAE": {"f": 0.0564, "z": 0.192}},
    "notes": [],
}


@pytest.mark.parametrize("doc", [VIDEO_V1, SPEECH_V1], ids=["video", "speech"])
def test_the_records_score_what_compare_scored_before(doc):
    record = MetricsRecord.from_dict(doc)
    assert record.schema == 1 and record.undeclared() == []
    before = {k: v for k, v in old_scores(doc).items() if not k.startswith("model.")}
    assert record.scores() == before  # the same keys and numbers; which checkpoint is no score
    assert "model.step" in old_scores(doc) and "model.step" not in record.scores()
    assert record.to_dict() == {"schema": SCHEMA_VERSION, **doc}  # read back as it was


def test_every_recorded_runs_score_is_declared():
    """docs/runs/*/compare.json hold every score `dsvae compare` took from the recorded runs: each is
    a score of the records (the model's epoch and step were provenance all along)."""
    keys = {k for p in DOCS_RUNS.glob("*/compare.json") for k in json.loads(p.read_text())["scores"]}
    assert len(keys) > 200
    assert sorted(k for k in keys if score_of(k) is None) == ["model.epoch", "model.epochs", "model.step"]


def test_headline_directions_and_units():
    assert HEADLINE == headline()
    assert list(HEADLINE)[:3] == ["motion_scores.acc", "motion_scores.is", "paper_protocol.attributes_mean"]
    assert list(HEADLINE)[-1] == "train_minutes" and HEADLINE["latents.dci.gbt.f+z.D"] == "D (gbt)"
    assert score_of("speaker_eer.f") == Score(
        "lower", FRACTION, "speaker EER f", "speaker verification with f"
    )
    assert score_of("speaker_eer.z").direction == "higher"
    assert score_of("reconstruction.psnr").unit == "dB" and score_of("reconstruction.kl_f").direction is None
    assert score_of("latents.probes.digit.leak.linear").direction == "lower"
    assert score_of("latents.dci.linear.f.C_j.digit").unit == ""
    assert score_of("factors.chance.skin") is None and score_of("latents.train_sequences") is None
    assert score_of("no_such_section.x") is None


def test_a_new_key_is_no_score_until_its_record_says_so(tmp_path):
    doc = copy.deepcopy(VIDEO_V1)
    doc["reconstruction"]["ssim"] = 0.9  # a key some later protocol adds without declaring it
    doc["brand_new_section"] = {"x": 1.0}
    record = MetricsRecord.from_dict(doc)
    assert "reconstruction.ssim" not in record.scores() and "brand_new_section.x" not in record.scores()
    assert record.undeclared() == ["reconstruction.ssim", "brand_new_section.x"]
    assert record.to_dict()["brand_new_section"] == {"x": 1.0}  # kept, shown, not compared


def test_a_previous_format_file_loads_compares_and_reports(tmp_path):
    runs = []
    for i in range(2):
        run = tmp_path / f"s{i}"
        run.mkdir()
        doc = copy.deepcopy(VIDEO_V1)
        doc["reconstruction"]["psnr"] = 20.0 + i
        (run / "metrics.json").write_text(json.dumps(doc))
        (run / "config.json").write_text("{}")
        runs.append(run)
    result = compare_runs(runs)
    psnr = result["scores"]["reconstruction.psnr"]
    assert psnr["per_run"] == [20.0, 21.0] and (psnr["direction"], psnr["unit"]) == ("higher", "dB")
    assert "model.step" not in result["scores"]
    page = build_report(runs[0]).read_text()  # no metrics.md: the records' table of metrics.json
    assert '<td class="key">reconstruction.psnr</td><td>20</td><td>dB</td><td>higher</td>' in page
    assert '<td class="key">model.step</td><td>4890</td>' in page  # shown among the rest


def test_schema_versions_and_user_records():
    with pytest.raises(ValueError, match="update dsvae"):
        MetricsRecord.from_dict({"schema": SCHEMA_VERSION + 1})
    user = UserMetricRecord(
        "au",
        {"f": 3.0, "z": None},
        {"f": Score("higher", "dims"), "z": Score("higher", "dims")},
        "codes",
        {"kind": "file"},
    )
    doc = {"schema": 2, "run": "r", "user_metrics": {"au": user.to_dict()}}
    record = MetricsRecord.from_dict(doc)
    assert record.to_dict() == doc and record.user_metrics["au"] == user
    assert record.scores() == {"user_metrics.au.f": 3.0}  # an undefined score is none
    assert record.declarations()["user_metrics.au.f"].unit == "dims"
    with pytest.raises(ValueError, match="user_metrics.bad"):
        MetricsRecord.from_dict({"user_metrics": {"bad": 1.0}})
