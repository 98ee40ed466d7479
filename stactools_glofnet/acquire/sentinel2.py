"""``acquire sentinel2``: search a STAC API, then fetch each scene's AOI windows into SOURCE.

For each item found (in datetime order): the AOI window of SCL is read first and the scene is
left out if its AOI cloud fraction (the build's masked SCL classes) exceeds ``--max-cloud``;
otherwise the AOI window of each band the build reads is written as a local COG in
``sentinel2/<id>/``, and then the item JSON ``sentinel2/<id>/<id>.json``: the provider's item
with its properties untouched, the fetched assets pointing at the local files (their provider
hrefs kept as ``alternate.provider``) and a ``derived_from`` link to the provider's item. The
item JSON is written last, so the build never sees a half-fetched scene.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import rasterio

from stactools_glofnet.acquire import items
from stactools_glofnet.acquire.common import search
from stactools_glofnet.acquire.hrefs import absolute, public_href
from stactools_glofnet.acquire.items import LocalAsset, item_href
from stactools_glofnet.acquire.manifest import Manifest
from stactools_glofnet.acquire.report import AcquireReport, Tally
from stactools_glofnet.acquire.request import AcquireRequest, iso
from stactools_glofnet.acquire.retry import with_retries
from stactools_glofnet.acquire.signing import sign
from stactools_glofnet.acquire.store import remove_stale_parts, write_atomically, write_text_atomically
from stactools_glofnet.acquire.window import Raster, cloud_fraction, read_aoi, read_local
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json, unsafe_name_reason
from stactools_glofnet.core.grids import Grid, aoi_grid
from stactools_glofnet.core.output import writer_lock
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.sentinel2.bands import BANDS, SCL_KEY
from stactools_glofnet.sentinel2.forms import asset_keys

logger = logging.getLogger(__name__)

MODALITY_DIR: Final = "sentinel2"
BAND_KEYS: Final = (SCL_KEY, *(band.key for band in BANDS))
"""What the build reads, SCL first: a scene too cloudy over the AOI costs only its SCL window."""
ITEM_ASSET: Final = "item"


@dataclass(frozen=True)
class Fetch:
    """One band file of a scene: the build's band key, the item's asset key, href and local name."""

    key: str
    asset: str
    href: str
    filename: str


@dataclass(frozen=True)
class Scene:
    """A provider item to acquire."""

    id: str
    item_href: str
    datetime: dt.datetime
    document: dict[str, Any]
    fetches: tuple[Fetch, ...]

    def relative(self, filename: str) -> str:
        """A file of the scene, relative to ``sentinel2/``."""
        return f"{self.id}/{filename}"

    @property
    def item_file(self) -> str:
        """The item JSON, relative to ``sentinel2/``."""
        return self.relative(f"{self.id}.json")


def _file_name(href: str, asset: str, taken: set[str]) -> str:
    """The provider's file name when it is a safe ``.tif`` name not yet used, else ``<asset>.tif``."""
    name = posixpath.basename(unquote(urlsplit(href).path))
    if unsafe_name_reason(name) is not None or not name.lower().endswith((".tif", ".tiff")) or name in taken:
        name = f"{asset}.tif"
    taken.add(name)
    return name


def plan_scene(document: dict[str, Any], api: str, collection: str) -> Scene | str:
    """The scene to fetch from one item of the search, or why it cannot be used."""
    scene_id = str(document.get("id", ""))
    unsafe = unsafe_name_reason(scene_id)
    if unsafe:
        return unsafe
    try:
        moment = dt.datetime.fromisoformat(str(document["properties"]["datetime"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return f"{scene_id}: no valid datetime"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    provider_href = item_href(document, api, collection)
    assets = document.get("assets") or {}
    fetches = []
    taken = {f"{scene_id}.json"}
    for key in BAND_KEYS:
        name = next((n for n in asset_keys(key) if isinstance(assets.get(n), dict)), None)
        if name is None or not assets[name].get("href"):
            return f"{scene_id}: no {'/'.join(asset_keys(key))} asset"
        href = absolute(str(assets[name]["href"]), provider_href)
        fetches.append(Fetch(key, name, href, _file_name(href, name, taken)))
    return Scene(scene_id, provider_href, moment.astimezone(dt.UTC), document, tuple(fetches))


def local_item(scene: Scene, grids: dict[str, Grid]) -> dict[str, Any]:
    """The provider's item with the fetched assets local and the provider's hrefs as provenance."""
    fetched = {fetch.asset: LocalAsset(fetch.filename, grids[fetch.asset]) for fetch in scene.fetches}
    return items.local_item(scene.document, scene.item_href, fetched)


def _local_grid(path: Path) -> Grid:
    with rasterio.open(path) as source:
        return Grid(source.crs, source.transform, source.width, source.height)


class _Run:
    """One acquisition into ``root`` (SOURCE/sentinel2)."""

    def __init__(self, request: AcquireRequest, content: CatalogContent, report: AcquireReport) -> None:
        self.request = request
        self.root = request.source / MODALITY_DIR
        self.manifest = Manifest.load(self.root)
        self.report = report
        self.aoi = content.geometry.aoi.bbox
        self.grid = aoi_grid(content.processing.grids["sentinel2_10m"], self.aoi)
        self.masked = content.processing.sentinel2.cloud_mask_classes
        self.limit = request.max_cloud_percent / 100
        self.tally = Tally(report)

    def is_complete(self, scene: Scene) -> bool:
        files = [scene.relative(fetch.filename) for fetch in scene.fetches] + [scene.item_file]
        return all(self.manifest.complete(relative) for relative in files)

    def known_too_cloudy(self, scene: Scene) -> float | None:
        record = self.manifest.scenes.get(scene.id) or {}
        fraction = record.get("aoi_cloud_fraction")
        if record.get("status") != "too_cloudy" or not isinstance(fraction, int | float):
            return None
        if self.too_cloudy(float(fraction)):
            return float(fraction)
        return None

    def too_cloudy(self, fraction: float) -> bool:
        return fraction >= 1.0 or fraction > self.limit

    def read(self, fetch: Fetch) -> Raster | None:
        what = public_href(fetch.href)

        def attempt() -> Raster | None:
            # Planetary Computer hrefs need a SAS token (fetched per read: tokens expire); any other
            # href comes back unchanged. The signed href is never logged or written.
            return read_aoi(sign(fetch.href), self.aoi)

        return with_retries(attempt, attempts=self.request.attempts, what=what)

    def store(self, scene: Scene, fetch: Fetch, raster: Raster) -> None:
        relative = scene.relative(fetch.filename)
        path = self.root / relative
        write_atomically(
            path, lambda target: write_cog(target, raster.data, raster.grid, nodata=raster.nodata)
        )
        self.manifest.record_file(
            relative, asset=fetch.asset, href=public_href(fetch.href), item=public_href(scene.item_href)
        )
        self.tally.add(path)

    def leave_out(self, scene: Scene, reason: str, *, fraction: float | None, status: str) -> None:
        self.manifest.record_scene(
            scene.id,
            item=public_href(scene.item_href),
            datetime=iso(scene.datetime),
            status="too_cloudy" if status == "too_cloudy" else "outside_aoi",
            cloud_fraction=fraction,
        )
        if status == "too_cloudy" and fraction is not None:
            self.report.too_cloudy.append((scene.id, fraction))
        else:
            self.report.left_out.append((scene.id, reason))
        logger.info("%s: %s", scene.id, reason)

    def settled(self, scene: Scene) -> bool:
        """Whether nothing is to be fetched for ``scene``: complete, or known to be too cloudy."""
        if self.is_complete(scene):
            self.report.complete.append(scene.id)
            return True
        known = self.known_too_cloudy(scene)
        if known is not None:
            self.report.too_cloudy.append((scene.id, known))
            return True
        return False

    def plan(self, scene: Scene) -> None:
        """List what :meth:`acquire` would fetch of ``scene`` (a dry run: nothing is written)."""
        if self.settled(scene):
            return
        keys = ", ".join(
            fetch.asset
            for fetch in scene.fetches
            if not self.manifest.complete(scene.relative(fetch.filename))
        )
        self.report.planned.append(
            f"would fetch {scene.id} ({iso(scene.datetime)}): AOI windows of {keys or 'no band'}, item JSON"
            f" -> {MODALITY_DIR}/{scene.id}/ (from {public_href(scene.item_href)})"
        )

    def acquire(self, scene: Scene) -> None:
        """Fetch one scene (or what of it is missing), SCL first."""
        remove_stale_parts(self.root / scene.id)
        if self.settled(scene):
            return
        scl_fetch, *band_fetches = scene.fetches
        scl_path = self.root / scene.relative(scl_fetch.filename)
        scl_done = self.manifest.complete(scene.relative(scl_fetch.filename))
        scl = read_local(str(scl_path)) if scl_done else self.read(scl_fetch)
        fraction = None if scl is None else cloud_fraction(scl, self.grid, self.masked)
        if scl is None or fraction is None:
            self.leave_out(scene, "its SCL does not reach the AOI", fraction=None, status="outside")
            return
        if self.too_cloudy(fraction):
            limit = self.request.max_cloud_percent
            reason = f"AOI cloud fraction {fraction:.3f} exceeds --max-cloud {limit:g} %"
            self.leave_out(scene, reason, fraction=fraction, status="too_cloudy")
            return
        if not scl_done:
            self.store(scene, scl_fetch, scl)
        grids = {scl_fetch.asset: scl.grid}
        for fetch in band_fetches:
            relative = scene.relative(fetch.filename)
            if self.manifest.complete(relative):
                grids[fetch.asset] = _local_grid(self.root / relative)
                continue
            raster = self.read(fetch)
            if raster is None:
                raise GlofnetError(
                    public_href(fetch.href), f"band {fetch.key!r} of {scene.id} misses the AOI"
                )
            self.store(scene, fetch, raster)
            grids[fetch.asset] = raster.grid
        item_path = self.root / scene.item_file
        write_text_atomically(item_path, dumps_json(local_item(scene, grids)))
        self.manifest.record_file(
            scene.item_file,
            asset=ITEM_ASSET,
            href=public_href(scene.item_href),
            item=public_href(scene.item_href),
        )
        self.tally.add(item_path)
        self.manifest.record_scene(
            scene.id,
            item=public_href(scene.item_href),
            datetime=iso(scene.datetime),
            status="acquired",
            cloud_fraction=fraction,
        )
        self.report.acquired.append(scene.id)

    def close(self) -> None:
        self.tally.close()


def acquire_sentinel2(request: AcquireRequest, content: CatalogContent) -> AcquireReport:
    """Fetch the Sentinel-2 L2A scenes of ``request`` into ``request.source``/sentinel2/.

    Raises :class:`GlofnetError` (one line, naming the URL or file) when the API or a file cannot
    be read after the retries; what was complete by then stays, and a rerun fetches the rest.
    """
    found = search(request, content, modality=MODALITY_DIR, unit="scenes")
    root, report, documents = found.root, found.report, found.documents
    scenes = []
    for document in documents:
        planned = plan_scene(document, request.api, request.collection)
        if isinstance(planned, str):
            report.left_out.append((str(document.get("id")), planned))
        else:
            scenes.append(planned)
    scenes.sort(key=lambda scene: (scene.datetime, scene.id))
    if request.dry_run:
        dry = _Run(request, content, report)
        for scene in scenes:
            dry.plan(scene)
        return report
    root.mkdir(parents=True, exist_ok=True)
    with writer_lock(root):
        run = _Run(request, content, report)
        run.tally.files.total = len(scenes) * (len(BAND_KEYS) + 1)  # at most: SCL, six bands, the item
        try:
            for scene in scenes:
                run.acquire(scene)
        finally:
            run.close()
    return report
