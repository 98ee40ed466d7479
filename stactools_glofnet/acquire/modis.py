"""``acquire modis``: MOD11A1 v061 tile-days from the Planetary Computer, AOI windows of four SDS.

The Planetary Computer's ``modis-11A1-061`` collection holds one item per granule (id = the LP
DAAC granule id, e.g. ``MOD11A1.A2019101.h24v05.061.2020345052346``) with one COG per SDS, keyed
by SDS name; Terra (``MOD11A1``) and Aqua (``MYD11A1``) share it, and only Terra is taken. For
each item of the tiles the AOI needs, the build's own tile window (:func:`source_mosaic`: the
sinusoidal pixels under the UTM grid plus one pixel) of ``LST_Day_1km``, ``LST_Night_1km``,
``QC_Day`` and ``QC_Night`` is read with HTTP range requests and written as a local COG under the
name the reader expects, ``modis/<year>/<granule id>_<SDS>.tif``; the build takes exactly these
pixels from a whole tile, so its output is the same. The item JSON ``<granule id>.json`` (assets
local, provider hrefs as provenance) is written last.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stactools_glofnet.acquire.common import search
from stactools_glofnet.acquire.hrefs import absolute, public_href
from stactools_glofnet.acquire.items import LocalAsset, item_href, local_item
from stactools_glofnet.acquire.manifest import Manifest
from stactools_glofnet.acquire.report import AcquireReport, Tally
from stactools_glofnet.acquire.request import AcquireRequest, iso
from stactools_glofnet.acquire.retry import with_retries
from stactools_glofnet.acquire.signing import sign
from stactools_glofnet.acquire.store import remove_stale_parts, write_atomically, write_text_atomically
from stactools_glofnet.acquire.window import Raster, read_grid
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.files import dumps_json
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.output import writer_lock
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.modis.names import COLLECTION, PRODUCT, collection_refusal, parse
from stactools_glofnet.modis.process import source_mosaic
from stactools_glofnet.modis.read import SDS

logger = logging.getLogger(__name__)

MODALITY_DIR: Final = "modis"
DEFAULT_COLLECTION: Final = "modis-11A1-061"
ITEM_ASSET: Final = "item"


@dataclass(frozen=True)
class Granule:
    """One provider item to acquire: a tile-day, the hrefs of its SDS and the window to read."""

    id: str
    item_href: str
    day: dt.date
    tile: str
    window: Grid
    document: dict[str, Any]
    hrefs: dict[str, str]

    @property
    def datetime(self) -> dt.datetime:
        """The start of the granule's day (UTC)."""
        return dt.datetime.combine(self.day, dt.time.min, tzinfo=dt.UTC)

    def relative(self, sds: str) -> str:
        """The COG of ``sds``, relative to ``modis/`` (the reader's Planetary Computer COG name)."""
        return f"{self.day.year}/{self.id}_{sds}.tif"

    @property
    def item_file(self) -> str:
        """The item JSON, relative to ``modis/``."""
        return f"{self.day.year}/{self.id}.json"


def plan_granule(
    document: dict[str, Any], api: str, collection: str, windows: dict[str, Grid]
) -> Granule | str:
    """The granule to fetch from one item of the search, or why it is not taken."""
    granule_id = str(document.get("id", ""))
    name = parse(Path(f"{granule_id}.json"))
    if name is None:
        if granule_id.startswith("MYD11A1."):
            return f"{granule_id}: Aqua (MYD11A1); GLOFNet reads Terra's {PRODUCT}"
        return f"{granule_id}: not a {PRODUCT} granule id"
    if name.collection != COLLECTION:
        return f"{granule_id}: {collection_refusal(name.collection)}"
    if name.tile not in windows:
        return f"{granule_id}: tile {name.tile} is not needed (the AOI lies in {', '.join(sorted(windows))})"
    provider_href = item_href(document, api, collection)
    assets = document.get("assets") or {}
    hrefs = {}
    for sds in SDS:
        asset = assets.get(sds)
        if not isinstance(asset, dict) or not asset.get("href"):
            return f"{granule_id}: no {sds} asset"
        hrefs[sds] = absolute(str(asset["href"]), provider_href)
    return Granule(granule_id, provider_href, name.day, name.tile, windows[name.tile], document, hrefs)


def _latest_productions(granules: list[Granule], report: AcquireReport) -> list[Granule]:
    """One granule per tile-day, the latest production (as the build reads); the others left out."""
    latest: dict[tuple[dt.date, str], Granule] = {}
    for granule in sorted(granules, key=lambda g: g.id):  # the production stamp ends the id
        latest[(granule.day, granule.tile)] = granule
    kept = sorted(latest.values(), key=lambda granule: (granule.day, granule.tile))
    for granule in granules:
        newer = latest[(granule.day, granule.tile)]
        if newer is not granule:
            report.left_out.append(
                (granule.id, f"{granule.id}: superseded by the later production {newer.id}")
            )
    return kept


class _Run:
    """One acquisition into ``root`` (SOURCE/modis)."""

    def __init__(self, request: AcquireRequest, root: Path, report: AcquireReport) -> None:
        self.request = request
        self.root = root
        self.manifest = Manifest.load(root)
        self.report = report
        self.tally = Tally(report)

    def files(self, granule: Granule) -> list[str]:
        return [granule.relative(sds) for sds in SDS] + [granule.item_file]

    def settled(self, granule: Granule) -> bool:
        if all(self.manifest.complete(relative) for relative in self.files(granule)):
            self.report.complete.append(granule.id)
            return True
        return False

    def plan(self, granule: Granule) -> None:
        """List what :meth:`acquire` would fetch of ``granule`` (a dry run: nothing is written)."""
        if self.settled(granule):
            return
        missing = [sds for sds in SDS if not self.manifest.complete(granule.relative(sds))]
        self.report.planned.append(
            f"would fetch {granule.id} ({granule.day}): AOI windows of {', '.join(missing) or 'no SDS'},"
            f" item JSON -> {MODALITY_DIR}/{granule.day.year}/ (from {public_href(granule.item_href)})"
        )

    def read(self, href: str, window: Grid) -> Raster:
        # Planetary Computer hrefs are signed just before each read (tokens expire); the signed
        # href is never logged or written.
        return with_retries(
            lambda: read_grid(sign(href), window), attempts=self.request.attempts, what=public_href(href)
        )

    @staticmethod
    def store(path: Path, raster: Raster) -> None:
        write_atomically(
            path, lambda target: write_cog(target, raster.data, raster.grid, nodata=raster.nodata)
        )

    def acquire(self, granule: Granule) -> None:
        """Fetch one granule's SDS windows (those not complete yet), then its item JSON."""
        remove_stale_parts(self.root / str(granule.day.year))
        if self.settled(granule):
            return
        fetched: dict[str, LocalAsset] = {}
        for sds in SDS:
            relative = granule.relative(sds)
            path = self.root / relative
            if not self.manifest.complete(relative):
                raster = self.read(granule.hrefs[sds], granule.window)
                self.store(path, raster)
                href, item = public_href(granule.hrefs[sds]), public_href(granule.item_href)
                self.manifest.record_file(relative, asset=sds, href=href, item=item)
                self.tally.add(path)
            fetched[sds] = LocalAsset(path.name, granule.window)
        item_path = self.root / granule.item_file
        write_text_atomically(item_path, dumps_json(local_item(granule.document, granule.item_href, fetched)))
        item = public_href(granule.item_href)
        self.manifest.record_file(granule.item_file, asset=ITEM_ASSET, href=item, item=item)
        self.tally.add(item_path)
        self.manifest.record_scene(
            granule.id, item=item, datetime=iso(granule.datetime), status="acquired", cloud_fraction=None
        )
        self.report.acquired.append(granule.id)


def acquire_modis(request: AcquireRequest, content: CatalogContent) -> AcquireReport:
    """Fetch the MOD11A1 granules of ``request`` (AOI windows of four SDS) into SOURCE/modis/.

    Raises :class:`GlofnetError` (one line, naming the URL or file) when the API or a file cannot
    be read after the retries; what was complete by then stays, and a rerun fetches the rest.
    """
    found = search(request, content, modality=MODALITY_DIR, unit="granules")
    root, report = found.root, found.report
    windows = {window.tile: window.grid for window in source_mosaic(content)[1]}
    granules = []
    for document in found.documents:
        planned = plan_granule(document, request.api, request.collection, windows)
        if isinstance(planned, str):
            report.left_out.append((str(document.get("id")), planned))
        else:
            granules.append(planned)
    granules = _latest_productions(granules, report)
    run = _Run(request, root, report)
    if request.dry_run:
        for granule in granules:
            run.plan(granule)
        return report
    root.mkdir(parents=True, exist_ok=True)
    with writer_lock(root):
        run.tally.files.total = len(granules) * (len(SDS) + 1)
        try:
            for granule in granules:
                run.acquire(granule)
        finally:
            run.tally.close()
    return report
