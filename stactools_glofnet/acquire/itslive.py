"""``acquire itslive``: ITS_LIVE v2 image-pair granules from the ITS_LIVE STAC API, whole files.

The ``itslive-granules`` collection holds one item per granule (id = the file stem,
``<img1>_X_<img2>_G0120V02_P<valid>``) with ``properties.date_dt`` (days between the images,
rounded), ``percent_valid_pixels`` and the ``data`` asset, the NetCDF file on the public
``its-live-data`` bucket. Items are filtered on those two properties before any byte is read;
then each granule is downloaded whole (a NetCDF4/HDF5 file has its chunk index spread through
the file, so windowed reads are not cheap), resumed with Range requests after a break, checked
to open as a v2 granule, and renamed into ``itslive/<granule id>.nc``, where the build reads it.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import requests

from stactools_glofnet.acquire.common import search
from stactools_glofnet.acquire.download import download
from stactools_glofnet.acquire.hrefs import absolute, public_href
from stactools_glofnet.acquire.items import item_href
from stactools_glofnet.acquire.manifest import Manifest
from stactools_glofnet.acquire.report import AcquireReport, Tally
from stactools_glofnet.acquire.request import AcquireRequest, iso
from stactools_glofnet.acquire.retry import with_retries
from stactools_glofnet.acquire.store import remove_stale_parts
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import unsafe_name_reason
from stactools_glofnet.core.output import writer_lock
from stactools_glofnet.itslive.names import GRANULE_NAME, sensor_group
from stactools_glofnet.itslive.read import read_granule

logger = logging.getLogger(__name__)

MODALITY_DIR: Final = "itslive"
ITS_LIVE_STAC: Final = "https://stac.itslive.cloud"
DEFAULT_COLLECTION: Final = "itslive-granules"
DATA_ASSET: Final = "data"
DEFAULT_MIN_VALID_PERCENT: Final = 1.0
"""A P000 granule holds no velocity at all (every pixel is fill, as real-data item 1)."""


@dataclass(frozen=True)
class PairFilter:
    """Which image pairs to fetch, by the item's ``date_dt`` and ``percent_valid_pixels``.

    Attributes:
        min_days, max_days: date separation bounds (days, inclusive); None: the build's own
            bounds for the pair's sensor group (``itslive.date_dt_days`` of catalog/processing.toml).
        min_valid_percent: the least ``percent_valid_pixels`` taken.
    """

    min_days: float | None = None
    max_days: float | None = None
    min_valid_percent: float = DEFAULT_MIN_VALID_PERCENT

    def __post_init__(self) -> None:
        """Refuse impossible bounds in one line."""
        if self.min_days is not None and self.max_days is not None and self.min_days > self.max_days:
            raise GlofnetError("--min-days/--max-days", f"{self.min_days:g} is more than {self.max_days:g}")
        if not 0 <= self.min_valid_percent <= 100:
            raise GlofnetError("--min-valid", f"{self.min_valid_percent:g} is not a percentage (0-100)")

    def reason(self, granule_id: str, properties: dict[str, Any], content: CatalogContent) -> str | None:
        """Why the pair is not fetched, or None."""
        try:
            days = float(properties["date_dt"])
            valid = float(properties["percent_valid_pixels"])
        except (KeyError, TypeError, ValueError):
            return "no numeric date_dt and percent_valid_pixels"
        if valid < self.min_valid_percent:
            return f"{valid:g} % valid pixels, below --min-valid {self.min_valid_percent:g}"
        low, high = self.min_days, self.max_days
        if low is None or high is None:
            group = sensor_group(granule_id)
            if group is None:
                return "no known sensor in its image ids"
            build_low, build_high = content.processing.itslive.date_dt_days[group]
            low = build_low if low is None else low
            high = build_high if high is None else high
        if not low <= days <= high:
            return f"date separation {days:g} days outside {low:g}-{high:g}"
        return None


@dataclass(frozen=True)
class Pair:
    """One granule to fetch: id, the provider's item and file, and the pair's centre time."""

    id: str
    item_href: str
    href: str
    datetime: dt.datetime

    @property
    def filename(self) -> str:
        """The file under ``itslive/``."""
        return f"{self.id}.nc"


def _moment(properties: dict[str, Any]) -> dt.datetime | None:
    for key in ("datetime", "mid_datetime", "start_datetime"):
        text = properties.get(key)
        if text:
            try:
                moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            except ValueError:
                return None
            return moment.replace(tzinfo=moment.tzinfo or dt.UTC).astimezone(dt.UTC)
    return None


def plan_pair(
    document: dict[str, Any], api: str, collection: str, chosen: PairFilter, content: CatalogContent
) -> Pair | tuple[str, bool]:
    """The pair to fetch, or why not and whether it was a filter (True) or an unusable item (False)."""
    granule_id = str(document.get("id", ""))
    unsafe = unsafe_name_reason(f"{granule_id}.nc")
    if unsafe:
        return unsafe, False
    match = GRANULE_NAME.match(granule_id)
    if match is None:
        return f"{granule_id}: not an ITS_LIVE granule name", False
    if match["version"] != "02":
        version = int(match["version"])
        return f"{granule_id}: ITS_LIVE version {version} granule; the build reads version 2", False
    properties = document.get("properties") or {}
    moment = _moment(properties)
    if moment is None:
        return f"{granule_id}: no valid datetime", False
    asset = (document.get("assets") or {}).get(DATA_ASSET)
    provider_href = item_href(document, api, collection)
    if not isinstance(asset, dict) or not asset.get("href"):
        return f"{granule_id}: no {DATA_ASSET} asset", False
    href = absolute(str(asset["href"]), provider_href)
    name = posixpath.basename(unquote(urlsplit(href).path))
    if name != f"{granule_id}.nc":
        return f"{granule_id}: its {DATA_ASSET} asset is {name!r}, not {granule_id}.nc", False
    why = chosen.reason(granule_id, properties, content)
    if why is not None:
        return f"{granule_id}: {why}", True
    return Pair(granule_id, provider_href, href, moment)


def unreadable_granule(path: Path) -> str | None:
    """Why a downloaded file is not a v2 granule the build can read, or None."""
    try:
        read_granule(path)
    except GlofnetError as error:
        return f"downloaded, but {error.reason}"
    return None


class _Run:
    """One acquisition into ``root`` (SOURCE/itslive)."""

    def __init__(self, request: AcquireRequest, root: Path, report: AcquireReport) -> None:
        self.request = request
        self.root = root
        self.manifest = Manifest.load(root)
        self.report = report
        self.tally = Tally(report)
        self.session = requests.Session()

    def settled(self, pair: Pair) -> bool:
        if self.manifest.complete(pair.filename):
            self.report.complete.append(pair.id)
            return True
        return False

    def plan(self, pair: Pair) -> None:
        """List what :meth:`acquire` would fetch (a dry run: nothing is written)."""
        if not self.settled(pair):
            self.report.planned.append(
                f"would fetch {pair.id} ({iso(pair.datetime)}): the whole granule -> {MODALITY_DIR}/"
                f"{pair.filename} (from {public_href(pair.href)})"
            )

    def acquire(self, pair: Pair) -> None:
        """Download one granule (resuming a partial download), check it, record it."""
        if self.settled(pair):
            return
        path = self.root / pair.filename
        with_retries(
            lambda: download(
                self.session, pair.href, path, verify=unreadable_granule, on_bytes=self.tally.bytes.update
            ),
            attempts=self.request.attempts,
            what=public_href(pair.href),
        )
        item = public_href(pair.item_href)
        self.manifest.record_file(pair.filename, asset=DATA_ASSET, href=public_href(pair.href), item=item)
        self.report.files += 1
        self.report.bytes += path.stat().st_size
        self.tally.files.update(1)
        self.manifest.record_scene(
            pair.id, item=item, datetime=iso(pair.datetime), status="acquired", cloud_fraction=None
        )
        self.report.acquired.append(pair.id)

    def close(self) -> None:
        self.tally.close()
        self.session.close()


def acquire_itslive(
    request: AcquireRequest, content: CatalogContent, chosen: PairFilter | None = None
) -> AcquireReport:
    """Fetch the ITS_LIVE granules of ``request`` that pass ``chosen`` into SOURCE/itslive/.

    Raises :class:`GlofnetError` (one line, naming the URL or file) when the API or a file cannot
    be read after the retries; complete granules stay, and a rerun resumes the partial one.
    """
    chosen = chosen or PairFilter()
    found = search(request, content, modality=MODALITY_DIR, unit="image pairs")
    root, report = found.root, found.report
    pairs = []
    for document in found.documents:
        planned = plan_pair(document, request.api, request.collection, chosen, content)
        if isinstance(planned, Pair):
            pairs.append(planned)
        else:
            reason, filtered = planned
            (report.filtered if filtered else report.left_out).append((str(document.get("id")), reason))
    pairs.sort(key=lambda pair: (pair.datetime, pair.id))
    run = _Run(request, root, report)
    try:
        if request.dry_run:
            for pair in pairs:
                run.plan(pair)
            return report
        root.mkdir(parents=True, exist_ok=True)
        with writer_lock(root):
            remove_stale_parts(root)
            run.tally.files.total = len(pairs)
            for pair in pairs:
                run.acquire(pair)
    finally:
        run.close()
    return report
