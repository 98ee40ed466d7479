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

    cache = ValidationCache.load(memo_store / "validation.json")  # or schemas=schema_set_digest(...)
    validate_catalog(staging, schema_dirs, cache=cache)
    ...
    cache.save()  # after the build succeeded

:func:`~stactools_glofnet.validation.catalog.check_catalog` computes the key again from the
validator it installs and empties a cache made under another (:meth:`ValidationCache.for_schemas`),
so a cache can never answer for other schemas or software, whatever key it was loaded with.

Never remembered, so checked every time: a document checked once the validator has had to read
a schema outside its pre-loaded set (fetched, or a relative extension URL pystac resolves beside
the document), which the key does not cover; a COG whose ``file:checksum`` is not a matching
SHA-256 multihash, or that has sidecar files GDAL would read with it
(:func:`~stactools_glofnet.validation.integrity.has_sidecars`); a file that is no GeoTIFF.

The file holds only what the last run used or learnt, so it stays the size of the catalog. A
missing, unreadable or outdated file is an empty cache; one that cannot be written costs only
validating again next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from stactools_glofnet.core.digests import RACY_NS, signature
from stactools_glofnet.core.files import replace_text
from stactools_glofnet.core.schemas import OfflineFirstValidator, configured_schema_dirs
from stactools_glofnet.core.software import distribution_version, software_digest

logger = logging.getLogger(__name__)

VERSION: Final = 1
VALIDATING_DISTRIBUTIONS: Final = ("jsonschema", "jsonschema-specifications", "referencing")
"""Libraries that judge documents besides those :func:`software_digest` names."""

SHA256: Final = re.compile(r"[0-9a-f]{64}")
MULTIHASH_DIGEST: Final = re.compile(r"[0-9a-f]{6,}")
SIGNATURE: Final = re.compile(r"\d+:\d+:\d+:\d+:[0-9a-f]+")

CogResult = tuple[list[str], list[str]]
"""rio-cogeo's errors and warnings."""


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


def _cog_result(entry: Any) -> CogResult | None:
    """``[errors, warnings]`` from the file as a result; None when it is not two lists of strings."""
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(e, list) for e in entry)):
        return None
    errors, warnings = entry
    if not all(isinstance(m, str) for m in [*errors, *warnings]):
        return None
    return list(errors), list(warnings)


class ValidationCache:
    """Remembered validation results under one schema key; records what a run uses."""

    def __init__(self, path: Path, schemas: str) -> None:
        """An empty cache for key ``schemas``, saved to ``path``."""
        self.path = path
        self.schemas = schemas
        self._documents: set[str] = set()
        self._cogs: dict[str, CogResult] = {}
        self._used_documents: set[str] = set()
        self._used_cogs: dict[str, CogResult] = {}
        self._files: dict[str, str] = {}
        self._used_files: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path, schemas: str | None = None) -> ValidationCache:
        """The results in ``path`` made under key ``schemas``; empty when there are none.

        Without ``schemas``, the results are taken under the key they were saved with, for
        :func:`~stactools_glofnet.validation.catalog.check_catalog` to check against the
        validator it installs (:meth:`for_schemas`).
        """
        cache = cls(path, schemas or "")
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return cache
        except (OSError, ValueError) as error:
            logger.warning("ignoring the unreadable validation cache %s: %s", path, error)
            return cache
        if schemas is None and isinstance(data, dict) and isinstance(data.get("schemas"), str):
            cache.schemas = data["schemas"]
        outdated = not isinstance(data, dict) or data.get("version") != VERSION
        if outdated or data.get("schemas") != cache.schemas:
            logger.debug("ignoring the validation cache %s: another version, schema set or software", path)
            return cache
        documents, cogs, files = data.get("documents"), data.get("cogs"), data.get("files")
        if isinstance(files, dict):
            cache._files = {
                signature: digest
                for signature, digest in files.items()
                if SIGNATURE.fullmatch(signature)
                and isinstance(digest, str)
                and MULTIHASH_DIGEST.fullmatch(digest)
            }
        if isinstance(documents, list):
            cache._documents = {d for d in documents if isinstance(d, str) and SHA256.fullmatch(d)}
        if isinstance(cogs, dict):
            for digest, entry in cogs.items():
                result = _cog_result(entry)
                if result is not None and SHA256.fullmatch(digest):
                    cache._cogs[digest] = result
        return cache

    def for_schemas(self, schemas: str) -> None:
        """Hold results of key ``schemas`` from now on: forget everything if it is another key."""
        if schemas == self.schemas:
            return
        logger.debug("the validation cache %s was made with other schemas or software", self.path)
        self.schemas = schemas
        for remembered in (
            self._documents,
            self._cogs,
            self._used_documents,
            self._used_cogs,
            self._files,
            self._used_files,
        ):
            remembered.clear()

    def valid_document(self, sha256: str) -> bool:
        """Whether a document with these bytes passed the schema check (and mark it used)."""
        if sha256 in self._documents or sha256 in self._used_documents:
            self._used_documents.add(sha256)
            return True
        return False

    def add_valid_document(self, sha256: str) -> None:
        """Remember that a document with these bytes passed the schema check."""
        self._used_documents.add(sha256)

    def cog(self, sha256: str) -> CogResult | None:
        """rio-cogeo's errors and warnings for a file with these bytes, if known (and mark it used)."""
        result = self._used_cogs.get(sha256, self._cogs.get(sha256))
        if result is None:
            return None
        self._used_cogs[sha256] = result
        return list(result[0]), list(result[1])

    def add_cog(self, sha256: str, errors: Sequence[str], warnings: Sequence[str]) -> None:
        """Remember rio-cogeo's errors and warnings for a file with these bytes."""
        self._used_cogs[sha256] = (list(errors), list(warnings))

    def file_digest(self, signature: str) -> str | None:
        """The multihash of the file with this :func:`file_signature`, if known (and mark it used)."""
        digest = self._used_files.get(signature, self._files.get(signature))
        if digest is not None:
            self._used_files[signature] = digest
        return digest

    def add_file_digest(self, signature: str, digest: str) -> None:
        """Remember the multihash of the file with this :func:`file_signature`."""
        self._used_files[signature] = digest

    def save(self) -> None:
        """Write what this run used or learnt (nothing else), atomically; a failure is only logged."""
        data = {
            "version": VERSION,
            "schemas": self.schemas,
            "documents": sorted(self._used_documents),
            "cogs": {digest: [*result] for digest, result in sorted(self._used_cogs.items())},
            "files": dict(sorted(self._used_files.items())),
        }
        try:
            replace_text(self.path, json.dumps(data, separators=(",", ":")))
        except OSError as error:
            logger.warning("could not save the validation cache %s: %s", self.path, error)
