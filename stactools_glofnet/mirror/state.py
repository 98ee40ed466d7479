"""What the last synchronization left: per mirrored file, its object's size and ETag and the
local file's signature then.

A file whose signature (size, mtime, ctime, inode, device) is still the recorded one holds the
recorded object's bytes; any other file is compared by content (its MD5-based ETag). The record
is one JSON file beside the mirrored tree, written atomically; one that cannot be read is treated
as empty (files are then verified by content, not downloaded again).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from stactools_glofnet.core.digests import Signature
from stactools_glofnet.core.files import replace_text

logger = logging.getLogger(__name__)

VERSION: Final = 1


@dataclass(frozen=True)
class Entry:
    """One mirrored object as synchronized."""

    size: int
    etag: str
    signature: Signature


@dataclass
class MirrorState:
    """The entries of one mirror, by key relative to the prefix."""

    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> MirrorState:
        """The record at ``path``; empty when missing or unreadable."""
        state = cls(path)
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return state
        except (OSError, ValueError) as error:
            logger.warning("ignoring the unreadable mirror record %s: %s", path, error)
            return state
        files = data.get("files") if isinstance(data, dict) and data.get("version") == VERSION else None
        if not isinstance(files, dict):
            logger.warning("ignoring the mirror record %s: not a record of this version", path)
            return state
        for relative, value in files.items():
            if (
                isinstance(value, list)
                and len(value) == 7
                and isinstance(value[1], str)
                and all(type(n) is int for n in (value[0], *value[2:]))
            ):
                size, etag, *sig = value
                state.entries[relative] = Entry(size, etag, (sig[0], sig[1], sig[2], sig[3], sig[4]))
        return state

    def save(self) -> None:
        """Write the record atomically (sorted keys: the same state gives the same bytes)."""
        files = {rel: [e.size, e.etag, *e.signature] for rel, e in sorted(self.entries.items())}
        text = json.dumps({"version": VERSION, "files": files}, separators=(",", ":"))
        replace_text(self.path, text)
