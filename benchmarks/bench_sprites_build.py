"""Build time, peak memory and open time of the Sprites benchmark.

    python benchmarks/bench_sprites_build.py [--sheets path/to/Sprites] [--out DIR]

The build runs in a child process, so the peak resident memory reported (getrusage maxrss of the
children) is the build's own, Python and its imports included. Without --out the dataset goes to a
temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD = """
import sys, time
from dsvae.data.sprites import build_sprites
start = time.perf_counter()
build_sprites(sys.argv[1], sys.argv[2], force=True)
print(time.perf_counter() - start)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_sheets = Path(__file__).resolve().parents[2] / "shared" / "lpc-sprites"
    parser.add_argument("--sheets", default=str(default_sheets), help="the LPC layer sheets folder")
    parser.add_argument("--out", default=None, help="dataset folder (default: a temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or Path(tmp) / "sprites")
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", BUILD, args.sheets, str(out)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
        build_s = float(child.stdout.strip().splitlines()[-1])
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux

        from dsvae.data import SequenceDataset

        start = time.perf_counter()
        ds = SequenceDataset.open(out)
        open_s = time.perf_counter() - start
        start = time.perf_counter()
        ds.get_batch(list(range(0, len(ds), len(ds) // 25))[:25])
        batch_ms = (time.perf_counter() - start) * 1000

    print(f"build: {build_s:.1f} s ({wall:.1f} s with the child's start and imports)")
    print(f"peak memory of the build process: {peak_mib:.0f} MiB")
    print(f"open: {open_s * 1000:.1f} ms; one batch of 25 spread sequences: {batch_ms:.1f} ms")
    print(f"dataset: {ds}")


if __name__ == "__main__":
    main()
