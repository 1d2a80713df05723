"""``rts-publish serve``: the site on 127.0.0.1 with HTTP range requests, which the
PMTiles archives need (the page reads each tile's bytes from the archive).

The standard library's server answers whole files only; :class:`RangeHandler` adds
single ranges (``Range: bytes=a-b``, ``a-``, ``-n``) with 206 Partial Content, 416 for a
range past the end, and ``Accept-Ranges: bytes`` on every file. Only files under the
site folder are served (the base handler's path translation), on the loopback address.
"""

from __future__ import annotations

import functools
import http.server
import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".pmtiles": "application/vnd.pmtiles",
                      ".js": "text/javascript", ".json": "application/json",
                      ".parquet": "application/vnd.apache.parquet"}

    def send_head(self):
        path = self.translate_path(self.path)
        wanted = self.headers.get("Range")
        if wanted is None or os.path.isdir(path):
            return super().send_head()
        try:
            stream = open(path, "rb")  # noqa: SIM115 - handed to the base class, which closes it
        except OSError:
            self.send_error(404, "File not found")
            return None
        size = os.fstat(stream.fileno()).st_size
        span = parse_range(wanted, size)
        if span is None:
            stream.close()
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        start, end = span
        stream.seek(start)
        self.ranged = True
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return _Limited(stream, end - start + 1)

    ranged = False  # this response is a range (and says Accept-Ranges itself)

    def end_headers(self):
        if self.command in ("GET", "HEAD") and not self.ranged:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range within ``size``; None when it
    cannot be satisfied (or is not one plain range)."""
    match = _RANGE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last n bytes
        count = int(last)
        return (max(size - count, 0), size - 1) if count else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


class _Limited:
    """A file read up to ``remaining`` bytes (what ``copyfile`` sends for a range)."""

    def __init__(self, stream, remaining: int):
        self.stream, self.remaining = stream, remaining

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size < 0 else min(size, self.remaining)
        data = self.stream.read(size)
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        self.stream.close()


def make_server(site: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """The server (not yet serving) of ``site`` on 127.0.0.1:``port`` (0: any free port)."""
    handler = functools.partial(RangeHandler, directory=str(site))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
