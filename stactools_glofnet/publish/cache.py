"""A local cache of file digests, so a republish does not read unchanged files again.

One JSON file per catalog directory under the user cache directory (see
:func:`stactools_glofnet.core.cache.user_cache_dir`), never inside the catalog:
``publish-digests/<SHA-256 of the directory's path>.json``. For each published file it records
the file's *signature* (size, mtime and ctime in nanoseconds, inode, device), the multipart part
size its ETag was computed for, its SHA-256 and that ETag.

An entry is trusted only while the signature is the same. On POSIX systems writing to a file or
restoring its mtime (``touch -d``, ``os.utime``) both set its ctime to the current time, which
programs cannot choose, so any change to a file since it was hashed is seen; a copy or a rebuild
gives new inodes. A file whose mtime or ctime is less than :data:`RACY_NS` before the moment it was
hashed is not recorded, since a write in the same clock tick could leave every field as it was.
A cache that cannot be read is ignored (with a warning) and rewritten; one that cannot be written
only costs hashing next time. Deleting the directory clears it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Final

from stactools_glofnet.core.cache import user_cache_dir
from stactools_glofnet.core.digests import RACY_NS, Signature, signature
from stactools_glofnet.core.files import replace_text
from stactools_glofnet.publish.digest import Digest

logger = logging.getLogger(__name__)

VERSION: Final = 1
CACHE_FOLDER: Final = "publish-digests"
__all__ = ["CACHE_FOLDER", "RACY_NS", "VERSION", "DigestCache", "Signature", "cache_file", "signature"]


def cache_file(directory: Path) -> Path:
    """Where the digests of the catalog directory ``directory`` (an absolute path) are kept."""
    name = hashlib.sha256(os.fsencode(directory)).hexdigest()[:32]
    return user_cache_dir() / CACHE_FOLDER / f"{name}.json"


def _entry(value: Any) -> tuple[Signature, int, Digest] | None:
    """An entry as stored (``[size, mtime_ns, ctime_ns, inode, device, part_size, sha256, etag]``)."""
    if not (isinstance(value, list) and len(value) == 8):
        return None
    *numbers, sha256, etag = value
    if not all(type(n) is int for n in numbers) or not (isinstance(sha256, str) and isinstance(etag, str)):
        return None
    size, mtime, ctime, inode, device, part_size = numbers
    return (size, mtime, ctime, inode, device), part_size, Digest(size, sha256, etag)


class DigestCache:
    """The recorded digests of one catalog directory; thread-safe."""

    def __init__(self, path: Path | None, directory: Path) -> None:
        """An empty cache saved to ``path`` (nowhere when None)."""
        self.path = path
        self.directory = directory
        self._stored: dict[str, Any] = {}
        self._kept: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.hits = 0

    @classmethod
    def load(cls, directory: Path, *, enabled: bool = True) -> DigestCache:
        """The cache of ``directory``, empty when disabled, missing or unreadable."""
        if not enabled:
            return cls(None, directory)
        cache = cls(cache_file(directory), directory)
        try:
            data = json.loads(cache.path.read_bytes()) if cache.path else None
        except FileNotFoundError:
            return cache
        except (OSError, ValueError) as error:
            logger.warning("ignoring the unreadable digest cache %s: %s", cache.path, error)
            return cache
        if (
            not isinstance(data, dict)
            or data.get("version") != VERSION
            or data.get("directory") != str(directory)
            or not isinstance(data.get("files"), dict)
        ):
            logger.warning("ignoring the digest cache %s: not a digest cache of this catalog", cache.path)
            return cache
        cache._stored = data["files"]
        return cache

    def get(self, relative: str, sig: Signature, part_size: int) -> Digest | None:
        """The digest recorded for ``relative`` if its signature and part size are still ``sig`` and
        ``part_size`` (0 for a single-part object)."""
        found = _entry(self._stored.get(relative))
        if found is None or found[0] != sig or found[1] != part_size:
            return None
        with self._lock:
            self._kept[relative] = self._stored[relative]
            self.hits += 1
        return found[2]

    def put(self, relative: str, sig: Signature, part_size: int, digest: Digest) -> None:
        """Record ``digest`` for ``relative`` as it was at ``sig``, unless it changed too recently."""
        newest = max(sig[1], sig[2])
        if digest.size != sig[0] or newest > time.time_ns() - RACY_NS:
            return
        with self._lock:
            self._kept[relative] = [*sig, part_size, digest.sha256, digest.etag]

    def forget(self, relative: str) -> None:
        """Drop what is recorded for ``relative`` (its digest turned out to be wrong)."""
        with self._lock:
            self._stored.pop(relative, None)
            self._kept.pop(relative, None)

    def save(self) -> None:
        """Write the entries used or recorded in this run (others are dropped), atomically."""
        if self.path is None:
            return
        with self._lock:
            data = {"version": VERSION, "directory": str(self.directory), "files": dict(self._kept)}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        try:
            replace_text(self.path, text)
        except OSError as error:
            logger.warning("could not save the digest cache %s: %s", self.path, error)
