import json

from dsvae.bench import bench_preset, compare_losses, format_table
from dsvae.cli import main


def test_bench_reports_every_figure():
    row = bench_preset("tiny", batch_size=4, steps=2, warmup=1, device="cpu", precision="bf16")
    for key in (
        "preset",
        "batch_size",
        "plain_seq_per_s",
        "fast_seq_per_s",
        "peak_mem_mb",
        "flop_per_seq",
        "speedup",
        "fast_tflop_per_s",
        "encode_seq_per_s",
        "generate_seq_per_s",
    ):
        assert key in row, key
    assert row["plain_seq_per_s"] > 0 and row["fast_seq_per_s"] > 0
    # the flop counter sees the convolutions, the LSTMs and the affine layers of a training step
    assert 1e6 < row["flop_per_seq"] < 1e8
    assert row["fast_settings"]["precision"] == "bf16"
    assert "| tiny |" in format_table([row])


def test_compare_losses_trains_both_paths_on_the_same_batches():
    r = compare_losses("tiny", steps=12, batch_size=4, n_batches=3, device="cpu", precision="fp32")
    # fp32 on both paths: only the optimizer implementation differs, so the losses agree closely
    assert r["relative_difference"] < 1e-3


def test_bench_cli_json(capsys):
    assert (
        main(["bench", "--preset", "tiny", "--batch-size", "2", "--steps", "1", "--warmup", "0", "--json"])
        == 0
    )
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["preset"] == "tiny" and row["batch_size"] == 2
