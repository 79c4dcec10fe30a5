"""Throughput, memory and FLOP/s of training, encoding and generation: plain fp32 eager vs the fast path.

The plain path is what a straightforward implementation does: fp32, contiguous NCHW, eager,
per-tensor Adam. The fast path is what ``dsvae train`` does by default: bf16 autocast where the
hardware has it, fused Adam, channels_last where it helps (CUDA), optionally torch.compile.
Both run the step ``dsvae train`` runs (:class:`dsvae.step.TrainingStep`: the method's terms, the
KL weight, gradient clipping, of the training options given) on the same model and the same uint8
frames, normalized on the device.
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import DSVAEConfig
from .device import autocast, cpu_info, default_channels_last, resolve_device, resolve_precision
from .model import DSVAE
from .options import TrainConfig
from .step import TrainingStep, adam, kl_weight


@dataclass
class PathSettings:
    name: str
    precision: str
    channels_last: bool
    fused_adam: bool
    compile: bool = False


@dataclass
class PathResult:
    seq_per_s: float
    step_s: float
    rss_growth_mb: float  # resident memory after the last timed step minus after the first
    peak_mem_mb: float
    final_loss: float


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="utf-8") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _frames(cfg: DSVAEConfig, batch_size: int, seed: int) -> torch.Tensor:
    """A batch as the dataset stores it: uint8 (B, T, H, W, C), or float vectors (B, T, D)."""
    g = torch.Generator().manual_seed(seed)
    if cfg.is_video:
        return torch.randint(
            0,
            256,
            (batch_size, cfg.T, cfg.frame_size, cfg.frame_size, cfg.channels),
            generator=g,
            dtype=torch.uint8,
        )
    return torch.randn(batch_size, cfg.T, cfg.frame_dim, generator=g)


def _to_input(raw: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = raw.to(device, non_blocking=True)
    return x.permute(0, 1, 4, 2, 3).float().div_(255.0) if x.dim() == 5 else x


def build(
    cfg: DSVAEConfig, path: PathSettings, device: torch.device, seed: int, options: TrainConfig | None = None
):
    """The model, the module a step calls (compiled if the path asks) and the optimizer of a path,
    with the learning rate and betas of the training ``options`` (default: `dsvae train`'s)."""
    options = options or TrainConfig()
    torch.manual_seed(seed)
    model = DSVAE(cfg).to(device)
    if path.channels_last and cfg.is_video:
        model = model.to(memory_format=torch.channels_last)
    opt = adam(model.parameters(), options.lr, options.betas, fused=path.fused_adam)
    net = torch.compile(model) if path.compile else model
    return model, net, opt


def train_steps(
    cfg, path, device, batch_size, steps, warmup, seed=0, data=None, options=None, wrap=None
) -> PathResult:
    """Time ``warmup + steps`` training steps of the path (the median of the last ``steps``): the
    step `dsvae train` runs (:class:`dsvae.step.TrainingStep`: the method's terms, the KL weight of
    its warm-up, gradient clipping) with the training ``options`` (a TrainConfig; default: `dsvae
    train`'s defaults), at their constant learning rate, on random frames (or ``data``'s batches),
    each step including the batch's move to the device and its normalisation. ``wrap``: a function
    of the model giving the module a step calls (DistributedDataParallel under DDP)."""
    options = options or TrainConfig()
    model, net, opt = build(cfg, path, device, seed, options)
    net = wrap(net) if wrap is not None else net
    step = TrainingStep.of(net, model, opt, options, device, path.precision)
    raw = _frames(cfg, batch_size, seed) if data is None else None
    if device.type == "cuda" and raw is not None:
        raw = raw.pin_memory()
    times, rss, losses = [], [], []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + steps):
        batch = raw if data is None else data[i % len(data)]
        _sync(device)
        t = time.perf_counter()
        x = _to_input(batch, device)
        losses.append(step(x, kl_weight(i, options.kl_warmup_steps), options.lr)[0])
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
            rss.append(_rss_mb())
    step_s = statistics.median(times) if times else float("nan")
    return PathResult(
        seq_per_s=batch_size / step_s,
        step_s=step_s,
        rss_growth_mb=(rss[-1] - rss[0]) if rss else 0.0,
        peak_mem_mb=_peak_mb(device),
        final_loss=float(torch.stack(losses[-10:]).mean()),
    )


def matmul_peak(device: torch.device, precision: str, n: int = 2048, repeats: int = 5) -> float:
    """The machine's attainable peak in FLOP/s: the best of ``repeats`` timings of one large square
    matmul (``n`` x ``n`` by ``n`` x ``n``, 2 n^3 FLOPs) in ``precision`` (fp32 or bf16 operands)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms up the kernel
        _sync(device)
        t = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def machine(device: torch.device) -> dict:
    """What the figures were measured on: the device's name, and on a CPU its model, its best
    usable instruction set (AMX / AVX-512 BF16 / AVX-512 / AVX2) and the threads in use."""
    if device.type == "cuda":
        return {"device": torch.cuda.get_device_name(device), "threads": torch.get_num_threads()}
    info = cpu_info()
    return {
        "device": str(device),
        "cpu": info.model,
        "isa": info.isa,
        "isa_capped_by": info.capped_by,
        "cpu_flags": list(info.flags),
        "threads": info.threads,
    }


def flop_per_seq(
    cfg: DSVAEConfig, device: torch.device, batch_size: int = 2, options: TrainConfig | None = None
) -> float:
    """FLOPs of one training step (forward + backward of the loss ``options`` train, the method's
    terms included) per sequence, by torch.utils.flop_counter."""
    options = options or TrainConfig()
    plain = PathSettings("count", "fp32", channels_last=False, fused_adam=False)
    model, net, opt = build(cfg, plain, device, 0, options)
    step = TrainingStep.of(net, model, opt, options, device, "fp32")
    x = _to_input(_frames(cfg, batch_size, 0), device)
    counter = FlopCounterMode(display=False)
    with counter:
        step(x, 1.0, options.lr)
    return counter.get_total_flops() / batch_size


@torch.no_grad()
def inference_throughput(cfg, path, device, batch_size, steps, warmup) -> dict:
    model, _, _ = build(cfg, path, device, 0)
    model.eval()
    x = _to_input(_frames(cfg, batch_size, 0), device)
    out = {}
    for name, fn in (
        ("encode", lambda: model.encode(x)),
        ("generate", lambda: model.generate(batch_size=batch_size)),
    ):
        times = []
        for i in range(warmup + steps):
            _sync(device)
            t = time.perf_counter()
            with autocast(device, path.precision):
                fn()
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t)
        out[f"{name}_seq_per_s"] = batch_size / statistics.median(times)
    return out


def paths(
    cfg: DSVAEConfig,
    dev: torch.device,
    precision: str,
    channels_last: bool | None = None,
    compile: bool = False,
) -> tuple[PathSettings, PathSettings]:
    """The plain fp32 eager path, and the fast path as ``dsvae train`` runs it."""
    plain = PathSettings("plain", "fp32", channels_last=False, fused_adam=False)
    fast = PathSettings(
        "fast",
        resolve_precision(precision, dev),
        channels_last=default_channels_last(cfg, dev) if channels_last is None else channels_last,
        fused_adam=True,
        compile=compile,
    )
    return plain, fast


def bench_preset(
    preset: str,
    batch_size: int = 25,
    steps: int = 5,
    warmup: int = 2,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    channels_last: bool | None = None,
    overrides: dict | None = None,
    options: TrainConfig | None = None,
) -> dict:
    """Throughput of the plain and the fast path for ``preset`` (with DSVAEConfig ``overrides``),
    FLOPs per sequence, achieved FLOP/s and its fraction of the large-matmul peak of the same
    precision, peak memory, and the machine (CPU model, instruction set, threads) it ran on. Each
    path times the step `dsvae train` runs with the training ``options`` (a TrainConfig: its
    method, KL warm-up, gradient clipping, learning rate; default: `dsvae train`'s defaults)."""
    dev = resolve_device(device)
    cfg = DSVAEConfig.preset(preset, **(overrides or {}))
    plain, fast = paths(cfg, dev, precision, channels_last, compile)
    flops = flop_per_seq(cfg, dev, options=options)
    res_plain = train_steps(cfg, plain, dev, batch_size, steps, warmup, options=options)
    res_fast = train_steps(cfg, fast, dev, batch_size, steps, warmup, options=options)
    inf = inference_throughput(cfg, fast, dev, batch_size, steps, warmup)
    peaks = {p: matmul_peak(dev, p) for p in sorted({"fp32", fast.precision})}
    return {
        "preset": preset,
        "overrides": overrides or {},
        **machine(dev),
        "peak_tflop_per_s": {p: v / 1e12 for p, v in peaks.items()},
        "plain_peak_fraction": flops * res_plain.seq_per_s / peaks["fp32"],
        "fast_peak_fraction": flops * res_fast.seq_per_s / peaks[fast.precision],
        "batch_size": batch_size,
        "params": DSVAE(cfg).num_parameters(),
        "flop_per_seq": flops,
        "plain_seq_per_s": res_plain.seq_per_s,
        "fast_seq_per_s": res_fast.seq_per_s,
        "speedup": res_fast.seq_per_s / res_plain.seq_per_s,
        "plain_tflop_per_s": flops * res_plain.seq_per_s / 1e12,
        "fast_tflop_per_s": flops * res_fast.seq_per_s / 1e12,
        "peak_mem_mb": max(res_plain.peak_mem_mb, res_fast.peak_mem_mb),
        "plain_rss_growth_mb": res_plain.rss_growth_mb,
        "fast_rss_growth_mb": res_fast.rss_growth_mb,
        "fast_settings": asdict(fast),
        **inf,
    }


def compare_losses(
    preset: str,
    steps: int = 100,
    batch_size: int = 25,
    n_batches: int = 20,
    device: str = "auto",
    precision: str = "auto",
    seed: int = 0,
    options: TrainConfig | None = None,
) -> dict:
    """Train the plain and the fast path ``steps`` steps from the same seed on the same batches
    (random frames with structure: smooth blobs, so that the loss moves) with the training
    ``options`` (as :func:`train_steps`) and compare the mean negative ELBO of their last 10 steps."""
    dev = resolve_device(device)
    cfg = DSVAEConfig.preset(preset)
    g = torch.Generator().manual_seed(seed)
    if cfg.is_video:
        small = torch.rand(n_batches, batch_size, cfg.T, 4, 4, cfg.channels, generator=g)
        big = small.repeat_interleave(cfg.frame_size // 4, 3).repeat_interleave(cfg.frame_size // 4, 4)
        data = (big * 255).to(torch.uint8)
    else:
        data = torch.randn(n_batches, batch_size, cfg.T, cfg.frame_dim, generator=g)
    plain, fast = paths(cfg, dev, precision)
    a = train_steps(cfg, plain, dev, batch_size, steps, 0, seed, data=list(data), options=options)
    b = train_steps(cfg, fast, dev, batch_size, steps, 0, seed, data=list(data), options=options)
    return {
        "preset": preset,
        "steps": steps,
        "plain_final_loss": a.final_loss,
        "fast_final_loss": b.final_loss,
        "relative_difference": abs(b.final_loss - a.final_loss) / abs(a.final_loss),
    }


def parallel_efficiency(
    preset: str,
    processes: int = 2,
    batch_size: int = 50,
    steps: int = 10,
    warmup: int = 3,
    overrides: dict | None = None,
    options: TrainConfig | None = None,
) -> dict:
    """How training uses a CPU's cores: the training step (``dsvae train``'s fast path, fp32 or bf16
    as it chooses, with the training ``options``) timed in one process of one thread, one process
    of a thread per core, and ``processes`` data-parallel processes (DDP on gloo, each taking
    ``batch_size / processes`` sequences and cores / processes threads: ``dsvae train --processes``).
    Returns sequences per second of each, the speed-up over one thread and the parallel efficiency
    (speed-up / cores). Raises ValueError when ``batch_size`` does not share out over the processes."""
    from .launch import run_processes, threads_per_process, usable_cores

    if batch_size % processes:
        raise ValueError(f"--batch-size {batch_size} does not share out over {processes} processes")
    cores, threads = usable_cores(), torch.get_num_threads()
    args = (preset, batch_size, steps, warmup, overrides or {}, options)
    try:
        torch.set_num_threads(1)
        one = _cpu_steps(*args)
        torch.set_num_threads(cores)
        all_threads = _cpu_steps(*args)
    finally:
        torch.set_num_threads(threads)
    ddp = run_processes(processes, _ddp_steps, args)
    rows = [
        ("1 process x 1 thread", one),
        (f"1 process x {_threads(cores)}", all_threads),
        (f"{processes} processes x {_threads(threads_per_process(processes))} (DDP, gloo)", ddp),
    ]
    return {
        "preset": preset,
        "batch_size": batch_size,
        "cores": cores,
        **machine(torch.device("cpu")),
        "paths": [
            {"path": name, "seq_per_s": v, "speedup": v / one, "efficiency": v / one / cores}
            for name, v in rows
        ],
    }


def _threads(n: int) -> str:
    return f"{n} thread{'s' * (n != 1)}"


def _cpu_steps(preset, batch_size, steps, warmup, overrides, options, wrap=None) -> float:
    """Sequences per second of ``dsvae train``'s CPU step (the fast path) at this thread count."""
    dev = torch.device("cpu")
    cfg = DSVAEConfig.preset(preset, **overrides)
    _, fast = paths(cfg, dev, "auto")
    return train_steps(cfg, fast, dev, batch_size, steps, warmup, options=options, wrap=wrap).seq_per_s


def _ddp_steps(preset, batch_size, steps, warmup, overrides, options) -> float:
    """One of the DDP processes of :func:`parallel_efficiency`: its share of the batch per step;
    returns the whole batch's sequences per second (every process steps together)."""
    import torch.distributed as dist

    dist.init_process_group("gloo")
    try:
        share = batch_size // dist.get_world_size()
        wrap = torch.nn.parallel.DistributedDataParallel
        return _cpu_steps(preset, share, steps, warmup, overrides, options, wrap) * dist.get_world_size()
    finally:
        dist.destroy_process_group()


def format_parallel(row: dict) -> str:
    """The table of :func:`parallel_efficiency`."""
    lines = [
        f"{describe_machine({**row, 'peak_tflop_per_s': {}})}; preset {row['preset']}, "
        f"batch {row['batch_size']}",
        "",
        "| path | seq/s | speed-up over 1 thread | parallel efficiency |",
        "| --- | --- | --- | --- |",
    ]
    for p in row["paths"]:
        lines.append(
            f"| {p['path']} | {p['seq_per_s']:.1f} | {p['speedup']:.2f}x | {100 * p['efficiency']:.0f}% |"
        )
    return "\n".join(lines)


def describe_machine(row: dict) -> str:
    """One line naming what a bench row was measured on, with the matmul peaks."""
    peaks = ", ".join(f"{p} {v:.3g} TFLOP/s" for p, v in row["peak_tflop_per_s"].items()) or "not measured"
    if "cpu" in row:
        cap = f", capped by {row['isa_capped_by']}" if row.get("isa_capped_by") else ""
        where = f"CPU {row['cpu']} ({row['isa']}{cap}), {row['threads']} threads"
    else:
        where = row["device"]
    return f"{where}; large-matmul peak: {peaks}"


def format_table(rows: list[dict]) -> str:
    head = (
        "| preset | batch | params | GFLOP/seq | plain seq/s | fast seq/s | fast/plain | precision | "
        "fast TFLOP/s | of peak | peak MB | RSS growth MB | encode seq/s | generate seq/s |"
    )
    lines = [describe_machine(rows[0]) if rows else "", "", head, "|" + " --- |" * 14]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['batch_size']} | {r['params'] / 1e6:.1f} M | "
            f"{r['flop_per_seq'] / 1e9:.2f} | {r['plain_seq_per_s']:.2f} | {r['fast_seq_per_s']:.2f} | "
            f"{r['speedup']:.2f}x | {r['fast_settings']['precision']} | {r['fast_tflop_per_s']:.3f} | "
            f"{100 * r['fast_peak_fraction']:.0f}% | {r['peak_mem_mb']:.0f} | "
            f"{r['fast_rss_growth_mb']:+.0f} | {r['encode_seq_per_s']:.1f} | {r['generate_seq_per_s']:.1f} |"
        )
    return "\n".join(lines)


def write_json(rows: list[dict], path: str | Path) -> None:
    Path(path).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
