"""What later stages say about a run folder: the judge they score with, the scores they keep, a run
that has not finished, a run that has no checkpoint yet, and runs scored by different judges."""

import json
import shutil

import pytest

from dsvae.cli import main
from dsvae.evaluate.compare import compare_runs
from dsvae.evaluate.protocols import evaluate_run
from dsvae.run import model_dir
from test_eval import make_run, toy_judge  # noqa: F401  (toy_judge is a fixture)
from test_judge import toy_dataset


def test_eval_keeps_the_scores_of_another_judge(tmp_path, toy_judge, capsys):  # noqa: F811
    run = make_run(tmp_path, toy_dataset())
    assert main(["eval", str(run), "--judge", str(toy_judge), "--seeds", "1", "--dci", "linear"]) == 0
    judged = json.loads((run / "metrics.json").read_text())
    kept = run / f"metrics-judge-{judged['judge']['sha256'][:12]}.json"
    with pytest.warns(UserWarning, match=f"kept as {kept.name}"):
        assert main(["eval", str(run), "--judge", "none", "--seeds", "1", "--dci", "linear"]) == 0
    assert json.loads(kept.read_text()) == judged  # nothing lost
    assert kept.with_suffix(".md").exists()
    assert json.loads((run / "metrics.json").read_text())["judge"] is None
    # the same judge again: replaced, and said
    with pytest.warns(UserWarning, match="replaced the earlier scores"):
        assert main(["eval", str(run), "--judge", "none", "--seeds", "1", "--dci", "linear"]) == 0


def test_an_unfinished_run_is_scored_at_its_last_checkpoint_and_says_so(tmp_path, tiny_dataset_dir):
    from conftest import tiny_train_config
    from dsvae.train import train

    run = tmp_path / "run"
    train(tiny_train_config(tiny_dataset_dir, epochs=3, max_steps=8), run)  # 6 steps an epoch
    assert not (run / "model").exists()
    with pytest.warns(UserWarning, match=r"has not finished training \(epoch 1 of 3, step 8\)"):
        metrics = evaluate_run(run, None, seeds=1, regressors=["linear"], device="cpu")
    assert metrics["model"] == {
        "source": "checkpoints/last",
        "finished": False,
        "epoch": 1,
        "step": 8,
        "epochs": 3,
    }


def test_a_run_without_a_checkpoint_yet_is_named_as_such(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.json").write_text(json.dumps({"data": "synthetic", "epochs": 3}))
    with pytest.raises(FileNotFoundError, match="still in its first epoch"):
        model_dir(run)
    assert main(["viz", str(run)]) == 2
    assert "without a checkpoint yet" in capsys.readouterr().err


def test_compare_refuses_runs_scored_by_different_judges(tmp_path, toy_judge):  # noqa: F811
    run = make_run(tmp_path, toy_dataset())
    evaluate_run(run, toy_judge, seeds=1, regressors=["linear"], device="cpu")
    other = tmp_path / "other"
    shutil.copytree(run, other)
    evaluate_run(other, None, seeds=1, regressors=["linear"], device="cpu")
    with pytest.raises(ValueError, match="scored by different judges"):
        compare_runs([run, other])
    assert compare_runs([run, run])["runs"]
