"""What ``acquire`` is asked for: the STAC API, collection, dates and limits, checked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError

EARTH_SEARCH_V1: Final = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER: Final = "https://planetarycomputer.microsoft.com/api/stac/v1"
DEFAULT_COLLECTION: Final = "sentinel-2-l2a"
DEFAULT_ATTEMPTS: Final = 5


@dataclass(frozen=True)
class AcquireRequest:
    """One modality's ``acquire`` run (the defaults are Sentinel-2's; see :mod:`.modalities`).

    Attributes:
        source: the SOURCE directory written (its folder of the modality).
        start, end: the search's datetime range (UTC, inclusive).
        api: the STAC API root URL.
        collection: the collection searched.
        max_cloud_percent: a scene whose AOI cloud fraction (SCL) exceeds this is not fetched
            (Sentinel-2 only).
        dry_run: list what would be fetched, write nothing.
        since_last: search only from the newest item the manifest holds.
        attempts: tries per request, with exponential backoff between them.
    """

    source: Path
    start: dt.datetime
    end: dt.datetime
    api: str = EARTH_SEARCH_V1
    collection: str = DEFAULT_COLLECTION
    max_cloud_percent: float = 80.0
    dry_run: bool = False
    since_last: bool = False
    attempts: int = DEFAULT_ATTEMPTS

    def __post_init__(self) -> None:
        """Refuse an impossible request in one line."""
        if self.start > self.end:
            raise GlofnetError(
                "--start/--end", f"start {self.start:%Y-%m-%d} is after end {self.end:%Y-%m-%d}"
            )
        parts = urlsplit(self.api)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise GlofnetError(self.api, "--api must be an http(s) URL of a STAC API")
        if not 0 <= self.max_cloud_percent <= 100:
            raise GlofnetError("--max-cloud", f"{self.max_cloud_percent:g} is not a percentage (0-100)")
        if self.attempts < 1:
            raise GlofnetError("--retries", f"{self.attempts} attempts: at least one is needed")


def parse_date(text: str, option: str, *, end: bool = False) -> dt.datetime:
    """A ``YYYY-MM-DD`` date (the whole day: its start, or its end when ``end``) or an ISO 8601
    date-time (UTC when it has no offset), as an aware UTC datetime."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min, tzinfo=dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GlofnetError(option, f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def default_span(content: CatalogContent) -> tuple[dt.datetime, dt.datetime]:
    """The dates the catalog covers: from its first split block's start to its last block's end."""
    first, last = content.splits.block[0].start, content.splits.block[-1].end
    return (
        dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC),
        dt.datetime.combine(last, dt.time.max, tzinfo=dt.UTC),
    )


def iso(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as STAC APIs take it."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def make_request(
    source: Path,
    content: CatalogContent,
    *,
    start: str | None = None,
    end: str | None = None,
    api: str = EARTH_SEARCH_V1,
    collection: str = DEFAULT_COLLECTION,
    max_cloud_percent: float | None = None,
    dry_run: bool = False,
    since_last: bool = False,
    attempts: int = DEFAULT_ATTEMPTS,
) -> AcquireRequest:
    """A request from command-line values; what is not given comes from the catalog content
    (dates: :func:`default_span`; cloud limit: ``processing.sentinel2.max_aoi_cloud_fraction``)."""
    first, last = default_span(content)
    limit = content.processing.sentinel2.max_aoi_cloud_fraction * 100
    return AcquireRequest(
        source=source,
        start=first if start is None else parse_date(start, "--start"),
        end=last if end is None else parse_date(end, "--end", end=True),
        api=api,
        collection=collection,
        max_cloud_percent=limit if max_cloud_percent is None else max_cloud_percent,
        dry_run=dry_run,
        since_last=since_last,
        attempts=attempts,
    )
