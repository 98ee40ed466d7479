"""Files in SOURCE written so that a partial one never sits under its final name."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Final

PART_MARK: Final = ".part-"


def part_name(path: Path) -> Path:
    """The temporary, hidden name ``path`` is written under by this process."""
    return path.with_name(f".{path.name}{PART_MARK}{os.getpid()}")


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Have ``write`` fill a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = part_name(path)
    try:
        write(temporary)
        with open(temporary, "rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            temporary.unlink()


def remove_stale_parts(folder: Path) -> list[Path]:
    """Remove what killed runs left half-written in ``folder`` (never a complete file)."""
    removed = []
    if folder.is_dir():
        for path in sorted(folder.glob(f".*{PART_MARK}*")):
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""

    def write(target: Path) -> None:
        target.write_text(text, encoding="utf-8")

    write_atomically(path, write)
