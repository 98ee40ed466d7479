"""Whether DEST is already what a build would make: the record of the last build into it.

The record (``build.json`` in DEST's memo store, beside DEST) holds the build's *key* and the
signature of every file the build wrote. The key covers the software, the catalog content, the
build settings that shape the output, and the signature (path, size, mtime, ctime, inode) of
every SOURCE file, so any change to an input (even a ``touch``) makes a new key, and the build
then runs, reusing unchanged jobs (:mod:`stactools_glofnet.core.memo`). When the key is the same and
every file of DEST still has its recorded signature, DEST is current and nothing is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from stactools_glofnet.core.digests import signature
from stactools_glofnet.core.files import replace_text
from stactools_glofnet.core.output import MARKER, input_files
from stactools_glofnet.core.software import software_digest

logger = logging.getLogger(__name__)

RECORD: Final = "build.json"
VERSION: Final = 1
OWN_FILES: Final = ".glofnet-"
"""Lock files and the like this tool keeps beside an output (never inputs)."""


def source_files(directory: Path) -> Iterator[str]:
    """Every input file under ``directory`` as a path string, in sorted order, as found: not in an
    output, not this tool's own files (:func:`~stactools_glofnet.core.output.input_files`)."""
    return (path for path in input_files(directory) if not os.path.basename(path).startswith(OWN_FILES))


def build_key(sources: Sequence[Path], values: Sequence[str]) -> str:
    """The key of a build from ``sources`` with ``values`` (content digest, kind, settings)."""
    sha = hashlib.sha256(json.dumps([VERSION, software_digest(), list(values)]).encode())
    for source in sources:
        base = os.path.abspath(source)
        sha.update(f"\n{base}".encode())
        if os.path.isfile(base):
            sha.update(f"\n {signature(base)}".encode())
            continue
        for path in source_files(Path(base)):
            sha.update(f"\n{path[len(base) + 1 :]} {signature(path)}".encode())
    sha.update(f"\nSOURCE_DATE_EPOCH={os.environ.get('SOURCE_DATE_EPOCH', '')}".encode())
    return sha.hexdigest()


def _signatures(directory: Path) -> dict[str, list[int]]:
    """``{relative path: [size, mtime_ns, ctime_ns, inode]}`` of every file the build wrote."""
    found: dict[str, list[int]] = {}
    for current, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        here = Path(current)
        for name in sorted(filenames):
            path = here / name
            relative = path.relative_to(directory).as_posix()
            if relative != MARKER:
                found[relative] = list(signature(path)[:4])
    return found


def read_record(store: Path) -> dict[str, object] | None:
    """The record of the last build, or None when there is none that can be read."""
    try:
        data = json.loads((store / RECORD).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == VERSION else None


def is_current(store: Path, dest: Path, key: str) -> list[str] | None:
    """The collection ids of DEST when it is what a build with ``key`` makes; otherwise None."""
    record = read_record(store)
    if record is None or record.get("key") != key or not dest.is_dir():
        return None
    if _signatures(dest) != record.get("files"):
        logger.info("%s: changed since the last build; rebuilding", dest)
        return None
    collections = record.get("collections")
    return [str(c) for c in collections] if isinstance(collections, list) else None


def forget(store: Path) -> None:
    """Remove the record, so the next build runs whatever DEST holds."""
    (store / RECORD).unlink(missing_ok=True)


def write_record(store: Path, output: Path, key: str, collections: Sequence[str]) -> None:
    """Record that ``output`` (DEST, just installed) is the build with ``key``."""
    data = {"version": VERSION, "key": key, "collections": list(collections), "files": _signatures(output)}
    replace_text(store / RECORD, json.dumps(data, separators=(",", ":")))
