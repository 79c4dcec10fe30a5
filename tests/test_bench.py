import functools
import json

import pytest
import torch

from dsvae import bench
from dsvae.bench import bench_preset, compare_losses, format_table
from dsvae.cli import main
from dsvae.device import cpu_info, resolve_precision

needs_bf16 = pytest.mark.skipif(
    not cpu_info().bf16,
    reason=f"bf16 needs AMX or AVX-512 BF16; this CPU is {cpu_info().describe()}",
)


@pytest.fixture(autouse=True)
def smaller_peak(monkeypatch):
    """The large-matmul peak timed on 512 x 512 operands, not dsvae bench's 2048 (a 64th of the work):
    the same timing of the same kernel; what these tests check is that every figure is there."""
    monkeypatch.setattr(bench, "matmul_peak", functools.partial(bench.matmul_peak, n=512))


def test_bench_reports_every_figure():
    row = bench_preset("tiny", batch_size=4, steps=2, warmup=1, device="cpu", precision="auto")
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
    assert row["fast_settings"]["precision"] == resolve_precision("auto", torch.device("cpu"))
    # the machine is named, with its matmul peak, and the fast path's share of it
    assert row["cpu"] and row["isa"] in ("AMX", "AVX-512 BF16", "AVX-512", "AVX2", "other")
    assert row["threads"] == torch.get_num_threads()
    precision = row["fast_settings"]["precision"]
    assert row["peak_tflop_per_s"]["fp32"] > 0 and precision in row["peak_tflop_per_s"]
    assert 0 < row["fast_peak_fraction"] < 2
    table = format_table([row])
    assert "| tiny |" in table and row["isa"] in table.splitlines()[0]


@needs_bf16
def test_bench_bf16_path():
    row = bench_preset("tiny", batch_size=4, steps=2, warmup=1, device="cpu", precision="bf16")
    assert row["fast_settings"]["precision"] == "bf16"
    assert set(row["peak_tflop_per_s"]) == {"fp32", "bf16"}


def test_bench_refuses_bf16_without_hardware(monkeypatch):
    monkeypatch.setenv("DSVAE_CPU_ISA", "avx2")
    with pytest.raises(ValueError, match="no bf16 hardware"):
        bench_preset("tiny", batch_size=2, steps=1, warmup=0, device="cpu", precision="bf16")


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
    for key in ("cpu", "isa", "threads", "peak_tflop_per_s", "fast_peak_fraction", "plain_peak_fraction"):
        assert key in row, key
