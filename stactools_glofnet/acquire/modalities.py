"""``acquire MODALITY|all``: each modality's provider defaults, which options apply, and the dispatch.

``all`` runs Sentinel-2, MODIS and ITS_LIVE in turn, each from its default API and collection
(``--api``/``--collection`` name one provider, so they are refused with ``all``); an option that
concerns one modality (``--max-cloud``: Sentinel-2; ``--min-days``, ``--max-days``,
``--min-valid``: ITS_LIVE) applies to that modality only, and is refused with a modality it does
not concern. With ``all``, a modality that fails does not stop the others: every modality runs,
and the errors are reported together in one line at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stactools_glofnet.acquire.itslive import (
    DEFAULT_COLLECTION as ITSLIVE_COLLECTION,
)
from stactools_glofnet.acquire.itslive import (
    DEFAULT_MIN_VALID_PERCENT,
    ITS_LIVE_STAC,
    PairFilter,
    acquire_itslive,
)
from stactools_glofnet.acquire.modis import DEFAULT_COLLECTION as MODIS_COLLECTION
from stactools_glofnet.acquire.modis import acquire_modis
from stactools_glofnet.acquire.report import AcquireReport
from stactools_glofnet.acquire.request import (
    DEFAULT_ATTEMPTS,
    DEFAULT_COLLECTION,
    EARTH_SEARCH_V1,
    PLANETARY_COMPUTER,
    make_request,
)
from stactools_glofnet.acquire.sentinel2 import acquire_sentinel2
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError

MODALITIES: Final = ("sentinel2", "modis", "itslive")
CHOICES: Final = (*MODALITIES, "all")
PROVIDERS: Final = {
    "sentinel2": (EARTH_SEARCH_V1, DEFAULT_COLLECTION),
    "modis": (PLANETARY_COMPUTER, MODIS_COLLECTION),
    "itslive": (ITS_LIVE_STAC, ITSLIVE_COLLECTION),
}
"""Each modality's default STAC API and collection."""


@dataclass(frozen=True)
class AcquireOptions:
    """The command line's values (None: not given)."""

    start: str | None = None
    end: str | None = None
    api: str | None = None
    collection: str | None = None
    max_cloud_percent: float | None = None
    min_days: float | None = None
    max_days: float | None = None
    min_valid_percent: float | None = None
    dry_run: bool = False
    since_last: bool = False
    attempts: int = DEFAULT_ATTEMPTS


def _check(modality: str, options: AcquireOptions) -> tuple[str, ...]:
    """The modalities to run; options that do not apply are refused in one line."""
    if modality not in CHOICES:
        raise GlofnetError("MODALITY", f"{modality!r} is not one of {', '.join(CHOICES)}")
    if modality == "all" and (options.api is not None or options.collection is not None):
        raise GlofnetError(
            "--api/--collection",
            "name one provider: give them with one modality; all uses each one's defaults",
        )
    if options.max_cloud_percent is not None and modality not in ("sentinel2", "all"):
        raise GlofnetError("--max-cloud", f"applies to sentinel2 only, not {modality}")
    given = [
        name
        for name, value in (
            ("--min-days", options.min_days),
            ("--max-days", options.max_days),
            ("--min-valid", options.min_valid_percent),
        )
        if value is not None
    ]
    if given and modality not in ("itslive", "all"):
        raise GlofnetError("/".join(given), f"applies to itslive only, not {modality}")
    return MODALITIES if modality == "all" else (modality,)


def acquire(
    modality: str,
    source: Path,
    content: CatalogContent,
    options: AcquireOptions,
    on_report: Callable[[AcquireReport], None] = lambda _: None,
) -> list[AcquireReport]:
    """Run ``acquire`` for ``modality`` (or each one, for ``all``); ``on_report`` sees each report.

    Raises :class:`GlofnetError`: the one error of a single modality, or, for ``all``, every
    modality's error in one line after all of them have run.
    """
    chosen = _check(modality, options)
    pairs = PairFilter(
        options.min_days,
        options.max_days,
        DEFAULT_MIN_VALID_PERCENT if options.min_valid_percent is None else options.min_valid_percent,
    )
    reports: list[AcquireReport] = []
    errors: list[str] = []
    for name in chosen:
        api, collection = PROVIDERS[name]
        request = make_request(
            source,
            content,
            start=options.start,
            end=options.end,
            api=options.api or api,
            collection=options.collection or collection,
            max_cloud_percent=options.max_cloud_percent if name == "sentinel2" else None,
            dry_run=options.dry_run,
            since_last=options.since_last,
            attempts=options.attempts,
        )
        try:
            if name == "sentinel2":
                report = acquire_sentinel2(request, content)
            elif name == "modis":
                report = acquire_modis(request, content)
            else:
                report = acquire_itslive(request, content, pairs)
        except GlofnetError as error:
            if len(chosen) == 1:
                raise
            errors.append(f"{name}: {error}")
            continue
        reports.append(report)
        on_report(report)
    if errors:
        raise GlofnetError("acquire all", "; ".join(errors))
    return reports
