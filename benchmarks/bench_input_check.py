"""What the model's check of its input values costs: one min/max pass over x (video frames in [0, 1],
``DSVAE._check_values``) against the training step and the encoding it guards, on this machine.

    python benchmarks/bench_input_check.py [--preset cpu] [--batch-size 25] [--steps 20]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_input_check.py

Prints the median seconds of the check alone, of a training step (forward, backward, Adam) with the
check and without it, and of ``encode`` under no_grad, and the check's share of each, with the CPU
model, its kernel kind, the precision and the threads. Time it on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time


def median_s(fn, steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cpu", help="model preset (default cpu, the main job's)")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--steps", type=int, default=20, help="timed repetitions (the median is printed)")
    parser.add_argument("--precision", default="auto", help="auto, bf16 or fp32 (as dsvae train)")
    args = parser.parse_args()

    import torch

    from dsvae import DSVAE, DSVAEConfig
    from dsvae.device import autocast, cpu_info, resolve_precision

    torch.manual_seed(0)
    device = torch.device("cpu")
    precision = resolve_precision(args.precision, device)
    model = DSVAE(DSVAEConfig.preset(args.preset))
    x = torch.rand((args.batch_size, model.config.T) + model.config.frame_shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)

    def step() -> None:
        with autocast(device, precision):
            out = model(x)
        opt.zero_grad(set_to_none=True)
        (out.recon + out.kl_f + out.kl_z).backward()
        opt.step()

    def encode() -> None:
        with torch.no_grad(), autocast(device, precision):
            model.encode(x)

    check = median_s(lambda: model._check_values(x), args.steps * 5)
    model.train()
    with_check = median_s(step, args.steps)
    real_check = DSVAE._check_values
    DSVAE._check_values = lambda self, x: None
    try:
        without = median_s(step, args.steps)
    finally:
        DSVAE._check_values = real_check
    model.eval()
    enc = median_s(encode, args.steps)

    cpu = cpu_info()
    print(
        f"{cpu.model} ({cpu.isa}), {precision}, {torch.get_num_threads()} threads; preset "
        f"{args.preset}, batch {args.batch_size} x {tuple(x.shape[1:])}"
    )
    print(f"the check alone:            {1e3 * check:8.3f} ms")
    print(
        f"training step with it:      {1e3 * with_check:8.1f} ms (without: {1e3 * without:.1f} ms); "
        f"the check is {100 * check / without:.2f}% of a step"
    )
    print(f"encode (no_grad), with it:  {1e3 * enc:8.1f} ms; the check is {100 * check / enc:.2f}% of it")


if __name__ == "__main__":
    main()
