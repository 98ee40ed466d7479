"""Whole files over HTTP (requests): resumed with a Range request after a break, verified, renamed.

Bytes arrive in a hidden ``.<name>.partial`` beside the final name, which only a complete,
verified file ever takes. After a break (a dropped connection, a killed run) the next attempt asks
only for the rest, ``Range: bytes=<have>-``; a server that answers 200 (no range support) sends
the whole file again, and an answer that does not continue where the partial file ends restarts
it. The first answer's validator (its strong ``ETag``, else ``Last-Modified``) is kept beside the
partial file and sent as ``If-Range`` when resuming, so a file that changed on the server in
between comes back whole (200) instead of being spliced onto the old bytes. The file is complete
when it has the size the server announced (``Content-Length`` or the total of ``Content-Range``)
and passes the caller's check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Final

import requests
import urllib3

from stactools_glofnet.acquire.hrefs import public_href
from stactools_glofnet.core.errors import GlofnetError

PARTIAL_SUFFIX: Final = ".partial"
VALIDATOR_SUFFIX: Final = ".validator"
CHUNK_BYTES: Final = 1 << 20
TIMEOUT_S: Final = (10.0, 120.0)
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class IncompleteDownload(OSError):
    """The connection ended before the announced size arrived (transient: the next try resumes)."""


def partial_path(path: Path) -> Path:
    """Where ``path`` is downloaded to until it is complete."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def validator_path(path: Path) -> Path:
    """Where the validator of ``path``'s partial download is kept."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}{VALIDATOR_SUFFIX}")


def _validator(response: requests.Response) -> str | None:
    """What identifies this version of the file for ``If-Range``: a strong ETag, else Last-Modified."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _announced(response: requests.Response, have: int) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size (None if not announced)."""
    if response.status_code == 206:
        match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None:
            raise IncompleteDownload(f"206 without a usable Content-Range for {response.url}")
        total = None if match[3] == "*" else int(match[3])
        return int(match[1]), total
    length = response.headers.get("Content-Length")
    return 0, None if length is None else int(length)


def download(
    session: requests.Session,
    url: str,
    path: Path,
    *,
    verify: Callable[[Path], str | None] = lambda _: None,
    on_bytes: Callable[[int], None] = lambda _: None,
) -> int:
    """Fetch ``url`` (or what is missing of it) into ``path``; return the bytes received now.

    ``verify(partial)`` returns why a complete download is unusable (or None); such a file is
    removed and the error raised is not retried. Transient failures raise ``requests`` errors
    or :class:`IncompleteDownload` with what arrived kept for the next try.
    """
    partial, validator = partial_path(path), validator_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    if have and validator.is_file():
        headers["If-Range"] = validator.read_text(encoding="ascii").strip()
    received = 0
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
        if response.status_code == 416 and have:
            # Nothing after what we have: the partial file may be whole, or longer than the file.
            partial.unlink()
            raise IncompleteDownload(f"the partial download of {path.name} did not fit the file; restarting")
        response.raise_for_status()
        start, total = _announced(response, have)
        if start not in (0, have):
            partial.unlink()
            raise IncompleteDownload(f"the server resumed at byte {start}, not {have}; restarting")
        if start == 0:
            # A new download (or the server's whole, changed file): remember which version it is.
            version = _validator(response)
            if version is None:
                validator.unlink(missing_ok=True)
            else:
                validator.write_text(version, encoding="ascii")
        with open(partial, "ab" if start else "wb") as file:
            try:
                # read1 hands over what has arrived, so a connection that breaks keeps what came.
                while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
                    file.write(chunk)
                    received += len(chunk)
                    on_bytes(len(chunk))
            except urllib3.exceptions.HTTPError as error:
                raise IncompleteDownload(
                    f"{path.name}: the connection broke ({type(error).__name__})"
                ) from None
            finally:
                file.flush()
                os.fsync(file.fileno())
    size = partial.stat().st_size
    if total is not None and size != total:
        if size > total:
            partial.unlink()
        raise IncompleteDownload(f"{path.name}: {size} of {total} bytes arrived")
    problem = verify(partial)
    if problem is not None:
        with suppress(FileNotFoundError):
            partial.unlink()
        raise GlofnetError(public_href(url), problem)
    os.replace(partial, path)
    validator.unlink(missing_ok=True)
    return received
