"""One device and precision policy for training, evaluation, the judge, pictures and benchmarks.

- ``resolve_device("auto")`` picks CUDA, then Apple's MPS, then the CPU.
- ``resolve_precision("auto", device)`` picks bf16 autocast only where the hardware computes bf16:
  a CUDA card that supports it, or a CPU with AMX (``amx_bf16``) or AVX-512 BF16 (``avx512_bf16``)
  that oneDNN is allowed to use. Elsewhere fp32, the fast path of AVX2 CPUs.
- ``resolve_precision("bf16", cpu)`` on a CPU without bf16 hardware is refused before any work
  (:class:`PrecisionUnavailable`), naming the CPU's instruction set and the fp32 alternative: oneDNN
  has no bf16 LSTM there and emulates bf16 convolutions, far slower than fp32.
- ``default_channels_last`` says where the channels_last memory format helps (``dsvae bench``;
  the figures are in docs/performance.md).

The CPU's instruction set is read from ``/proc/cpuinfo`` (Linux) and capped by the variables that
cap oneDNN and PyTorch's kernels: ``ONEDNN_MAX_CPU_ISA`` (``AVX2``, ``AVX512_CORE``, ...) and
``ATEN_CPU_CAPABILITY`` (``avx2``, ``avx512``). ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``
on an AMX machine thus behaves, for this policy as for the kernels, as an AVX2 CPU (not bit for bit:
MKL, PyTorch's fp32 matmuls, keeps its own choice, which ``MKL_ENABLE_INSTRUCTIONS`` or ``MKL_CBWR``
change; they are recorded in ``capped_by``, and an Intel and an AMD CPU capped alike still differ
in the last bits: docs/performance.md).
``DSVAE_CPU_ISA=avx2`` (or ``avx512``, ``amx``) overrides the detection, for tests.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .config import DSVAEConfig

PRECISIONS = ("auto", "fp32", "bf16")
DEVICES_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps"

# oneDNN's ISA names, lowest first; the bf16 paths need AVX512_CORE_BF16 (avx512_bf16) or AMX
_ONEDNN_ORDER = [
    "SSE41",
    "AVX",
    "AVX2",
    "AVX2_VNNI",
    "AVX2_VNNI_2",
    "AVX512_CORE",
    "AVX512_CORE_VNNI",
    "AVX512_CORE_BF16",
    "AVX10_1_512",
    "AVX512_CORE_FP16",
    "AVX512_CORE_AMX",
    "AVX10_1_512_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512_AMX_FP16",
    "AVX10_2_512",
    "AVX10_2_512_AMX_2",
    "DEFAULT",
    "ALL",
]


class PrecisionUnavailable(ValueError):
    """The precision asked for has no hardware on this device (e.g. bf16 on an AVX2-only CPU)."""


@dataclass(frozen=True)
class CPUInfo:
    """What the CPU offers for our kernels.

    ``isa`` is the best instruction set the kernels may use: ``"AMX"`` (bf16 matrix tiles),
    ``"AVX-512 BF16"``, ``"AVX-512"``, ``"AVX2"`` or ``"other"``; ``bf16`` whether bf16 has hardware
    there; ``capped_by`` names the environment variable that lowered the ISA, if any.
    """

    model: str
    isa: str
    bf16: bool
    flags: tuple[str, ...]  # the relevant flags the CPU itself reports
    threads: int
    capped_by: str | None = None

    def describe(self) -> str:
        cap = f", capped by {self.capped_by}" if self.capped_by else ""
        return f"{self.model} ({self.isa}{cap}; {self.threads} threads)"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = list(self.flags)
        return d


_RELEVANT = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma")


def _read_cpuinfo() -> tuple[str, set[str]]:
    model = platform.processor() or platform.machine() or "unknown CPU"
    flags: set[str] = set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model in (platform.processor(), platform.machine(), "unknown CPU"):
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def _isa_from_flags(flags: set[str]) -> str:
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512 BF16"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "other"


_LEVELS = ["other", "AVX2", "AVX-512", "AVX-512 BF16", "AMX"]
_MKL_CAPS = ("MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")


def _cap(isa: str) -> tuple[str, str | None]:
    """Lower ``isa`` to what ONEDNN_MAX_CPU_ISA / ATEN_CPU_CAPABILITY allow; the second value names
    the variables that capped it, and MKL's (which change a run's bits, not the ISA), or None."""
    caps: list[str] = []
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if onednn and onednn in _ONEDNN_ORDER and onednn not in ("DEFAULT", "ALL"):
        i = _ONEDNN_ORDER.index(onednn)
        if i < _ONEDNN_ORDER.index("AVX512_CORE"):
            limit = "AVX2" if i >= _ONEDNN_ORDER.index("AVX2") else "other"
        elif i < _ONEDNN_ORDER.index("AVX512_CORE_BF16"):
            limit = "AVX-512"
        elif i < _ONEDNN_ORDER.index("AVX512_CORE_AMX"):
            limit = "AVX-512 BF16"
        else:
            limit = "AMX"
        if _LEVELS.index(limit) < _LEVELS.index(isa):
            isa = limit
            caps.append(f"ONEDNN_MAX_CPU_ISA={onednn}")
    aten = os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if aten in ("avx2", "default") and _LEVELS.index(isa) > _LEVELS.index("AVX2"):
        isa = "AVX2" if aten == "avx2" else "other"
        caps.append(f"ATEN_CPU_CAPABILITY={aten}")
    # MKL (PyTorch's fp32 matmuls and LSTMs on CPU) picks its kernels by itself: these variables do
    # not lower the ISA of the policy, but they change the bits of a run, so the run records them
    caps += [f"{var}={os.environ[var].strip()}" for var in _MKL_CAPS if os.environ.get(var, "").strip()]
    return isa, ", ".join(caps) or None


def cpu_info() -> CPUInfo:
    """The CPU's model, its best usable instruction set, whether bf16 has hardware, the threads.

    ``DSVAE_CPU_ISA`` (``amx``, ``avx512_bf16``, ``avx512``, ``avx2``) overrides the detection.
    """
    model, flags = _read_cpuinfo()
    forced = os.environ.get("DSVAE_CPU_ISA", "").strip().lower()
    names = {"amx": "AMX", "avx512_bf16": "AVX-512 BF16", "avx512": "AVX-512", "avx2": "AVX2"}
    if forced:
        if forced not in names:
            raise ValueError(f"DSVAE_CPU_ISA={forced!r}: expected one of {', '.join(names)}")
        isa, capped_by = names[forced], f"DSVAE_CPU_ISA={forced}"
    else:
        isa, capped_by = _cap(_isa_from_flags(flags))
    return CPUInfo(
        model=model,
        isa=isa,
        bf16=isa in ("AMX", "AVX-512 BF16"),
        flags=tuple(f for f in _RELEVANT if f in flags),
        threads=torch.get_num_threads(),
        capped_by=capped_by,
    )


def check_temp_dir(writable: str | Path | None = None) -> str:
    """The folder for temporary files (:func:`tempfile.gettempdir`: TMPDIR, TEMP, TMP, then /tmp,
    /var/tmp, /usr/tmp and the working folder), which PyTorch (its compiler caches, imported with
    DDP and the optimizers) and matplotlib (its font cache, where MPLCONFIGDIR and HOME are not
    writable) need. Returns it. Raises ValueError naming the folders tried and the variables to
    set, with ``writable`` (a folder the command writes anyway, e.g. the run folder's parent) as the
    example, instead of a traceback deep inside either library."""
    import shlex
    import tempfile

    try:
        return tempfile.gettempdir()
    except FileNotFoundError:
        tried = ", ".join(tempfile._candidate_tempdir_list())
        where = shlex.quote(str(Path(writable).resolve())) if writable is not None else "<a writable folder>"
        raise ValueError(
            f"no writable temporary folder (tried {tried}): PyTorch and matplotlib need one. Point TMPDIR "
            f"at a writable folder, and MPLCONFIGDIR for matplotlib's cache, e.g. export TMPDIR={where} "
            f"MPLCONFIGDIR={where}"
        ) from None


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA if available, then Apple's MPS, then the CPU; otherwise the named device.

    Raises ValueError for a device this machine does not have, naming what it has.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"--device {name!r} is not a device name; use {DEVICES_HELP}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"--device {name}: Apple's MPS is not available here; use --device cpu")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 where the device computes it in hardware, else fp32.

    Raises ValueError for an unknown name and :class:`PrecisionUnavailable` for bf16 on a CPU
    without bf16 hardware (with the CPU's instruction set and the fp32 alternative in the message).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        if precision == "bf16" and not supported:
            raise PrecisionUnavailable(
                f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16; use --precision fp32"
            )
        return ("bf16" if supported else "fp32") if precision == "auto" else precision
    if device.type == "mps":
        return "fp32" if precision == "auto" else precision
    info = cpu_info()
    if precision == "auto":
        return "bf16" if info.bf16 else "fp32"
    if precision == "bf16" and not info.bf16:
        raise PrecisionUnavailable(
            f"--precision bf16: this CPU ({info.describe()}) has no bf16 hardware (AMX or AVX-512 BF16); "
            "oneDNN has no bf16 LSTM there and emulates the rest far slower than fp32. "
            "Use --precision fp32 (or auto, which picks it here)."
        )
    return precision


def autocast(device: torch.device, precision: str):
    """The autocast context for a resolved precision (``fp32``: none)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def evaluating(model: torch.nn.Module | None) -> Iterator[None]:
    """``model`` in eval mode and no gradients inside; the model's mode is restored after (the one
    eval-mode helper: scoring, pictures and :func:`seeded_eval` use it)."""
    was_training = model is not None and model.training
    if model is not None:
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if model is not None:
            model.train(was_training)


@contextmanager
def seeded_eval(
    model: torch.nn.Module | None, seed: int, device: str | torch.device = "cpu"
) -> Iterator[None]:
    """Seeded evaluation: :func:`evaluating` ``model``, with the random number generators forked (the
    CPU's and, on CUDA, ``device``'s) and seeded with ``seed``, so that the draws inside repeat and
    the caller's random state is left as it was."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), evaluating(model):
        torch.manual_seed(seed)
        yield


def default_channels_last(cfg: DSVAEConfig, device: torch.device) -> bool:
    """channels_last where ``dsvae bench --channels-last`` against ``--no-channels-last`` found it
    faster (figures: docs/performance.md): on CUDA and on every CPU kind (AVX2 in fp32, AVX-512 BF16
    and AMX in bf16), for the presets' narrow stacks as for the paper's wide ones. Off on MPS and for
    vector frames (no convolutions)."""
    return cfg.is_video and conv_channels_last(device)


def conv_channels_last(device: torch.device) -> bool:
    """The rule of :func:`default_channels_last` for any stack of convolutions (the judge's too): on
    every device but MPS."""
    return device.type != "mps"


# Elements of frames per chunk when a per-frame network scores on a CPU (per_frame): about 128
# frames of 64x64 RGB, whose layer activations stay in a CPU's cache between one layer and the next;
# whole batches of 1024 frames do not, and scored 1.5-2x slower (docs/performance.md, "Evaluation time")
CPU_CHUNK_ELEMENTS = 128 * 3 * 64 * 64


def per_frame(net: torch.nn.Module, x: torch.Tensor, frame_numel: int | None = None) -> torch.Tensor:
    """``net(x)`` for a network that maps each row of ``x`` (N, ...) alone (a per-frame encoder or
    decoder in eval mode): on a CPU without autograd, in chunks of rows that hold about
    ``CPU_CHUNK_ELEMENTS`` frame elements (``frame_numel``: elements of one frame on either side of
    ``net``, default one row of ``x``), so that each layer's activations stay in the cache. The same
    result as ``net(x)`` up to float rounding; on other devices, with autograd, or with ``net`` in
    training mode (BatchNorm's batch statistics span the whole batch), exactly ``net(x)``."""
    if x.device.type != "cpu" or torch.is_grad_enabled() or net.training:
        return net(x)
    rows = max(1, CPU_CHUNK_ELEMENTS // max(1, frame_numel or x[0].numel()))
    if x.shape[0] <= rows:
        return net(x)
    return torch.cat([net(chunk) for chunk in x.split(rows)])


def fold_for_inference(layers: torch.nn.Sequential) -> torch.nn.Sequential:
    """A copy of ``layers`` (in eval mode) to score with: each BatchNorm2d folded into the
    convolution or transposed convolution before it (``torch.nn.utils.fusion.fuse_conv_bn_eval``:
    one pass over the activations less per layer), and each ReLU / LeakyReLU that follows a layer
    computing in place (the input of ``layers`` is never written). Its outputs are those of
    ``layers`` in eval mode up to float rounding; it cannot be trained (its BatchNorms are gone)."""
    import copy

    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    computing = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d)
    todo, out = list(copy.deepcopy(layers).eval()), []
    while todo:
        layer = todo.pop(0)
        conv = isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))
        if conv and todo and isinstance(todo[0], nn.BatchNorm2d):
            layer = fuse_conv_bn_eval(layer, todo.pop(0), transpose=isinstance(layer, nn.ConvTranspose2d))
        elif isinstance(layer, (nn.ReLU, nn.LeakyReLU)) and out and isinstance(out[-1], computing):
            layer.inplace = True  # only on a fresh output: a view (Flatten) may be the caller's input
        out.append(layer)
    return nn.Sequential(*out)


__all__ = [
    "CPU_CHUNK_ELEMENTS",
    "PRECISIONS",
    "CPUInfo",
    "PrecisionUnavailable",
    "autocast",
    "conv_channels_last",
    "cpu_info",
    "default_channels_last",
    "fold_for_inference",
    "per_frame",
    "resolve_device",
    "resolve_precision",
    "evaluating",
    "seeded_eval",
]
