"""What validation found: one :class:`Problem` per finding, gathered in a :class:`ValidationReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

Severity = Literal["error", "warning"]

STRUCTURE: Final = "structure"
"""Reading the catalog: unreadable JSON, objects that are not STAC, child/item links to nothing."""
SCHEMA: Final = "schema"
"""Each object against the core schema and every extension schema it declares."""
LINT: Final = "lint"
"""STAC best practices (see :mod:`stactools_glofnet.validation.lint`)."""
INTEGRITY: Final = "integrity"
"""Each local asset: present, size and checksum, and its format (COG, Zarr, Parquet) sound."""

CHECKS: Final = (STRUCTURE, SCHEMA, LINT, INTEGRITY)
"""Every check, in the order they run on each object."""


@dataclass(frozen=True)
class Problem:
    """One finding: how bad, which check and rule found it, where, and what it is in one line."""

    severity: Severity
    check: str
    rule: str
    path: str
    message: str

    def line(self) -> str:
        """``LEVEL check path: message``."""
        return f"{self.severity.upper()} {self.check} {self.path}: {self.message}"


@dataclass
class ValidationReport:
    """What was checked and every problem found, in the order found."""

    catalog: str
    objects: int = 0
    """STAC objects read (each one goes through every object check)."""
    assets: int = 0
    """Local assets checked for integrity."""
    remote_assets: int = 0
    """Assets with http(s) or other remote hrefs, not checked."""
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        """Record ``problem``."""
        self.problems.append(problem)

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems of severity ``warning``."""
        return [p for p in self.problems if p.severity == "warning"]

    def count(self, check: str, severity: Severity) -> int:
        """How many problems ``check`` found of ``severity``."""
        return sum(1 for p in self.problems if p.check == check and p.severity == severity)

    def checked(self, check: str) -> tuple[int, str]:
        """How many things ``check`` looked at, and what they were (objects or assets)."""
        return (self.assets, "assets") if check == INTEGRITY else (self.objects, "objects")

    def failed(self, *, strict: bool = False) -> bool:
        """True when there is an error (or, when ``strict``, any problem at all)."""
        return bool(self.problems if strict else self.errors)
