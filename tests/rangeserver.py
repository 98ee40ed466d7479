"""A static HTTP file server on 127.0.0.1 that answers Range (and If-Range) requests and counts
what it sends.

Providers serve COGs from object storage, which answers ``Range: bytes=a-b`` with 206; GDAL reads
a COG's header and then only the tiles a window needs. This server does the same for a local
directory (the query string is ignored, as object storage ignores a SAS token it does not check),
counts the body bytes sent per path, and can be told to go down after a number of requests, the
way a provider's endpoint drops out in the middle of a download.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RangeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the counters, not a log."""

    def do_HEAD(self) -> None:
        """Headers of a file, as for GET."""
        self._answer(body=False)

    def do_GET(self) -> None:
        """A whole file (200) or one byte range of it (206)."""
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        owner = self.server.owner
        if not owner.admit():
            # Down: drop the connection without an answer, as a vanished endpoint does.
            self.close_connection = True
            return
        relative = unquote(urlparse(self.path).path).lstrip("/")
        path = (owner.root / relative).resolve()
        if owner.root not in path.parents or not path.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        stat = path.stat()
        size = stat.st_size
        etag = f'"{size:x}-{stat.st_mtime_ns:x}"'
        start, end = 0, size - 1
        status = HTTPStatus.OK
        header = self.headers.get("Range")
        if header and self.headers.get("If-Range") not in (None, etag):
            header = None  # the file changed since the client's first part: send it whole (RFC 9110)
        if header:
            match = RANGE.match(header.strip())
            if match is None or (not match[1] and not match[2]):
                self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                return
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:
                start = max(0, size - int(match[2]))
            if start >= size or end < start:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = HTTPStatus.PARTIAL_CONTENT
        length = end - start + 1
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", str(length))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        with path.open("rb") as file:
            file.seek(start)
            data = file.read(length)
        cut = owner.take_cut()
        if cut is not None:
            # The endpoint vanishes part-way through the body: the client gets a short read.
            data = data[:cut]
            self.close_connection = True
        self.wfile.write(data)
        self.wfile.flush()
        owner.count(relative, len(data))
        if cut is not None:
            owner.go_down_now()


class RangeServer:
    """Serve ``root`` at ``http://127.0.0.1:PORT/``; restartable on the same port."""

    def __init__(self, root: Path, port: int) -> None:
        """Prepare (but do not start) a server for the files under ``root``."""
        self.root = root.resolve()
        self.port = port
        self.sent: Counter[str] = Counter()
        self.requests = 0
        self._budget: int | None = None
        self._cut: int | None = None
        self._back_after: float | None = None
        self._down = False
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._outage_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, with a trailing slash."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Listen and serve in a background thread (once an outage under way has stopped it)."""
        if self._outage_thread is not None and self._outage_thread is not threading.current_thread():
            self._outage_thread.join(timeout=10)
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.owner = self
        self._down = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; open connections get no further answers."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def go_down_after(self, requests: int, *, back_after: float | None = None) -> None:
        """Answer ``requests`` more requests, then stop listening (a provider outage); listen
        again ``back_after`` seconds later, if given."""
        with self._lock:
            self._budget = requests
            self._back_after = back_after

    def cut_next_body(self, after_bytes: int) -> None:
        """Send only ``after_bytes`` of the next body, then stop listening (until :meth:`start`)."""
        with self._lock:
            self._cut = after_bytes

    def take_cut(self) -> int | None:
        """The cut planned for this body, if any (once)."""
        with self._lock:
            cut, self._cut = self._cut, None
            return cut

    def go_down_now(self) -> None:
        """Stop answering at once; stop listening in the background."""
        with self._lock:
            self._down = True
            self._outage_thread = threading.Thread(target=self._outage, args=(None,), daemon=True)
        self._outage_thread.start()

    def _outage(self, back_after: float | None) -> None:
        self.stop()
        if back_after is not None:
            time.sleep(back_after)
            self.start()

    def admit(self) -> bool:
        """Whether to answer the next request (counting it against a budget, if one is set)."""
        with self._lock:
            if self._server is None or self._down:
                return False
            if self._budget is not None:
                if self._budget <= 0:
                    self._down = True
                    self._budget = None
                    outage = threading.Thread(target=self._outage, args=(self._back_after,), daemon=True)
                    outage.start()
                    return False
                self._budget -= 1
            self.requests += 1
            return True

    def count(self, path: str, sent: int) -> None:
        """Add ``sent`` body bytes to ``path``'s counter."""
        with self._lock:
            self.sent[path] += sent

    def reset(self) -> None:
        """Zero the counters."""
        with self._lock:
            self.sent.clear()
            self.requests = 0
