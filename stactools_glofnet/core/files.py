"""File helpers every wing shares: checksums, deterministic JSON, input file checks."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
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


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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


def require_regular_file(path: Path, what: str = "input") -> None:
    """Refuse a path that is missing or not a regular file (a FIFO or device would block a reader)."""
    if not path.exists():
        raise GlofnetError(path, f"{what} is missing")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file (a FIFO, socket or device)"
        raise GlofnetError(path, f"{what} is {kind}")


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")


def unsafe_name_reason(name: str) -> str | None:
    """Why ``name`` (an id from an input) cannot name a file, or None when it is one safe path segment.

    Safe: 1 to 200 characters from letters, digits, ``.``, ``_``, ``+`` and ``-``, starting with a
    letter or digit, so it can never be ``.``, ``..``, absolute, hidden or contain a separator.
    """
    if _SAFE_NAME.fullmatch(name):
        return None
    rule = "1-200 of A-Z a-z 0-9 . _ + -, starting alphanumeric"
    return f"unsafe id: {name[:80]!r} is not a safe file name ({rule})"
