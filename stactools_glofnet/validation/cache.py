"""Validation results remembered by the SHA-256 of the bytes validated, so a rebuild skips them.

Two pure functions of bytes are remembered: the schema check of a STAC document (only a
document that passed: a failing one is checked again, so its message is always fresh) and
rio-cogeo's errors and warnings for a COG. A changed byte changes the digest, so a changed file
is always checked again; lint and the other integrity checks always run.

An asset file's digest (the one its ``file:checksum`` is checked against) is remembered by the
file's signature, :func:`file_signature`: device, inode, size and mtime. A rebuild's files that
did not change are hard links to the same inodes, so they are not read again; any write changes
the mtime, and a file changed less than :data:`~stactools_glofnet.core.digests.RACY_NS` before it
was hashed is not remembered (a write in the same clock tick could leave every field as it was).
The ctime is left out because linking a file into the next build's staging directory sets it.

Both results also depend on the schemas and the software that judged them. A cache holds the
key of one schema set, :func:`validation_key`: SHA-256 over
:func:`~stactools_glofnet.core.software.software_digest` (this package, pystac, rio-cogeo,
rasterio, GDAL), the versions of :data:`VALIDATING_DISTRIBUTIONS` and
:meth:`~stactools_glofnet.core.schemas.OfflineFirstValidator.schemas_digest`. A caller loads with
the key of the schema directories it validates with::

    cache = ValidationCache.load(memo_store / "validation.sqlite")  # or schemas=schema_set_digest(...)
    validate_catalog(staging, schema_dirs, cache=cache)
    ...
    cache.save()  # after the build succeeded
    cache.close()

:func:`~stactools_glofnet.validation.catalog.check_catalog` computes the key again from the
validator it installs and empties a cache made under another (:meth:`ValidationCache.for_schemas`),
so a cache can never answer for other schemas or software, whatever key it was loaded with.

Never remembered, so checked every time: a document checked once the validator has had to read
a schema outside its pre-loaded set (fetched, or a relative extension URL pystac resolves beside
the document), which the key does not cover; a COG whose ``file:checksum`` is not a matching
SHA-256 multihash, or that has sidecar files GDAL would read with it
(:func:`~stactools_glofnet.validation.integrity.has_sidecars`); a file that is no GeoTIFF.

The results are a SQLite file (:class:`~stactools_glofnet.core.rundb.RunDatabase`): what the last
run kept is read from it, what this run uses or learns is gathered in a database of its own on
disk, so the process does not grow with the catalog (held in memory, the results took about
1.3 MiB a thousand COGs). The file holds only what the last run used or learnt, so it stays the
size of the catalog. A missing, unreadable or outdated file is an empty cache; one that cannot be
written costs only validating again next time.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from stactools_glofnet.core.digests import RACY_NS, signature
from stactools_glofnet.core.rundb import RunDatabase
from stactools_glofnet.core.schemas import OfflineFirstValidator, configured_schema_dirs
from stactools_glofnet.core.software import distribution_version, software_digest

VERSION: Final = 2
"""1: a JSON file; 2: a SQLite file (``PRAGMA user_version``)."""
VALIDATING_DISTRIBUTIONS: Final = ("jsonschema", "jsonschema-specifications", "referencing")
"""Libraries that judge documents besides those :func:`software_digest` names."""

MULTIHASH_DIGEST: Final = re.compile(r"[0-9a-f]{6,}")

CogResult = tuple[list[str], list[str]]
"""rio-cogeo's errors and warnings."""

_TABLES: Final = (
    "CREATE TABLE {schema}schemas (key TEXT NOT NULL)",
    "CREATE TABLE {schema}documents (sha256 TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE {schema}cogs (sha256 TEXT PRIMARY KEY, result TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE {schema}files (signature TEXT PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID",
)
_PROBES: Final = (
    "SELECT key FROM stored.schemas LIMIT 0",
    "SELECT sha256 FROM stored.documents LIMIT 0",
    "SELECT sha256, result FROM stored.cogs LIMIT 0",
    "SELECT signature, digest FROM stored.files LIMIT 0",
)


def validation_key(validator: OfflineFirstValidator) -> str:
    """The key of the results ``validator`` gives with this software."""
    sha = hashlib.sha256(software_digest().encode())
    for name in VALIDATING_DISTRIBUTIONS:
        sha.update(f"\n{name}=={distribution_version(name)}".encode())
    sha.update(f"\nschemas={validator.schemas_digest()}".encode())
    return sha.hexdigest()


def file_signature(path: Path, function: str) -> tuple[str, bool]:
    """The key of ``path``'s digest with multihash ``function`` (device, inode, size, mtime in
    nanoseconds), and whether it may be remembered (the file changed long enough ago)."""
    size, mtime_ns, _, inode, device = signature(path)
    key = f"{device}:{inode}:{size}:{mtime_ns}:{function.lower()}"
    return key, mtime_ns <= time.time_ns() - RACY_NS


def schema_set_digest(schema_dirs: Sequence[Path] = ()) -> str:
    """The :func:`validation_key` of validating with ``schema_dirs`` (as ``check_catalog`` takes them)."""
    return validation_key(OfflineFirstValidator(configured_schema_dirs(schema_dirs)))


def _cog_result(text: Any) -> CogResult | None:
    """``[errors, warnings]`` as the file holds them (JSON); None when it is not two lists of strings."""
    try:
        entry = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(e, list) for e in entry)):
        return None
    errors, warnings = entry
    if not all(isinstance(m, str) for m in [*errors, *warnings]):
        return None
    return list(errors), list(warnings)


def _file_digest(value: Any) -> str | None:
    return value if isinstance(value, str) and MULTIHASH_DIGEST.fullmatch(value) else None


class ValidationCache:
    """Remembered validation results under one schema key, on disk; records what a run uses.

    Thread-safe: the files of the next documents are read on a thread pool.
    """

    def __init__(self, path: Path | None, schemas: str) -> None:
        """An empty cache for key ``schemas``, saved to ``path`` (nowhere when None)."""
        self.path = path
        self.schemas = schemas
        self._run = RunDatabase(path, version=VERSION, tables=_TABLES, what="validation cache")

    @classmethod
    def load(cls, path: Path, schemas: str | None = None) -> ValidationCache:
        """The results in ``path`` made under key ``schemas``; empty when there are none.

        Without ``schemas``, the results are taken under the key they were saved with, for
        :func:`~stactools_glofnet.validation.catalog.check_catalog` to check against the
        validator it installs (:meth:`for_schemas`).
        """
        cache = cls(path, schemas or "")
        run = cache._run
        if not run.attach(_PROBES):
            return cache
        keys = [key for (key,) in run.db.execute("SELECT key FROM stored.schemas")]
        stored = keys[0] if len(keys) == 1 and isinstance(keys[0], str) else None
        if schemas is None and stored is not None:
            cache.schemas = stored
        if stored != cache.schemas:
            run.detach()
        return cache

    def for_schemas(self, schemas: str) -> None:
        """Hold results of key ``schemas`` from now on: forget everything if it is another key."""
        if schemas == self.schemas:
            return
        self.schemas = schemas
        self._run.detach()
        with self._run.lock:
            for table in ("documents", "cogs", "files"):
                self._run.db.execute(f"DELETE FROM {table}")

    def _remembered(self, table: str, key: str) -> tuple[Any, ...] | None:
        """The row of ``table`` under ``key``: this run's, or the last run's (then copied into this run's)."""
        run = self._run
        column = "signature" if table == "files" else "sha256"
        query = f"SELECT * FROM {{schema}}{table} WHERE {column} = ?"
        with run.lock:
            row: tuple[Any, ...] | None = run.db.execute(query.format(schema=""), (key,)).fetchone()
            if row is None and run.stored:
                row = run.db.execute(query.format(schema="stored."), (key,)).fetchone()
                if row is not None and self._well_formed(table, row):
                    marks = ", ".join("?" * len(row))
                    run.db.execute(f"INSERT INTO {table} VALUES ({marks})", row)
        return row

    @staticmethod
    def _well_formed(table: str, row: tuple[Any, ...]) -> bool:
        if table == "cogs":
            return _cog_result(row[1]) is not None
        if table == "files":
            return _file_digest(row[1]) is not None
        return True

    def _add(self, table: str, *row: str) -> None:
        marks = ", ".join("?" * len(row))
        with self._run.lock:
            self._run.db.execute(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", row)

    def valid_document(self, sha256: str) -> bool:
        """Whether a document with these bytes passed the schema check (and mark it used)."""
        return self._remembered("documents", sha256) is not None

    def add_valid_document(self, sha256: str) -> None:
        """Remember that a document with these bytes passed the schema check."""
        self._add("documents", sha256)

    def cog(self, sha256: str) -> CogResult | None:
        """rio-cogeo's errors and warnings for a file with these bytes, if known (and mark it used)."""
        row = self._remembered("cogs", sha256)
        return None if row is None else _cog_result(row[1])

    def add_cog(self, sha256: str, errors: Sequence[str], warnings: Sequence[str]) -> None:
        """Remember rio-cogeo's errors and warnings for a file with these bytes."""
        self._add("cogs", sha256, json.dumps([list(errors), list(warnings)]))

    def file_digest(self, signature: str) -> str | None:
        """The multihash of the file with this :func:`file_signature`, if known (and mark it used)."""
        row = self._remembered("files", signature)
        return None if row is None else _file_digest(row[1])

    def add_file_digest(self, signature: str, digest: str) -> None:
        """Remember the multihash of the file with this :func:`file_signature`."""
        self._add("files", signature, digest)

    def save(self) -> None:
        """Write what this run used or learnt (nothing else), atomically; a failure is only logged."""
        run = self._run
        with run.lock:
            run.db.execute("DELETE FROM schemas")
            run.db.execute("INSERT INTO schemas VALUES (?)", (self.schemas,))
        run.save()

    def close(self) -> None:
        """Close the databases and remove this run's (also done when the object is collected)."""
        self._run.close()
