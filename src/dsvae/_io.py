"""Atomic writes: a reader (or a resumed run) sees the old content or the new, never a mix, also
after a power loss (files and folders are flushed to disk, fsync, before and after the rename);
checksums of saved files (``checksums.json``), checked on load."""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# errors of a disk that is full or cannot be written: every command reports them in one line
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
CHECKSUMS = "checksums.json"


class DamagedFileError(ValueError):
    """A saved file that cannot be used: changed since it was saved (its sha256 differs from the
    one recorded), truncated, unreadable, or not matching its companion file; the message names it."""


def atomic_file(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, flush it to disk, rename it over
    ``path`` and flush the folder. A failed write leaves ``path`` as it was and no temporary file; an
    ``OSError`` that names no file (a full disk while writing) is raised again naming ``path``.
    The temporary file ``.<name>.tmp-<pid>-*`` names its process, so one that a killed writer left
    is removed by the next write of ``path`` (:func:`remove_stale_temporaries`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result is an ordinary file
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise named(e, path) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def named(e: OSError, path: str | Path) -> OSError:
    """``e``, or the same error naming ``path`` when it names no file."""
    if e.filename is not None or e.errno is None:
        return e
    return type(e)(e.errno, e.strerror or os.strerror(e.errno), str(path))


def fsync_file(path: str | Path) -> None:
    """Flush a written file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to the disk; a no-op where folders cannot be
    opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on folders
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_file(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (not atomic: for files inside an :class:`atomic_dir` or
    :func:`atomic_file`), naming ``path`` in the ``OSError`` of a full disk."""
    try:
        _write(Path(path), data)
    except OSError as e:
        raise named(e, path) from e
    return Path(path)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: str | Path, names: list[str]) -> Path:
    """Record the sha256 of ``folder/name`` for each name in ``folder/checksums.json`` (atomically)."""
    folder = Path(folder)
    doc = {"sha256": {name: sha256_file(folder / name) for name in names}}
    return atomic_write_text(folder / CHECKSUMS, json.dumps(doc, indent=2) + "\n")


def verify_checksums(folder: str | Path, names: list[str] | None = None) -> bool:
    """Check the files recorded in ``folder/checksums.json`` (or only ``names`` of them) against
    their sha256. Returns False when the folder records none (saved by an earlier dsvae).

    Raises :class:`DamagedFileError` naming the first file that is missing or differs."""
    folder = Path(folder)
    path = folder / CHECKSUMS
    if not path.exists():
        return False
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DamagedFileError(f"{path} is unreadable ({type(e).__name__}: {e})") from e
    for name, sha in recorded.items():
        if names is not None and name not in names:
            continue
        file = folder / name
        if not file.exists():
            raise DamagedFileError(f"{file} is missing (recorded in {path})")
        if sha256_file(file) != sha:
            raise DamagedFileError(
                f"{file} is damaged: its sha256 differs from the one recorded when it was saved "
                f"({path}; a hard shutdown or a bad copy changes a file like this)"
            )
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_file(path, lambda p: _write(p, data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_file` of ``text`` in UTF-8, whatever the locale (a C or Windows locale's
    encoding cannot write the ± of metrics.md, and another machine would read the file as UTF-8)."""
    return atomic_file(path, lambda p: p.write_text(text, encoding="utf-8"))


class atomic_dir:
    """``with atomic_dir(out, force) as tmp:`` write into ``tmp``; on success it becomes ``out``.
    An existing ``out`` is refused unless ``force``; on error (or an interruption that raises, as
    Ctrl-C does) nothing is left behind and an existing ``out`` is untouched. Between the two
    renames that replace an existing ``out`` it is kept as ``.<name>.old`` (see :func:`recover_dir`).
    The work folder ``.<name>.partial-<pid>-*`` names its process, so partial folders that a killed
    build left beside ``out`` are removed by the next one (:func:`remove_stale_temporaries`)."""

    def __init__(self, out: str | Path, force: bool = False) -> None:
        self.out = Path(out)
        self.force = force

    def __enter__(self) -> Path:
        if self.out.exists() and not self.force:
            raise FileExistsError(f"{self.out} exists; pass --force (force=True) to replace it")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.out.parent, self.out.name)
        self.tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.out.name}.partial-{os.getpid()}-", dir=self.out.parent)
        )
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a dataset folder is shared like any other
        return self.tmp

    def _final(self, filename) -> str:
        """A file in the work folder -> its name in ``out``; no file -> ``out``."""
        if filename is None:
            return str(self.out)
        name = os.fsdecode(filename)
        tmp = str(self.tmp)
        return str(self.out) + name[len(tmp) :] if name == tmp or name.startswith(tmp + os.sep) else name

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno is not None:
                target = self._final(exc.filename)
                if target != exc.filename:  # a full disk: say where, as the file will be named
                    raise type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), target) from exc
            return False
        try:
            for folder, _, files in os.walk(self.tmp):
                for name in files:
                    fsync_file(os.path.join(folder, name))
                fsync_dir(folder)
        except OSError as e:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise named(e, self.out) from e
        old = self.out.parent / f".{self.out.name}.old"
        if self.out.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        fsync_dir(self.out.parent)
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


# the work files of the atomic writers: .<name>.partial-<pid>-* folders (atomic_dir) and
# .<name>.tmp-<pid>-* files (atomic_file); earlier versions named no process: .<name>.partial-*
# folders and mkstemp's .<name>.XXXXXXXX files (8 characters of [a-z0-9_])
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<kind>partial|tmp)-(?:(?P<pid>\d+)-)?.*", re.DOTALL)
_LEGACY_TMP_FILE = re.compile(r"\.(?P<name>[^/]+\.[A-Za-z0-9]+)\.[a-z0-9_]{8}")


def _temporary_of(entry: Path) -> tuple[str, int | None] | None:
    """``(the name it was to become, its writer's pid or None)`` for a work file or folder of an
    atomic writer, None for anything else."""
    m = _TEMPORARY.fullmatch(entry.name)
    if m and (m["kind"] == "partial") == entry.is_dir():
        return m["name"], int(m["pid"]) if m["pid"] else None
    m = _LEGACY_TMP_FILE.fullmatch(entry.name)
    if m and entry.is_file() and not entry.is_symlink():
        return m["name"], None
    return None


def remove_stale_temporaries(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove the work files and folders of atomic writers (:func:`atomic_file`,
    :class:`atomic_dir`) in ``folder`` that writers which died (killed, power loss) left behind,
    only those of ``folder/name`` when ``name`` is given; say so on stderr. One whose process still
    runs (another writer of the same place) is reported and kept. Returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    pattern = f".{glob.escape(name)}.*" if name is not None else ".*"
    for entry in sorted(folder.glob(pattern)):
        found = _temporary_of(entry)
        if found is None or (name is not None and found[0] != name):
            continue
        target, pid = found
        if pid == os.getpid():
            continue
        what = "build" if entry.is_dir() else "write"
        if pid is not None and _alive(pid):
            print(f"note: {entry} belongs to a {what} still running (pid {pid}); left alone", file=sys.stderr)
            continue
        if entry.is_dir():
            size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            shutil.rmtree(entry, ignore_errors=True)
        else:
            size = entry.stat().st_size
            entry.unlink(missing_ok=True)
        print(
            f"note: removed {entry} ({size / 2**20:.1f} MiB), left by an interrupted {what} of "
            f"{folder / target}",
            file=sys.stderr,
        )
        removed.append(entry)
    return removed


def current_dir(out: str | Path) -> Path:
    """What a reader opens for an :class:`atomic_dir` ``out``: ``out``, or the previous version
    ``.<name>.old`` while a swap is between its two renames (or was interrupted there). Changes
    nothing: only the writer, which holds the place, may put the old version back
    (:func:`recover_dir`); a reader renaming it back inside a writer's swap breaks the writer's
    second rename ("Directory not empty")."""
    out = Path(out)
    old = out.parent / f".{out.name}.old"
    return old if not out.exists() and old.exists() else out


def recover_dir(out: str | Path) -> Path:
    """``out``, or the previous version kept by an :class:`atomic_dir` interrupted mid-swap, renamed
    back to ``out``. For the writer of ``out`` only (training holds the run's lock); readers use
    :func:`current_dir`."""
    out = Path(out)
    old = out.parent / f".{out.name}.old"
    if not out.exists() and old.exists():
        os.replace(old, out)
    return out


def tolerant_stdout() -> None:
    """Let ``print`` write any text to a stdout whose encoding cannot hold it (a C or POSIX locale,
    a Windows console page): such characters (the ± of the metrics) are written as backslash
    escapes instead of ending the command with UnicodeEncodeError. A UTF-8 stdout is left as it is."""
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "±→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def one_line(e: Exception, last: bool = False) -> str:
    """An exception as one line: its type and first line (or, ``last``, its first size mismatch)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if last:
        lines = [line for line in lines if "size mismatch" in line][:1] or lines
    return f"{type(e).__name__}: {lines[0] if lines else ''}"
