"""The time of every part of `dsvae eval` on trained runs, on this machine.

    python benchmarks/bench_eval.py runs/sprites-s0 [RUN ...] [--seeds 3] [--precision auto] [--keep DIR]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_eval.py runs/sprites-s0

Each run folder is copied (config, model, records; not its checkpoints or pictures) to a temporary
folder and scored there exactly as `dsvae eval RUN` does (the shipped judge of its data, every
protocol), so the run's own metrics.json is left as it is (``--keep DIR``: the copy's metrics.json
and metrics.md go to DIR/RUN_NAME/, to compare the scores of two versions of the code). Prints, per
run, the seconds of each part (encoding and reconstruction, generating and judging the videos of
the judge protocols, the judge's audit, encoding the training codes, DCI per regressor, the leakage
probes) and the total, with the CPU model, its kernel kind and the threads. Time it on a quiet
machine: on 2 cores anything running beside it makes it 2-5x slower.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

# what scoring reads of a run folder (the checkpoints only when the run has no final model)
COPIED = ("config.json", "train.json", "env.json", "log.csv", "recipe.toml", "model", "checkpoints")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="trained run folders")
    parser.add_argument("--seeds", type=int, default=3, help="evaluation seeds (dsvae eval's default: 3)")
    parser.add_argument("--precision", default="auto", help="auto, bf16 or fp32 (as dsvae eval --precision)")
    parser.add_argument(
        "--keep", type=Path, help="keep each copy's metrics.json and metrics.md in KEEP/RUN_NAME/"
    )
    args = parser.parse_args()

    import torch

    from dsvae.device import cpu_info
    from dsvae.evaluate.protocols import evaluate_run

    info = cpu_info()
    cap = f", capped by {info.capped_by}" if info.capped_by else ""
    threads = torch.get_num_threads()
    print(f"CPU: {info.model}; kernels {info.isa}{cap}; {threads} threads; torch {torch.__version__}")
    for run in map(Path, args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / run.name
            copy.mkdir()
            for name in COPIED:
                src = run / name
                if name == "checkpoints" and (run / "model").exists():
                    continue
                if src.is_dir():
                    shutil.copytree(src, copy / name)
                elif src.exists():
                    shutil.copy2(src, copy / name)
            start = time.perf_counter()
            m = evaluate_run(copy, seeds=args.seeds, precision=args.precision)
            total = time.perf_counter() - start
            if args.keep:
                (args.keep / run.name).mkdir(parents=True, exist_ok=True)
                for name in ("metrics.json", "metrics.md"):
                    shutil.copy2(copy / name, args.keep / run.name / name)
        n = m["dataset"]["test_sequences"]
        print(f"\n{run} ({m['precision']}, {args.seeds} seeds, {n} test sequences)")
        for part, s in m["timings_s"].items():
            print(f"  {part:<40} {s:7.1f} s")
        rest = total - sum(m["timings_s"].values())
        print(f"  {'(opening the run, judge, EER, writing)':<40} {rest:7.1f} s")
        print(f"  {'total':<40} {total:7.1f} s  ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
