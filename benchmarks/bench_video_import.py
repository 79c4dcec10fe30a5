"""Memory and speed of `dsvae data video` on an input of at least 1 GB of decoded frames.

Writes synthetic 640x480 mp4s of moving shapes to a temporary folder, imports half of them and
then all of them, each in a fresh process, and prints for each: the peak RSS of the importing
Python process, the growth of that peak over the process before the import, the peak RSS of the
whole process tree (Python + its ffmpeg decoders, sampled every 20 ms from /proc) and the
throughput. Bounded memory shows as the same peak for half and for the full input.

    python benchmarks/bench_video_import.py            # 1 GiB of decoded frames
    python benchmarks/bench_video_import.py --gib 2 --videos 16
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 640, 480


def moving_shapes(n: int, seed: int):
    """n frames (HEIGHT, WIDTH, 3) uint8, one at a time: coloured boxes and discs bouncing on a
    drifting gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    shapes = [
        (rng.uniform(40, 600), rng.uniform(40, 440), rng.uniform(-6, 6), rng.uniform(-6, 6),
         rng.integers(20, 60), rng.integers(0, 256, 3), bool(rng.integers(2)))
        for _ in range(4)
    ]  # fmt: skip
    for t in range(n):
        frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
        frame[..., 0] = (xx + 2 * t) % 256 // 2
        frame[..., 1] = yy * 255 // HEIGHT // 2
        frame[..., 2] = 64
        for x0, y0, vx, vy, r, color, disc in shapes:
            # bounce: reflect the straight path into the frame
            x = abs((x0 + vx * t) % (2 * (WIDTH - r)) - (WIDTH - r))
            y = abs((y0 + vy * t) % (2 * (HEIGHT - r)) - (HEIGHT - r))
            if disc:
                frame[(xx - x) ** 2 + (yy - y) ** 2 < r * r] = color
            else:
                frame[int(y - r // 2) : int(y + r // 2), int(x - r // 2) : int(x + r // 2)] = color
        yield frame


def write_videos(folder: Path, n_videos: int, frames_per_video: int, fps: int = 25) -> None:
    import imageio_ffmpeg

    folder.mkdir(parents=True)
    for v in range(n_videos):
        writer = imageio_ffmpeg.write_frames(str(folder / f"clip{v:03d}.mp4"), (WIDTH, HEIGHT), fps=fps)
        writer.send(None)
        for frame in moving_shapes(frames_per_video, seed=v):
            writer.send(frame.tobytes())
        writer.close()


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def tree_rss_mb(pid: int) -> float:
    """Current RSS of a process and all its descendants (Linux /proc)."""
    total_kb, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total_kb += int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmRSS:")))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue  # exited meanwhile (or a zombie without memory)
    return total_kb / 1024


def run_sampled(cmd: list[str]) -> tuple[str, float]:
    """Run cmd, sampling the RSS of its process tree; returns its stdout and the peak seen."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(0.02)
    out = proc.stdout.read()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return out, peak


def child(input: str, out: str, size: int, T: int) -> None:
    """Runs in a fresh process: import, then print one JSON line of measurements."""
    from dsvae.data.video import import_videos

    before = peak_rss_mb(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    ds = import_videos(input, out, size=size, T=T)
    wall = time.perf_counter() - t0
    frames = ds.meta["counts"]["frames"]
    print(json.dumps({
        "files": ds.meta["counts"]["files"],
        "frames": frames,
        "decoded_gb": frames * WIDTH * HEIGHT * 3 / 1e9,
        "sequences": len(ds),
        "wall_s": wall,
        "frames_per_s": frames / wall,
        "rss_before_mb": before,
        "rss_peak_mb": peak_rss_mb(resource.RUSAGE_SELF),
    }))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gib", type=float, default=1.0, help="decoded size of the full input in GiB (default 1)")
    p.add_argument("--videos", type=int, default=8, help="number of videos (even; default 8)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--T", type=int, default=8)
    p.add_argument("--child", nargs=2, metavar=("INPUT", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child, size=args.size, T=args.T)
        return

    frames_per_video = math.ceil(args.gib * 2**30 / (WIDTH * HEIGHT * 3) / args.videos)
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        write_videos(tmp / "full", args.videos, frames_per_video)
        print(
            f"wrote {args.videos} mp4s of {frames_per_video} frames {WIDTH}x{HEIGHT} "
            f"in {time.perf_counter() - t0:.0f} s"
        )
        (tmp / "half").mkdir()
        for video in sorted((tmp / "full").iterdir())[: args.videos // 2]:
            (tmp / "half" / video.name).symlink_to(video)
        print("input files frames  decoded  seqs   wall frames/s RSS before  RSS peak  growth tree peak")
        for name in ("half", "full"):
            cmd = [sys.executable, __file__, "--size", str(args.size), "--T", str(args.T),
                   "--child", str(tmp / name), str(tmp / f"ds-{name}")]  # fmt: skip
            out, tree_peak = run_sampled(cmd)
            r = json.loads(out)
            print(
                f"{name:>5} {r['files']:>5} {r['frames']:>6} {r['decoded_gb']:>6.2f}GB {r['sequences']:>5} "
                f"{r['wall_s']:>5.1f}s {r['frames_per_s']:>8.0f} {r['rss_before_mb']:>8.0f}MB "
                f"{r['rss_peak_mb']:>7.0f}MB {r['rss_peak_mb'] - r['rss_before_mb']:>5.0f}MB "
                f"{tree_peak:>7.0f}MB"
            )


if __name__ == "__main__":
    main()
