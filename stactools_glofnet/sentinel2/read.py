"""Reader for Earth Search ``sentinel-2-l2a`` items and their band COGs.

Bands are read through a warped view onto a target grid, so only the blocks over that grid are
fetched, never whole tiles. Physical reflectance comes from each asset's own ``raster:bands``
scale/offset; only where those are absent is it derived from the processing baseline and
``earthsearch:boa_offset_applied`` (DOMAIN.md §4). The offset is never applied twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import require_regular_file
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.hrefs import href_kind
from stactools_glofnet.sentinel2.bands import BOA_ADD_OFFSET, BOA_OFFSET_BASELINE, QUANTIFICATION, SCL_KEY

HrefModifier = Callable[[str], str]


@dataclass(frozen=True)
class BandAsset:
    """One band file of a source scene and how to turn its DN into reflectance."""

    key: str
    href: str
    scale: float
    offset: float
    nodata: float | None


@dataclass(frozen=True)
class SourceScene:
    """A source Sentinel-2 L2A item, checked."""

    path: str
    item: pystac.Item
    crs: CRS
    datetime: dt.datetime
    baseline: tuple[int, ...] | None
    boa_offset_applied: bool | None
    origin_href: str
    read_href_modifier: HrefModifier | None = None

    @property
    def id(self) -> str:
        """The source item's id."""
        return self.item.id

    def asset(self, key: str) -> BandAsset:
        """The band asset ``key`` with its DN → reflectance conversion."""
        asset = self.item.assets.get(key)
        if asset is None:
            raise GlofnetError(self.path, f"missing band asset {key!r}")
        href = asset.get_absolute_href() or asset.href
        if self.read_href_modifier is not None:
            href = self.read_href_modifier(href)
        if href_kind(href) != "remote":
            require_regular_file(Path(href.removeprefix("file://")), f"band asset {key!r}")
        try:
            bands: list[dict[str, Any]] = asset.extra_fields.get("raster:bands") or [{}]
            declared = bands[0]
            nodata = declared.get("nodata", 0)
            nodata = None if nodata is None else float(nodata)
            if key == SCL_KEY:
                return BandAsset(key, href, 1.0, 0.0, nodata)
            if "scale" in declared or "offset" in declared:
                scale, offset = float(declared.get("scale", 1.0)), float(declared.get("offset", 0.0))
            else:
                scale, offset = 1 / QUANTIFICATION, self._baseline_offset()
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            raise GlofnetError(self.path, f"asset {key!r} has malformed raster:bands ({error!r})") from None
        return BandAsset(key, href, scale, offset, nodata)

    def _baseline_offset(self) -> float:
        """The reflectance offset implied by the processing baseline, if the item declares none."""
        if self.baseline is None:
            raise GlofnetError(self.path, "no raster:bands scale/offset and no s2:processing_baseline")
        if self.baseline >= BOA_OFFSET_BASELINE and not self.boa_offset_applied:
            return BOA_ADD_OFFSET / QUANTIFICATION
        return 0.0


def _item_crs(path: str, item: pystac.Item) -> CRS:
    code = item.properties.get("proj:code")
    epsg = item.properties.get("proj:epsg")
    try:
        if code:
            return CRS.from_user_input(code)
        if epsg:
            return CRS.from_epsg(int(epsg))
    except (CRSError, ValueError, TypeError) as error:
        raise GlofnetError(path, f"invalid proj:code / proj:epsg ({error})") from None
    raise GlofnetError(path, "item declares no proj:code or proj:epsg")


def _baseline(path: str, value: Any) -> tuple[int, ...] | None:
    """``"04.00"`` → (4, 0); compared as numbers, so "3.01" is older than "04.00"."""
    if value is None:
        return None
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        raise GlofnetError(path, f"s2:processing_baseline {value!r} is not like '04.00'") from None


def _origin(document: dict[str, Any], path: str) -> str:
    """Where the source item lives: its own absolute self/canonical URL, else the file read."""
    for rel in ("self", "canonical"):
        for link in document.get("links", []):
            href = str(link.get("href", "")) if isinstance(link, dict) else ""
            if link.get("rel") == rel and href.startswith(("http://", "https://", "s3://")):
                return href
    return path if "://" in path else str(Path(path).absolute())


def read_scene(href: str | Path, read_href_modifier: HrefModifier | None = None) -> SourceScene:
    """Read and check one Earth Search Sentinel-2 L2A item (a local path or a URL)."""
    path = str(href)
    try:
        document = json.loads(pystac.StacIO.default().read_text(path))
        item = pystac.Item.from_dict(document, href=path, preserve_dict=True)
    except Exception as error:  # pystac raises many types for unreadable JSON
        raise GlofnetError(path, f"not a readable STAC item ({error})") from None
    if item.datetime is None:
        raise GlofnetError(path, "item has no datetime")
    if item.datetime.tzinfo is None:
        raise GlofnetError(path, "item datetime has no time zone")
    applied = item.properties.get("earthsearch:boa_offset_applied")
    if applied is not None and not isinstance(applied, bool):
        raise GlofnetError(path, f"earthsearch:boa_offset_applied must be true or false, not {applied!r}")
    return SourceScene(
        path=path,
        item=item,
        crs=_item_crs(path, item),
        datetime=item.datetime.astimezone(dt.UTC),
        baseline=_baseline(path, item.properties.get("s2:processing_baseline")),
        boa_offset_applied=applied,
        origin_href=_origin(document, path),
        read_href_modifier=read_href_modifier,
    )


def file_bounds(scene: SourceScene, key: str, crs: CRS | None = None) -> tuple[float, float, float, float]:
    """Bounds of a band file, in ``crs`` (default: its own); checks it matches the item's CRS."""
    band = scene.asset(key)
    try:
        with rasterio.open(band.href) as source:
            if source.crs != scene.crs:
                raise GlofnetError(
                    band.href, f"band {key!r} is in {source.crs}, but its item {scene.id} says {scene.crs}"
                )
            bounds = tuple(source.bounds)
            source_crs = source.crs
    except RasterioError as error:
        raise GlofnetError(band.href, f"unreadable raster ({error})") from None
    if crs is not None and crs != source_crs:
        left, bottom, right, top = transform_bounds(source_crs, crs, *bounds)
        return (float(left), float(bottom), float(right), float(top))
    return (bounds[0], bounds[1], bounds[2], bounds[3])


def own_grid(scene: SourceScene, key: str) -> Grid:
    """The band file's own grid (trusted over the item's proj:shape, which may describe another file)."""
    band = scene.asset(key)
    try:
        with rasterio.open(band.href) as source:
            return Grid(source.crs, source.transform, source.width, source.height)
    except RasterioError as error:
        raise GlofnetError(band.href, f"unreadable raster ({error})") from None


def read_dn(
    scene: SourceScene, key: str, grid: Grid, resampling: Resampling
) -> tuple[NDArray[Any], float | None]:
    """The band's DN on ``grid`` and the nodata value used (the file's, else the item's)."""
    band = scene.asset(key)
    try:
        with rasterio.open(band.href) as source:
            if source.crs != scene.crs:
                raise GlofnetError(
                    band.href, f"band {key!r} is in {source.crs}, but its item {scene.id} says {scene.crs}"
                )
            nodata = source.nodata if source.nodata is not None else band.nodata
            with WarpedVRT(
                source,
                crs=grid.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=resampling,
                src_nodata=nodata,
                nodata=nodata,
            ) as view:
                data: NDArray[Any] = view.read(1)
    except RasterioError as error:
        raise GlofnetError(band.href, f"unreadable raster ({error})") from None
    return data, nodata


def read_reflectance(
    scene: SourceScene, key: str, grid: Grid | None = None, resampling: Resampling = Resampling.nearest
) -> NDArray[np.float32]:
    """Physical reflectance of band ``key`` on ``grid`` (default: the file's own), NaN for no data."""
    band = scene.asset(key)
    target = grid or own_grid(scene, key)
    dn, nodata = read_dn(scene, key, target, resampling)
    reflectance = dn.astype(np.float64) * band.scale + band.offset
    if nodata is not None:
        reflectance[dn == nodata] = np.nan
    result: NDArray[np.float32] = reflectance.astype(np.float32)
    return result
