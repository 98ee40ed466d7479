"""DN → reflectance rules and the per-scene radiometric check (docs/sources.md, Sentinel-2).

A rule is a scale and an offset with the reason it was chosen. The check looks at the clear,
valid pixels of the six bands: a doubled BOA offset pushes many values far below zero (down to
about -0.1), a missing one leaves nothing below about 0.1. A scene that fails is tried with the
other offset (the two differ by exactly BOA_ADD_OFFSET / QUANTIFICATION = 0.1); if that passes it
is corrected, else the scene is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from stactools_glofnet.core.config import RadiometricCheck
from stactools_glofnet.sentinel2.bands import BOA_ADD_OFFSET, QUANTIFICATION

RuleName = Literal["boa_offset_applied", "raster_bands", "processing_baseline", "radiometric_check"]
BOA_STEP = -BOA_ADD_OFFSET / QUANTIFICATION  # 0.1: the two candidate offsets differ by this much


@dataclass(frozen=True)
class Radiometry:
    """How a scene's DN become reflectance: ``DN * scale + offset``, and why."""

    scale: float
    offset: float
    rule: RuleName
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The rule as published in ``glofnet:radiometry``."""
        return {
            "scale": self.scale,
            "offset": round(self.offset, 6) + 0.0,  # + 0.0: never a negative zero
            "rule": self.rule,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Verdict:
    """What the check saw: the problem found (if any) and the two statistics it used."""

    problem: Literal["doubled_offset", "missing_offset"] | None
    negative_fraction: float
    floor: float

    def to_dict(self) -> dict[str, float]:
        """The statistics as published beside the rule."""
        return {"negative_fraction": round(self.negative_fraction, 6), "floor": round(self.floor, 6) + 0.0}

    def describe(self, check: RadiometricCheck) -> str:
        """One phrase naming the problem with its evidence."""
        if self.problem == "doubled_offset":
            return (
                f"doubled offset ({100 * self.negative_fraction:.1f} % of clear pixels of a band below"
                f" {check.doubled_below})"
            )
        if self.problem == "missing_offset":
            return (
                f"missing offset (nothing below {self.floor:.3f}: the {check.floor_percentile} percentile"
                f" of every band exceeds {check.missing_floor})"
            )
        return "passed"


def assess(
    reflectance: Mapping[str, NDArray[np.floating[Any]]],
    clear: NDArray[np.bool_],
    check: RadiometricCheck,
    *,
    offset_exists: bool,
    shift: float = 0.0,
) -> Verdict:
    """Check ``reflectance + shift`` on the ``clear`` pixels.

    ``offset_exists`` is False before baseline 04.00: there is no BOA offset to miss then, so a
    scene with nothing dark is bright, not mis-scaled, and only a doubled offset is looked for.
    """
    negative, floor = 0.0, np.inf
    for values in reflectance.values():
        sample = values[clear & np.isfinite(values)].astype(np.float64) + shift
        if sample.size == 0:
            continue
        negative = max(negative, float((sample < check.doubled_below).mean()))
        floor = min(floor, float(np.percentile(sample, check.floor_percentile)))
    if not np.isfinite(floor):
        return Verdict(None, 0.0, float("nan"))
    if negative > check.doubled_fraction:
        return Verdict("doubled_offset", negative, floor)
    if offset_exists and floor > check.missing_floor:
        return Verdict("missing_offset", negative, floor)
    return Verdict(None, negative, floor)


def settle(
    nominal: Radiometry,
    reflectance: Mapping[str, NDArray[np.floating[Any]]],
    clear: NDArray[np.bool_],
    check: RadiometricCheck,
    *,
    offset_exists: bool,
) -> tuple[Radiometry, Verdict] | str:
    """The rule to use (``nominal``, or the other offset when only that passes) or why to skip."""
    verdict = assess(reflectance, clear, check, offset_exists=offset_exists)
    if verdict.problem is None:
        return nominal, verdict
    shift = BOA_STEP if verdict.problem == "doubled_offset" else -BOA_STEP
    other = assess(reflectance, clear, check, offset_exists=offset_exists, shift=shift)
    found = verdict.describe(check)
    if other.problem is not None:
        return (
            f"radiometric check failed with the metadata's rule (offset {nominal.offset:g}, {nominal.rule}):"
            f" {found}; with offset {nominal.offset + shift:g}: {other.describe(check)}"
        )
    corrected = Radiometry(
        scale=nominal.scale,
        offset=nominal.offset + shift,
        rule="radiometric_check",
        reason=(
            f"the metadata's rule ({nominal.rule}: offset {nominal.offset:g}) showed a {found};"
            f" offset {nominal.offset + shift:g} passes the check"
        ),
    )
    return corrected, other
