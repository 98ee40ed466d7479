"""SHA-256 of input files, remembered by file signature so an unchanged file is read once.

A file's *signature* is its size, mtime and ctime in nanoseconds, inode and device. On POSIX
systems any write to a file, and any change of its mtime, sets its ctime to the current time,
which programs cannot choose; so while the signature is the same the bytes are the same. A file
changed less than :data:`RACY_NS` before it was hashed is not remembered (a write in the same
clock tick could leave every field as it was).

The digests of one SOURCE are kept in one SQLite file under the user cache directory
(``input-digests/<SHA-256 of SOURCE's path>.sqlite``), never inside SOURCE or an output. A build
reads it and gathers what it uses in a database of its own, on disk too, so the build's process
does not grow with the number of SOURCE files (a dict held about 585 bytes a file). A cache that
cannot be read is ignored and rewritten; one that cannot be written only costs hashing next time.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from stactools_glofnet.core.cache import user_cache_dir
from stactools_glofnet.core.files import sha256_file
from stactools_glofnet.core.rundb import RunDatabase

RACY_NS: Final = 2_000_000_000
"""Files changed less than this long before being hashed are not remembered (2 s covers the
timestamp granularity of common file systems, FAT's included)."""
CACHE_FOLDER: Final = "input-digests"
VERSION: Final = 2
"""1: a JSON file; 2: a SQLite file (``PRAGMA user_version``)."""

Signature = tuple[int, int, int, int, int]
"""Size, mtime_ns, ctime_ns, inode, device."""
Digested = dict[str, tuple[Signature, str]]
"""``{path: (signature, sha256)}``."""


def signature(path: str | Path) -> Signature:
    """The signature of the file at ``path`` (following symbolic links, as reading it does)."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def is_settled(sig: Signature) -> bool:
    """Whether the file was last changed long enough ago for its signature to be trusted."""
    return max(sig[1], sig[2]) <= time.time_ns() - RACY_NS


def hash_files(
    paths: Iterable[str | Path], known: Mapping[str, tuple[Signature, str]]
) -> dict[str, tuple[Signature, str]]:
    """``{path: (signature, sha256)}`` of ``paths``, taking what ``known`` has for an unchanged file."""
    found: Digested = {}
    for path in paths:
        key = str(path)
        sig = signature(path)
        remembered = known.get(key)
        if remembered is not None and remembered[0] == sig:
            found[key] = remembered
        else:
            found[key] = (sig, sha256_file(Path(path)))
    return found


def unchanged_digests(
    paths: Iterable[str | Path], known: Mapping[str, tuple[Signature, str]]
) -> Digested | None:
    """What :func:`hash_files` gives, when ``known`` has every file with its current signature
    (nothing to read); None when a file would have to be hashed or cannot be found."""
    found: Digested = {}
    for path in paths:
        remembered = known.get(str(path))
        try:
            if remembered is None or remembered[0] != signature(path):
                return None
        except OSError:
            return None
        found[str(path)] = remembered
    return found


def cache_file(source: Path) -> Path:
    """Where the digests of the files of SOURCE ``source`` (an absolute path) are kept."""
    name = hashlib.sha256(os.fsencode(source)).hexdigest()[:32]
    return user_cache_dir() / CACHE_FOLDER / f"{name}.sqlite"


_TABLE = (
    "CREATE TABLE {schema}files (name TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
    "ctime_ns INTEGER, inode INTEGER, device INTEGER, sha256 TEXT) WITHOUT ROWID"
)
_SELECT = (
    "SELECT name, size, mtime_ns, ctime_ns, inode, device, sha256 FROM {schema}files WHERE name IN ({marks})"
)
_BATCH: Final = 500
"""Names looked up in one query (SQLite allows 32766 parameters)."""


class InputDigests:
    """The remembered digests of one SOURCE's files, on disk; thread-safe.

    What the last build remembered is read from its file; what this build uses or learns goes to a
    database in a temporary directory, which :meth:`save` puts in the file's place
    (:class:`~stactools_glofnet.core.rundb.RunDatabase`).
    """

    def __init__(self, path: Path | None) -> None:
        """Remember into ``path`` (nowhere when None)."""
        self.path = path
        self._run = RunDatabase(path, version=VERSION, tables=[_TABLE], what="digest cache")

    @classmethod
    def load(cls, source: Path) -> InputDigests:
        """The digests remembered for ``source``; none when there are none or they cannot be read."""
        digests = cls(cache_file(Path(os.path.abspath(source))))
        digests._run.attach([_SELECT.format(schema="stored.", marks="''")])
        return digests

    def known(self, paths: Iterable[str | Path]) -> dict[str, tuple[Signature, str]]:
        """What is remembered for ``paths`` (signatures not checked: :func:`hash_files` does)."""
        names = list(dict.fromkeys(map(str, paths)))
        found: dict[str, tuple[Signature, str]] = {}
        run = self._run
        with run.lock:
            for schema in ("", "stored.") if run.stored else ("",):
                missing = [name for name in names if name not in found]
                for start in range(0, len(missing), _BATCH):
                    batch = missing[start : start + _BATCH]
                    query = _SELECT.format(schema=schema, marks=", ".join("?" * len(batch)))
                    for name, *sig, sha in run.db.execute(query, batch):
                        found[name] = (tuple(sig), sha)
        return found

    def record(self, found: Mapping[str, tuple[Signature, str]]) -> None:
        """Remember ``found`` (from :func:`hash_files`) for the files that have settled."""
        rows = [(name, *sig, sha) for name, (sig, sha) in found.items() if is_settled(sig)]
        run = self._run
        with run.lock:
            run.db.execute("BEGIN")
            run.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            run.db.execute("COMMIT")

    def save(self) -> None:
        """Put what this run used or learned (older entries are dropped) in the file's place, atomically."""
        self._run.save()

    def close(self) -> None:
        """Close the databases and remove this run's (also done when the object is collected)."""
        self._run.close()
