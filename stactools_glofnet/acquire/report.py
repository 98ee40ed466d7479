"""What an ``acquire`` run found, fetched and left out, and its progress bars (files and bytes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stactools_glofnet.core.progress import counter


@dataclass
class AcquireReport:
    """What a run of one modality found, fetched and left out.

    ``unit`` names what the search returns (scenes, granules, image pairs); ``filtered`` holds the
    items a modality's filters left out before any byte was read (ITS_LIVE date separation and
    valid percentage), ``left_out`` those that could not be used.
    """

    api: str
    collection: str
    start: dt.datetime
    end: dt.datetime
    modality: str = "sentinel2"
    unit: str = "scenes"
    found: int = 0
    acquired: list[str] = field(default_factory=list)
    complete: list[str] = field(default_factory=list)
    too_cloudy: list[tuple[str, float]] = field(default_factory=list)
    filtered: list[tuple[str, str]] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    planned: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        """One line: what was searched and what came of it."""
        span = f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"
        head = f"{self.modality}: {self.found} {self.unit} in {self.collection} at {self.api} for {span}"
        if self.dry_run:
            parts = [f"{len(self.planned)} would be fetched"]
        else:
            parts = [f"{len(self.acquired)} acquired ({self.files} files, {self.bytes} bytes)"]
        if self.complete:
            parts.append(f"{len(self.complete)} already complete")
        if self.too_cloudy:
            parts.append(f"{len(self.too_cloudy)} too cloudy over the AOI")
        if self.filtered:
            parts.append(f"{len(self.filtered)} filtered out")
        if self.left_out:
            parts.append(f"{len(self.left_out)} left out ({'; '.join(r for _, r in self.left_out[:3])})")
        return f"{head}: {', '.join(parts)}"


class Tally:
    """The files and bytes written, counted in the report and shown as two progress bars."""

    def __init__(self, report: AcquireReport, *, total_files: int | None = None) -> None:
        """Bars named after the report's modality."""
        self.report = report
        desc = f"acquire {report.modality}"
        self.files: Any = counter(desc=desc, unit="file", total=total_files)
        self.bytes: Any = counter(desc=desc, unit="B", unit_scale=True)

    def add(self, path: Path) -> None:
        """Count the file just written at ``path``."""
        size = path.stat().st_size
        self.report.files += 1
        self.report.bytes += size
        self.files.update(1)
        self.bytes.update(size)

    def close(self) -> None:
        """Close both bars."""
        self.files.close()
        self.bytes.close()
