"""Atomic writes: a reader (or a resumed run) sees the old content or the new, never a mix."""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_file(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_file(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_file(path, lambda p: p.write_text(text))


class atomic_dir:
    """``with atomic_dir(out, force) as tmp:`` write into ``tmp``; on success it becomes ``out``.
    An existing ``out`` is refused unless ``force``; on error (or an interruption that raises, as
    Ctrl-C does) nothing is left behind and an existing ``out`` is untouched. Between the two
    renames that replace an existing ``out`` it is kept as ``.<name>.old`` (see :func:`recover_dir`).
    The work folder ``.<name>.partial-<pid>-*`` names its process, so partial folders that a killed
    build left beside ``out`` are removed by the next one (:func:`remove_stale_partials`)."""

    def __init__(self, out: str | Path, force: bool = False) -> None:
        self.out = Path(out)
        self.force = force

    def __enter__(self) -> Path:
        if self.out.exists() and not self.force:
            raise FileExistsError(f"{self.out} exists; pass --force (force=True) to replace it")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self.out)
        self.tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.out.name}.partial-{os.getpid()}-", dir=self.out.parent)
        )
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a dataset folder is shared like any other
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = self.out.parent / f".{self.out.name}.old"
        if self.out.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        shutil.rmtree(old, ignore_errors=True)
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_partials(out: str | Path) -> list[Path]:
    """Remove the ``.<name>.partial-*`` folders beside ``out`` that builds which died (killed,
    power loss) left behind; say so on stderr. A folder whose process still runs (another build
    into the same place) is reported and kept. Returns the folders removed."""
    out = Path(out)
    removed = []
    if not out.parent.is_dir():
        return removed
    for folder in sorted(out.parent.glob(f".{glob.escape(out.name)}.partial-*")):
        if not folder.is_dir():
            continue
        m = re.match(r"(\d+)-", folder.name[len(f".{out.name}.partial-") :])
        pid = int(m.group(1)) if m else None  # folders of older versions name no process
        if pid == os.getpid():
            continue
        if pid is not None and _alive(pid):
            print(f"note: {folder} belongs to a build still running (pid {pid}); left alone", file=sys.stderr)
            continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        print(
            f"note: removed {folder} ({size / 2**20:.1f} MiB), left by an interrupted build of {out}",
            file=sys.stderr,
        )
        removed.append(folder)
    return removed


def recover_dir(out: str | Path) -> Path:
    """``out``, or the previous version kept by an :class:`atomic_dir` interrupted mid-swap."""
    out = Path(out)
    old = out.parent / f".{out.name}.old"
    if not out.exists() and old.exists():
        os.replace(old, out)
    return out
