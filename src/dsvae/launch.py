"""Data-parallel processes on this machine: what ``dsvae train --processes N`` starts.

The processes are started by PyTorch's own launcher, ``torch.distributed.launcher.api.elastic_launch``,
the machinery behind ``torchrun --nproc-per-node N`` (the same environment: RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR/PORT), so a run started here trains exactly as under torchrun: DDP, gloo on
a CPU. Each process gets ``cores // N`` threads (at least 1), recorded in RUN/env.json.

Why processes on a CPU: on some CPUs PyTorch's intra-op threads scale poorly over the small
per-frame layers of these models, while N one-thread processes each run at the one-thread speed;
docs/performance.md has the measured efficiency per CPU kind (``dsvae bench --parallel``).

An error in a process ends every process (the launcher's agent stops the others) and is raised
again here as the same kind of exception with the same message (whitelisted classes, rebuilt from
type name and text: nothing is unpickled)."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, else os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_process(processes: int) -> int:
    """Intra-op threads of each of ``processes`` processes on this machine: the cores shared out,
    at least one."""
    return max(1, usable_cores() // processes)


def under_launcher() -> bool:
    """Whether this process is one of N data-parallel processes (started here or by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def run_processes(
    processes: int, fn: Callable, args: tuple = (), kwargs: dict | None = None, errors: tuple = ()
):
    """Run ``fn(*args, **kwargs)`` in ``processes`` processes (RANK 0..N-1, DDP's environment) and
    return rank 0's result. ``fn`` and its arguments must be picklable (a module-level function).

    Raises the exception a process raised: the same class where it is one of ``errors`` (classes
    made from one message) or a built-in ValueError, OSError, FileExistsError, FileNotFoundError,
    else RuntimeError, with the process's message; KeyboardInterrupt when interrupted; RuntimeError
    when a process died without a Python error (killed, out of memory)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    with tempfile.TemporaryDirectory(prefix="dsvae-launch-") as tmp:
        config = LaunchConfig(
            min_nodes=1, max_nodes=1, nproc_per_node=processes, rdzv_backend="c10d",
            rdzv_endpoint="localhost:0", run_id=f"dsvae-{os.getpid()}", max_restarts=0,
            monitor_interval=0.2,
        )  # fmt: skip
        quiet = logging.getLogger("torch.distributed.elastic")
        level, quiet.level = quiet.level, logging.CRITICAL  # its own error report repeats ours
        try:
            results = elastic_launch(config, _worker)(tmp, processes, fn, args, kwargs or {})
        except ChildFailedError:
            raise _raised(Path(tmp), errors) from None
        except SignalException as e:
            raise KeyboardInterrupt(str(e)) from None
        finally:
            quiet.setLevel(level)
    return results[0]


def _worker(tmp: str, processes: int, fn: Callable, args: tuple, kwargs: dict):
    """One process: its threads, then ``fn``; an exception is written down for the parent."""
    import torch

    torch.set_num_threads(threads_per_process(processes))
    try:
        return fn(*args, **kwargs)
    except BaseException as e:
        record = {"type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()}
        path = Path(tmp) / f"error-{os.environ.get('RANK', '0')}.json"
        path.write_text(json.dumps(record), encoding="utf-8")
        sys.stderr.flush()
        os._exit(1)  # no second traceback: the parent raises it


def _raised(tmp: Path, errors: tuple) -> BaseException:
    """The first process's error, rebuilt (rank 0's first where several wrote one)."""
    records = sorted(tmp.glob("error-*.json"))
    if not records:
        return RuntimeError(
            "a training process died without a Python error (killed, or out of memory); the last "
            "checkpoint is kept: continue with --resume"
        )
    record = json.loads(records[0].read_text(encoding="utf-8"))
    known = (*errors, ValueError, FileExistsError, FileNotFoundError, OSError, KeyboardInterrupt)
    kind = {k.__name__: k for k in known}.get(record["type"])
    if kind is None:
        print(record["traceback"], file=sys.stderr, end="")
        return RuntimeError(f"{record['type']}: {record['message']}")
    try:
        return kind(record["message"])
    except TypeError:  # a class made from more than one argument
        return RuntimeError(f"{record['type']}: {record['message']}")
