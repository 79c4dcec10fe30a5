"""Progress bars that suit where they are written.

On a terminal, tqdm's bar as usual. When stderr is not a terminal (nohup, CI, a batch scheduler's
log file), a carriage-return stream would grow the log by megabytes: there the bar prints a whole
line instead, at most once every ``log_interval`` seconds (default 60, ``DSVAE_LOG_INTERVAL``) and
once at the end.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from tqdm import tqdm


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Lines:
    """A stream that passes whole lines and drops tqdm's bare carriage returns and newlines."""

    def __init__(self, fp) -> None:
        self.fp = fp

    def write(self, s: str) -> None:
        if s.strip("\r\n "):
            self.fp.write(s)

    def flush(self) -> None:
        getattr(self.fp, "flush", lambda: None)()


class LineBar(tqdm):
    """tqdm that writes one full line per refresh (for log files), never a carriage return."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["file"] = _Lines(kwargs.get("file") or sys.stderr)
        super().__init__(*args, **kwargs)

    _closing = False  # set by close(): its final line is always written

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        # at most one line per ``mininterval`` seconds, whoever asks for a refresh (set_postfix,
        # refresh()), except the first line, the last (closing) one and a finished bar's
        now = self._time()
        finished = self.total is not None and self.n >= self.total
        last = getattr(self, "_last_print", None)
        if last is not None and not finished and not self._closing and now - last < self.mininterval:
            return True
        line = (self.__str__() if msg is None else msg).strip("\r\n ")
        if line and line != getattr(self, "_last_line", None):
            self._last_line = line
            self._last_print = now
            self.fp.write(line + "\n")
            self.fp.flush()
        return True

    def close(self) -> None:
        self._closing = True
        super().close()


def progress(iterable=None, *, log_interval: float | None = None, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on a terminal; a :class:`LineBar` with one line at most every
    ``log_interval`` seconds elsewhere."""
    if stderr_is_terminal():
        return tqdm(iterable, **kwargs)
    if log_interval is None:
        log_interval = float(os.environ.get("DSVAE_LOG_INTERVAL", "60"))
    kwargs.pop("dynamic_ncols", None)
    kwargs.update(mininterval=log_interval, maxinterval=max(log_interval, 10.0), ncols=100, ascii=True)
    return LineBar(iterable, **kwargs)


class Stopwatch:
    """Wall-clock seconds of the named parts of a long job (``with watch.part("DCI"): ...``), in
    the order they ran: ``watch.seconds`` ``{name: s}``; a part run twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


__all__ = ["LineBar", "Stopwatch", "progress", "stderr_is_terminal"]
