"""The one downloader and its cache folder (:mod:`dsvae.data.fetch`), on file:// URLs and a local
HTTP server: nothing is fetched from the network."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from dsvae.data import DatasetError, fetch, speech, sprites
from dsvae.data.fetch import DownloadError, cache_dir, download


def test_cache_dir_honours_dsvae_cache_then_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("DSVAE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and cache_dir("sprites") == tmp_path / "c" / "sprites"
    monkeypatch.delenv("DSVAE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir("sprites") == tmp_path / "x" / "dsvae" / "sprites"


def test_download_once_checks_sha256_and_leaves_no_partial_file(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 3_000_000)  # more than one chunk
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = tmp_path / "cache" / "a.bin"
    assert download(source.as_uri(), dest, sha256=sha) == dest and dest.read_bytes() == source.read_bytes()
    source.unlink()
    assert download(source.as_uri(), dest, sha256=sha) == dest  # reused, not fetched again
    other = tmp_path / "other.bin"
    other.write_bytes(b"y")
    with pytest.raises(DownloadError, match="sha256 is .* not the expected"):
        download(other.as_uri(), tmp_path / "cache" / "b.bin", sha256=sha)
    with pytest.raises(DownloadError, match=r"could not download .*offline\? get it elsewhere"):
        download((tmp_path / "gone").as_uri(), tmp_path / "cache" / "c.bin", advice="get it elsewhere")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["a.bin"]
    assert issubclass(DownloadError, DatasetError) and issubclass(DownloadError, RuntimeError)


def test_download_over_http_from_a_local_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "f.zip").write_bytes(b"zipped" * 1000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/f.zip"
        dest = download(url, tmp_path / "cache" / "f.zip")
        assert dest.read_bytes() == (served / "f.zip").read_bytes()
        with pytest.raises(DownloadError, match="404"):
            download(url.replace("f.zip", "missing.zip"), tmp_path / "cache" / "g.zip")
    finally:
        server.shutdown()
        server.server_close()


def test_sprites_and_fsdd_download_through_it_into_dsvae_cache(tmp_path, monkeypatch):
    """Both sources fetch with fetch.download into fetch.cache_dir, which honours DSVAE_CACHE."""
    monkeypatch.setenv("DSVAE_CACHE", str(tmp_path / "cache"))
    calls = []

    def fake(url, dest, **kw):
        calls.append((url, dest))
        with zipfile.ZipFile(dest, "w") as zf:
            zf.writestr("README.md", "nothing")
        return dest

    monkeypatch.setattr(sprites, "download", fake)
    monkeypatch.setattr(speech, "download", fake)
    with pytest.raises(DatasetError, match="lacks the sheets"):
        sprites.fetch_sheets("https://example.invalid/master.zip")
    with pytest.raises(DatasetError):
        speech.fsdd_recordings(None, url="https://example.invalid/master.zip")
    assert [d.parent for _, d in calls] == [tmp_path / "cache" / "sprites", tmp_path / "cache"]
    assert sprites.download is fake and fetch.download is not fake
