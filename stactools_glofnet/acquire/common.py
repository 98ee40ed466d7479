"""The start every modality's ``acquire`` shares: SOURCE checked, the search span, the search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stactools_glofnet.acquire.hrefs import public_href
from stactools_glofnet.acquire.manifest import Manifest
from stactools_glofnet.acquire.report import AcquireReport
from stactools_glofnet.acquire.request import AcquireRequest
from stactools_glofnet.acquire.search import open_api, search_items
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.output import is_output


@dataclass
class Search:
    """One modality's search: where its files go, the report begun, the provider's items found."""

    root: Path
    report: AcquireReport
    documents: list[dict[str, Any]]


def search(request: AcquireRequest, content: CatalogContent, *, modality: str, unit: str) -> Search:
    """Check SOURCE, narrow the span with ``--since-last``, and search the API over the AOI.

    The items come back as the provider's JSON; none when ``--since-last`` leaves no span.
    """
    source = request.source
    if source.exists() and not source.is_dir():
        raise GlofnetError(source, "SOURCE is not a directory")
    if is_output(source):
        raise GlofnetError(source, "is an output of stactools-glofnet, not a SOURCE")
    root = source / modality
    start: dt.datetime = request.start
    if request.since_last:
        newest = Manifest.load(root).newest()
        if newest is not None and newest > start:
            start = newest
    report = AcquireReport(
        public_href(request.api), request.collection, start, request.end, modality=modality, unit=unit
    )
    report.dry_run = request.dry_run
    if start > request.end:
        return Search(root, report, [])
    client = open_api(request.api, request.attempts)
    documents = search_items(
        client, request.api, request.collection, content.geometry.aoi.bbox, start, request.end
    )
    report.found = len(documents)
    return Search(root, report, documents)
