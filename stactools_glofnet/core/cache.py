"""Where the project keeps per-user caches (generated samples, downloaded schemas)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_DIR_ENV = "GLOFNET_CACHE_DIR"


def user_cache_dir() -> Path:
    """``$GLOFNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/stactools-glofnet``, else ``~/.cache/...``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stactools-glofnet"
