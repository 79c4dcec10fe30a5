"""The device and precision policy: bf16 only where the hardware has it, refused with advice
elsewhere; the instruction set capped by the variables that cap oneDNN and PyTorch's kernels."""

import io

import pytest
import torch

from dsvae.cli import main
from dsvae.device import (
    PrecisionUnavailable,
    autocast,
    cpu_info,
    resolve_device,
    resolve_precision,
)
from dsvae.progress import LineBar, progress

CPU = torch.device("cpu")


@pytest.fixture
def avx2_cpu(monkeypatch):
    """A CPU without bf16 hardware, as seen by the policy."""
    monkeypatch.setenv("DSVAE_CPU_ISA", "avx2")


def test_without_bf16_hardware_auto_is_fp32_and_bf16_is_refused(avx2_cpu):
    info = cpu_info()
    assert info.isa == "AVX2" and not info.bf16
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("fp32", CPU) == "fp32"
    with pytest.raises(PrecisionUnavailable) as e:
        resolve_precision("bf16", CPU)
    msg = str(e.value)
    assert "AVX2" in msg and "--precision fp32" in msg and info.model in msg


def test_with_bf16_hardware_auto_is_bf16(monkeypatch):
    for isa in ("amx", "avx512_bf16"):
        monkeypatch.setenv("DSVAE_CPU_ISA", isa)
        assert cpu_info().bf16
        assert resolve_precision("auto", CPU) == "bf16"
        assert resolve_precision("bf16", CPU) == "bf16"


def test_the_kernel_caps_lower_the_isa(monkeypatch):
    monkeypatch.delenv("DSVAE_CPU_ISA", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    info = cpu_info()
    assert info.isa in ("AVX2", "other") and not info.bf16
    assert resolve_precision("auto", CPU) == "fp32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    assert not cpu_info().bf16


def test_unknown_names_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ValueError, match="not a device name"):
        resolve_device("gpu0")
    monkeypatch.setenv("DSVAE_CPU_ISA", "sse9")
    with pytest.raises(ValueError, match="DSVAE_CPU_ISA"):
        cpu_info()


def test_auto_device_is_a_real_device():
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == CPU


def test_fp32_autocast_is_a_no_op():
    with autocast(CPU, "fp32"):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_train_refuses_bf16_before_writing_anything(avx2_cpu, tiny_dataset_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", str(tiny_dataset_dir), "--preset", "tiny", "--precision", "bf16"]
    assert main(args + ["--epochs", "1", "--batch-size", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no bf16 hardware" in err and "--precision fp32" in err
    assert not out.exists()


def test_progress_writes_lines_when_not_a_terminal():
    fp = io.StringIO()
    bar = LineBar(total=1000, file=fp, mininterval=3600, ascii=True, desc="epoch 1/1")
    for _ in range(1000):
        bar.update(1)
    bar.close()
    text = fp.getvalue()
    assert "\r" not in text
    assert 1 <= len(text.splitlines()) <= 3  # the start and the end, not 1000 updates
    assert "1000/1000" in text.splitlines()[-1]
    # a postfix set at every step (the judge's loss) asks for a refresh each time: still a few lines
    fp = io.StringIO()
    bar = LineBar(total=1000, file=fp, mininterval=3600, ascii=True, desc="judge")
    for i in range(1000):
        bar.set_postfix(loss=f"{1 / (i + 1):.4f}")
        bar.update(1)
    bar.close()
    lines = fp.getvalue().splitlines()
    assert 1 <= len(lines) <= 3 and "1000/1000" in lines[-1]
    # under pytest stderr is captured, not a terminal: progress() gives the line writer
    assert isinstance(progress(total=3, disable=True), LineBar)


def test_mkls_instruction_variables_are_recorded_as_caps_and_leave_the_isa(monkeypatch):
    # they change the bits of fp32 matmuls (MKL picks its kernels itself), not what the policy uses
    for var in (
        "DSVAE_CPU_ISA",
        "ONEDNN_MAX_CPU_ISA",
        "ATEN_CPU_CAPABILITY",
        "MKL_ENABLE_INSTRUCTIONS",
        "MKL_CBWR",
    ):
        monkeypatch.delenv(var, raising=False)
    native = cpu_info()
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    info = cpu_info()
    assert info.isa == native.isa and info.bf16 == native.bf16
    assert info.capped_by == "MKL_ENABLE_INSTRUCTIONS=AVX2"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    capped = cpu_info().capped_by or ""
    assert "MKL_ENABLE_INSTRUCTIONS=AVX2" in capped and capped.endswith("MKL_CBWR=AVX2")
