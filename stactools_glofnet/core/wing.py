"""What every wing's front door takes and how it reports what it left out.

A wing (one modality) exposes ``create_collection(inputs, workdir, options)``: ``inputs`` says
where its source files are (``SOURCE/<modality>/``) or which collections it is made from,
``workdir`` is where it writes its files, ``options`` the build's settings. Inputs a wing cannot
use are recorded with :class:`Skips`, published as ``glofnet:skipped`` and summarized in one line.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pystac

from stactools_glofnet.core.config import CatalogContent, Modality
from stactools_glofnet.core.engine import Engine, SerialEngine
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.memo import JobMemo

logger = logging.getLogger(__name__)

SkipKind = Literal["input", "quality"]
"""``input``: the file cannot be used (unreadable, outside the AOI, a duplicate...), which
``--strict`` makes an error; ``quality``: a usable input the product's QC rules leave out."""


@dataclass(frozen=True)
class BuildOptions:
    """Settings every wing reads."""

    content: CatalogContent
    engine: Engine = field(default_factory=SerialEngine)
    strict: bool = False
    """Stop at the first input that cannot be used, instead of skipping and recording it."""
    normalization: Any = None
    """A :class:`~stactools_glofnet.core.normalization.Reference` to take train statistics from."""
    read_href_modifier: Callable[[str], str] | None = None
    """Applied to every source href before reading (e.g. to sign URLs)."""
    memo: JobMemo | None = None
    """Job results kept from the last build into the same DEST (None: compute every job)."""


@dataclass(frozen=True)
class WingInputs:
    """Where a wing's inputs are: a SOURCE directory, or the collections it is made from."""

    source_dir: Path | None = None
    collections: Mapping[Modality, pystac.Collection] = field(default_factory=dict)
    collections_published: bool = True
    """Whether ``collections`` are published beside the wing's (so links to them resolve)."""

    def require_source(self, modality: Modality) -> Path:
        """The SOURCE directory of ``modality``'s inputs."""
        if self.source_dir is None:
            raise GlofnetError(modality, "no SOURCE directory given")
        return self.source_dir


@dataclass
class Skips:
    """The inputs one wing left out, with the reason for each."""

    modality: Modality
    strict: bool = False
    entries: list[dict[str, str]] = field(default_factory=list)

    @property
    def records(self) -> list[dict[str, str]]:
        """The skips sorted by id and reason: the same whatever order a parallel build met them in."""
        return sorted(self.entries, key=lambda r: (r["id"], r["reason"], r["kind"]))

    def add(
        self, input_id: str, reason: str, *, kind: SkipKind = "input", path: Path | str | None = None
    ) -> None:
        """Record that ``input_id`` was left out; with ``strict``, an ``input`` skip is an error."""
        if self.strict and kind == "input":
            raise GlofnetError(path or input_id, f"{reason} (--strict: inputs are not skipped)")
        logger.info("%s: skipped %s: %s", self.modality, input_id, reason)
        self.entries.append({"id": input_id, "reason": reason, "kind": kind})

    def add_error(self, input_id: str, error: GlofnetError, source_dir: Path) -> None:
        """Record an input that failed to read or check; the reason names the file within SOURCE."""
        where = Path(os.path.abspath(error.path))
        base = Path(os.path.abspath(source_dir))
        named = where.relative_to(base).as_posix() if base in where.parents else where.name
        self.add(input_id, f"{error.reason} ({named})", kind="input", path=error.path)

    def summary(self, kept: int, unit: str) -> str:
        """One line: how many inputs were kept and how many skipped, by reason."""
        line = f"{self.modality}: {kept} {unit}{'s' * (kept != 1)} kept"
        if self.records:
            line += f", {len(self.records)} skipped ({self._reasons()})"
        return line

    def nothing_usable(self, source: Path, unit: str) -> GlofnetError:
        """The error when every input was skipped: the modality and the reasons, in one line."""
        return GlofnetError(source, f"no usable {self.modality} {unit}: {self._reasons() or 'no inputs'}")

    def _reasons(self) -> str:
        counts = Counter(_reason_class(r) for r in self.records)
        return ", ".join(
            f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )


def _reason_class(record: dict[str, str]) -> str:
    """What to count a skip under: its QC kind, or the head of an input problem (before ``:`` or ``(``)."""
    if record.get("kind") == "quality":
        return "by QC rules"
    return record["reason"].split(":", 1)[0].split(" (", 1)[0].strip() or record["reason"]
