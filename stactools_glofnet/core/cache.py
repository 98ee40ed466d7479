"""Where the project keeps per-user caches (generated samples, downloaded schemas)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE_DIR_ENV = "GLOFNET_CACHE_DIR"
LOCK_SUFFIX = ".lock"


def user_cache_dir() -> Path:
    """``$GLOFNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/stactools-glofnet``, else ``~/.cache/...``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stactools-glofnet"


@contextmanager
def entry_held(entry: Path) -> Iterator[None]:
    """Hold the lock of the cache entry ``entry`` for the block, waiting while another process
    (or thread) holds it: two builds that need the same entry make it once, the second using
    what the first made. The lock file stays beside the entry (removing it would let a third
    process lock a new file while the second still waits on the old one)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(entry.with_name(entry.name + LOCK_SUFFIX), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing the last descriptor releases the lock
