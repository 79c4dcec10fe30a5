"""The one downloader of dataset sources and its cache folder.

Sources that are fetched (the Sprites sheets' repository archive, the FSDD recordings' archive) are
downloaded once into :func:`cache_dir` and reused from there. A download is written to a temporary
file beside its destination, flushed to disk and renamed, so a file in the cache is complete; where
the source's sha256 is known it is checked before the rename.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .._io import fsync_dir, fsync_file, sha256_file
from ..progress import progress
from .base import DatasetError

CHUNK_BYTES = 1 << 20


class DownloadError(DatasetError, RuntimeError):
    """A source that could not be downloaded (offline, gone, not the expected bytes); the message
    says what to do instead. A :class:`DatasetError` (the data cannot be had) and a RuntimeError."""


def cache_dir(*parts: str) -> Path:
    """The download cache: ``$DSVAE_CACHE``, else ``$XDG_CACHE_HOME/dsvae``, else ``~/.cache/dsvae``,
    joined with ``parts`` (e.g. ``cache_dir("sprites")``). Not created here."""
    if os.environ.get("DSVAE_CACHE"):
        root = Path(os.environ["DSVAE_CACHE"])
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dsvae"
    return root.joinpath(*parts)


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    desc: str | None = None,
    advice: str = "",
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` (http(s) or file://) into ``dest`` once: an existing ``dest`` is reused (when
    ``sha256`` is given, only if it matches; else it is fetched again). Shows a progress bar in bytes
    (``desc``, default "download <name>"). Returns ``dest``.

    Raises :class:`DownloadError` when the URL cannot be read (the message: the URL, the reason, then
    ``advice``: how to get the data otherwise) or the bytes' sha256 differs from ``sha256``; either
    way no partial or wrong file is left."""
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.partial-", dir=dest.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress(
                total=total, unit="B", unit_scale=True, desc=desc or f"download {dest.name}"
            ) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    fh.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if sha256 is not None and digest.hexdigest() != sha256:
            raise DownloadError(
                f"{url} was downloaded but its sha256 is {digest.hexdigest()}, not the expected "
                f"{sha256} (a changed or damaged source); nothing was kept. {advice}".rstrip()
            )
        fsync_file(tmp)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except OSError as e:  # urllib.error.URLError and timeouts are OSErrors
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, urllib.error.HTTPError):  # the server answered: the address is wrong or gone
            why = f"HTTP {e.code} {e.reason})"
        else:
            why = f"{e.reason if isinstance(e, urllib.error.URLError) else e}): offline?"
        raise DownloadError(f"could not download {url} ({why} {advice}".rstrip()) from e
    except BaseException:  # an interrupted download (Ctrl-C) leaves no partial file either
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
