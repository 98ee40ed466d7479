"""Reader for Sentinel-2 L2A STAC items (every provider form of :mod:`.forms`) and their band COGs.

Bands are read through a warped view onto a target grid, so only the blocks over that grid are
fetched, never whole tiles; a grid that is a window of the file (same CRS and pixel size, whole
pixels in) is read as that window, the same pixels at less cost. DN become reflectance by the
rule of the item's provider form (:func:`.forms.nominal_rule`, docs/sources.md); the per-scene
radiometric check may later correct it (:mod:`.radiometry`). The offset is never applied twice.
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
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import require_regular_file
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.hrefs import href_kind
from stactools_glofnet.sentinel2.bands import BANDS, BOA_OFFSET_BASELINE, SCL_KEY
from stactools_glofnet.sentinel2.forms import (
    ProviderForm,
    asset_keys,
    baseline,
    detect,
    nominal_rule,
    offset_flag,
)
from stactools_glofnet.sentinel2.radiometry import Radiometry

HrefModifier = Callable[[str], str]
ALIGNMENT_TOLERANCE = 1e-6
"""Pixels: how far a grid's offset in a file may be from a whole number for a direct window read."""


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
    form: ProviderForm
    radiometry: Radiometry
    baseline_text: str | None = None
    read_href_modifier: HrefModifier | None = None

    @property
    def id(self) -> str:
        """The source item's id."""
        return self.item.id

    @property
    def platform(self) -> str | None:
        """The platform in STAC's lower-case form (Planetary Computer writes "Sentinel-2A")."""
        value = self.item.properties.get("platform")
        return None if value is None else str(value).lower()

    @property
    def offset_exists(self) -> bool:
        """Whether ESA's DN carry a BOA offset (baseline 04.00 on; unknown baseline: assume so)."""
        return self.baseline is None or self.baseline >= BOA_OFFSET_BASELINE

    def asset(self, key: str) -> BandAsset:
        """The band asset ``key`` (common name or ``scl``) with its DN → reflectance conversion."""
        asset, declared = _band_asset(self.path, self.item, key)
        href = asset.get_absolute_href() or asset.href
        if self.read_href_modifier is not None:
            href = self.read_href_modifier(href)
        if href_kind(href) != "remote":
            require_regular_file(Path(href.removeprefix("file://")), f"band asset {key!r}")
        nodata = declared.get("nodata", 0)
        try:
            nodata = None if nodata is None else float(nodata)
        except (TypeError, ValueError):
            raise GlofnetError(self.path, f"asset {key!r} has a malformed nodata {nodata!r}") from None
        if key == SCL_KEY:
            return BandAsset(key, href, 1.0, 0.0, nodata)
        return BandAsset(key, href, self.radiometry.scale, self.radiometry.offset, nodata)


def _band_asset(path: str, item: pystac.Item, key: str) -> tuple[pystac.Asset, dict[str, Any]]:
    """The item's asset for band ``key`` under any of its names, with its ``raster:bands[0]``."""
    names = asset_keys(key)
    asset = next((item.assets[name] for name in names if name in item.assets), None)
    if asset is None:
        raise GlofnetError(path, f"missing band asset {names[0]!r} (or {names[1]!r})")
    bands = asset.extra_fields.get("raster:bands")
    if bands is None:
        return asset, {}
    if not isinstance(bands, list) or not bands or not isinstance(bands[0], dict):
        raise GlofnetError(path, f"asset {key!r} has malformed raster:bands ({bands!r})")
    return asset, dict(bands[0])


def _scene_rule(
    path: str, item: pystac.Item, flag: bool | None, version: tuple[int, ...] | None
) -> Radiometry:
    """The metadata's rule, which must be the same for the six bands."""
    rules = {}
    for band in BANDS:
        declared = _band_asset(path, item, band.key)[1]
        try:
            rules[band.key] = nominal_rule(path, band.key, declared, flag, version)
        except (TypeError, ValueError) as error:
            raise GlofnetError(path, f"asset {band.key!r} has malformed raster:bands ({error!r})") from None
    first = rules[BANDS[0].key]
    for key, rule in rules.items():
        if (rule.scale, rule.offset) != (first.scale, first.offset):
            raise GlofnetError(
                path,
                f"band {key!r} declares scale {rule.scale:g} offset {rule.offset:g}, but"
                f" {BANDS[0].key!r} {first.scale:g} / {first.offset:g}; one rule per scene is expected",
            )
    _band_asset(path, item, SCL_KEY)
    return first


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


def _origin(document: dict[str, Any], path: str) -> str:
    """Where the source item lives: its own absolute self/canonical URL, or the provider item an
    acquired copy was ``derived_from`` (``stac glofnet acquire``), else the file read."""
    for rel in ("self", "canonical", "derived_from"):
        for link in document.get("links", []):
            href = str(link.get("href", "")) if isinstance(link, dict) else ""
            if link.get("rel") == rel and href.startswith(("http://", "https://", "s3://")):
                return href
    return path if "://" in path else str(Path(path).absolute())


def read_scene(href: str | Path, read_href_modifier: HrefModifier | None = None) -> SourceScene:
    """Read and check one Sentinel-2 L2A item of any provider form (a local path or a URL)."""
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
    properties = item.properties
    flag = offset_flag(path, properties)
    found = baseline(path, properties)
    version = None if found is None else found[1]
    return SourceScene(
        path=path,
        item=item,
        crs=_item_crs(path, item),
        datetime=item.datetime.astimezone(dt.UTC),
        baseline=version,
        boa_offset_applied=flag,
        origin_href=_origin(document, path),
        form=detect(item.collection_id or document.get("collection"), properties, set(item.assets)),
        radiometry=_scene_rule(path, item, flag, version),
        baseline_text=None if found is None else found[0],
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


def source_window(source: DatasetReader, grid: Grid) -> Window | None:
    """The window of ``source`` that is exactly ``grid``: same CRS and pixel size, whole-pixel
    offset, inside the file; None when ``grid`` is any other grid."""
    transform = source.transform
    if source.crs != grid.crs or transform.b or transform.d or grid.transform.b or grid.transform.d:
        return None
    if (transform.a, transform.e) != (grid.transform.a, grid.transform.e):
        return None
    window = from_bounds(*grid.bounds, transform=transform)
    exact = window.round_offsets().round_lengths()
    if any(
        abs(float(value) - float(rounded)) > ALIGNMENT_TOLERANCE
        for value, rounded in zip(window.flatten(), exact.flatten(), strict=True)
    ):
        return None
    inside = exact.col_off >= 0 and exact.row_off >= 0
    inside = inside and exact.col_off + exact.width <= source.width
    inside = inside and exact.row_off + exact.height <= source.height
    if not inside or (exact.height, exact.width) != grid.shape:
        return None
    return exact


def read_dn(
    scene: SourceScene, key: str, grid: Grid, resampling: Resampling
) -> tuple[NDArray[Any], float | None]:
    """The band's DN on ``grid`` and the nodata value used (the file's, else the item's).

    With nearest-neighbour resampling onto a grid that is a window of the file (a 10 m band on
    the 10 m AOI grid), the window is read directly: the same pixels as through a warped view,
    at less than half the cost.
    """
    band = scene.asset(key)
    try:
        with rasterio.open(band.href) as source:
            if source.crs != scene.crs:
                raise GlofnetError(
                    band.href, f"band {key!r} is in {source.crs}, but its item {scene.id} says {scene.crs}"
                )
            nodata = source.nodata if source.nodata is not None else band.nodata
            window = source_window(source, grid) if resampling == Resampling.nearest else None
            if window is not None:
                return source.read(1, window=window), nodata
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
