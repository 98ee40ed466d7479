"""SHA-256 of input files, remembered by file signature so an unchanged file is read once.

A file's *signature* is its size, mtime and ctime in nanoseconds, inode and device. On POSIX
systems any write to a file, and any change of its mtime, sets its ctime to the current time,
which programs cannot choose; so while the signature is the same the bytes are the same. A file
changed less than :data:`RACY_NS` before it was hashed is not remembered (a write in the same
clock tick could leave every field as it was).

The digests of one SOURCE are kept in one JSON file under the user cache directory
(``input-digests/<SHA-256 of SOURCE's path>.json``), never inside SOURCE or an output. A cache that
cannot be read is ignored and rewritten; one that cannot be written only costs hashing next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from stactools_glofnet.core.cache import user_cache_dir
from stactools_glofnet.core.files import replace_text, sha256_file

logger = logging.getLogger(__name__)

RACY_NS: Final = 2_000_000_000
"""Files changed less than this long before being hashed are not remembered (2 s covers the
timestamp granularity of common file systems, FAT's included)."""
CACHE_FOLDER: Final = "input-digests"
VERSION: Final = 1

Signature = tuple[int, int, int, int, int]
"""Size, mtime_ns, ctime_ns, inode, device."""
Digested = dict[str, tuple[Signature, str]]
"""``{path: (signature, sha256)}``."""


def signature(path: Path) -> Signature:
    """The signature of the file at ``path`` (following symbolic links, as reading it does)."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def is_settled(sig: Signature) -> bool:
    """Whether the file was last changed long enough ago for its signature to be trusted."""
    return max(sig[1], sig[2]) <= time.time_ns() - RACY_NS


def hash_files(
    paths: Iterable[Path], known: Mapping[str, tuple[Signature, str]]
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
            found[key] = (sig, sha256_file(path))
    return found


def unchanged_digests(paths: Iterable[Path], known: Mapping[str, tuple[Signature, str]]) -> Digested | None:
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
    return user_cache_dir() / CACHE_FOLDER / f"{name}.json"


class InputDigests:
    """The remembered digests of one SOURCE's files; thread-safe."""

    def __init__(self, path: Path | None) -> None:
        """Remember into ``path`` (nowhere when None)."""
        self.path = path
        self._stored: dict[str, tuple[Signature, str]] = {}
        self._used: dict[str, tuple[Signature, str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, source: Path) -> InputDigests:
        """The digests remembered for ``source``; empty when there are none or they cannot be read."""
        digests = cls(cache_file(Path(os.path.abspath(source))))
        assert digests.path is not None
        try:
            data = json.loads(digests.path.read_bytes())
        except FileNotFoundError:
            return digests
        except (OSError, ValueError) as error:
            logger.warning("ignoring the unreadable digest cache %s: %s", digests.path, error)
            return digests
        if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("files"), dict):
            for name, entry in data["files"].items():
                if isinstance(entry, list) and len(entry) == 6 and isinstance(entry[5], str):
                    digests._stored[name] = (tuple(int(n) for n in entry[:5]), entry[5])  # type: ignore[assignment]
        return digests

    def known(self, paths: Iterable[Path]) -> dict[str, tuple[Signature, str]]:
        """What is remembered for ``paths`` (signatures not checked: :func:`hash_files` does)."""
        with self._lock:
            found = {name: self._used.get(name) or self._stored.get(name) for name in map(str, paths)}
        return {name: entry for name, entry in found.items() if entry is not None}

    def record(self, found: Mapping[str, tuple[Signature, str]]) -> None:
        """Remember ``found`` (from :func:`hash_files`) for the files that have settled."""
        with self._lock:
            self._used.update({name: entry for name, entry in found.items() if is_settled(entry[0])})

    def save(self) -> None:
        """Write what this run used or learned (older entries are dropped), atomically."""
        if self.path is None:
            return
        with self._lock:
            files = {name: [*sig, sha] for name, (sig, sha) in sorted(self._used.items())}
        text = json.dumps({"version": VERSION, "files": files}, separators=(",", ":"))
        try:
            replace_text(self.path, text)
        except OSError as error:
            logger.warning("could not save the digest cache %s: %s", self.path, error)
