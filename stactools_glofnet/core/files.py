"""File helpers every wing shares: checksums, deterministic JSON, atomic directory replacement."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stactools_glofnet.core.errors import GlofnetError

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks so memory stays bounded."""
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(CHUNK):
            sha.update(block)
    return sha.hexdigest()


def multihash_sha256(path: Path) -> str:
    """The file extension's ``file:checksum``: a SHA2-256 multihash (``1220`` + hex digest)."""
    return "1220" + sha256_file(path)


def dumps_json(data: Any) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as deterministic JSON to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_json(data), encoding="utf-8")


def read_json(path: Path) -> Any:
    """Read a JSON file, turning a missing or corrupt file into a one-line error."""
    try:
        with path.open(encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        raise GlofnetError(path, "file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GlofnetError(path, f"not valid JSON ({error})") from None


@contextmanager
def staged_directory(dest: Path) -> Iterator[Path]:
    """Yield a fresh directory beside ``dest``; on success it replaces ``dest`` atomically.

    On any error the staged directory is removed and ``dest`` is left exactly as it was, so a
    half-written output never appears at ``dest``. The staged directory's own name has no dot,
    because pystac takes a last path component with a suffix for a file name.
    """
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix=".glofnet-staging-", dir=dest.parent))
    staging = workspace / "new"
    staging.mkdir()
    try:
        yield staging
        if dest.exists():
            os.replace(dest, workspace / "old")
        os.replace(staging, dest)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
