"""benchmarks/gpu_paper.sh: the one-call GPU reproduction stays runnable (its full CPU dry run, with
the tiny preset, is the command in its header), and its default recipe is the paper's model."""

import subprocess
from pathlib import Path

from dsvae.cli import build_parser, train_config_from_args
from dsvae.recipes import load_recipe

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_paper.sh"


def test_the_script_is_valid_bash():
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_paper_fast_is_the_paper_preset_on_its_own_schedule_and_paper_the_seed_schedule():
    fast, paper = load_recipe("paper-fast"), load_recipe("paper")
    assert fast.train["preset"] == paper.train["preset"] == "paper" and fast.model == paper.model == {}
    assert fast.train["kl_warmup_steps"] > 0 and fast.train["lr_decay_steps"] > 0
    assert "RECIPE=${1:-paper-fast}" in SCRIPT.read_text()
    # what the script trains: the recipe with the data, device and extra options it adds
    args = build_parser().parse_args(
        ["train", "--recipe", "paper-fast", "--data", "build/sprites", "--device", "cuda", "--no-pictures"]
    )
    tc, _ = train_config_from_args(args)
    assert (tc.preset, tc.device, tc.pictures, tc.epochs) == ("paper", "cuda", False, fast.train["epochs"])
