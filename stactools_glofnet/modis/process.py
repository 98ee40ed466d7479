"""One MODIS day: both tiles' AOI windows, QC-filtered, in Kelvin, mosaicked, reprojected to UTM."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.warp import reproject

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid, aoi_grid, tile_windows
from stactools_glofnet.modis.qc import accepted
from stactools_glofnet.modis.read import LST_SCALE, SDS, Tile, parse_name, read_geotiffs, read_hdf4

Float32 = NDArray[np.float32]
TileSource = Path | dict[str, Path]


@dataclass(frozen=True)
class Day:
    """One day of LST on the UTM grid, with what was observed."""

    day: dt.date
    lst_day: Float32
    lst_night: Float32
    tiles: list[str]
    aoi_coverage_day: float
    aoi_coverage_night: float


def group_files(source_dir: Path) -> dict[dt.date, dict[str, TileSource]]:
    """Source files by day and tile: an HDF4 granule, or one GeoTIFF per SDS."""
    days: dict[dt.date, dict[str, TileSource]] = defaultdict(dict)
    for path in sorted(source_dir.rglob("MOD11A1.*")):
        day, tile = parse_name(path)
        if path.suffix == ".hdf":
            days[day][tile] = path
        elif path.suffix == ".tif":
            sds = path.name.split(".061.", 1)[1].removesuffix(".tif")
            if sds not in SDS:
                continue
            entry = days[day].setdefault(tile, {})
            if isinstance(entry, dict):
                entry[sds] = path
    return dict(sorted(days.items()))


def utm_grid(content: CatalogContent) -> Grid:
    """The declared UTM 43N grid over the AOI that LST is reprojected onto."""
    return aoi_grid(content.processing.grids["modis_utm"], content.geometry.aoi.bbox)


def _window(tile: Tile, window_grid: Grid) -> tuple[slice, slice]:
    t = tile.grid.transform
    col = round((window_grid.transform.c - t.c) / t.a)
    row = round((window_grid.transform.f - t.f) / t.e)
    if (
        col < 0
        or row < 0
        or col + window_grid.width > tile.grid.width
        or row + window_grid.height > tile.grid.height
    ):
        raise GlofnetError(tile.path, f"does not cover the AOI window of {tile.tile}")
    return slice(row, row + window_grid.height), slice(col, col + window_grid.width)


def process_day(content: CatalogContent, day: dt.date, sources: dict[str, TileSource]) -> Day:
    """Mosaic the day's tiles over the AOI, keep QC-accepted pixels, reproject to UTM."""
    spec = content.processing.grids["modis"]
    params = content.processing.modis
    windows = tile_windows(spec, content.geometry.aoi.bbox)
    mosaic_grid = aoi_grid(spec, content.geometry.aoi.bbox)
    mosaic = {part: np.full(mosaic_grid.shape, np.nan, dtype=np.float32) for part in ("Day", "Night")}
    column = 0
    for window in windows:
        width = window.grid.width
        source = sources.get(window.tile)
        if source is not None:
            tile = read_hdf4(source) if isinstance(source, Path) else read_geotiffs(source)
            rows, cols = _window(tile, window.grid)
            for part in ("Day", "Night"):
                dn = tile.bands[f"LST_{part}_1km"][rows, cols]
                keep = accepted(tile.bands[f"QC_{part}"][rows, cols], dn, params)
                kelvin = np.where(keep, dn.astype(np.float32) * np.float32(LST_SCALE), np.nan)
                mosaic[part][:, column : column + width] = kelvin
        column += width
    target = utm_grid(content)
    out = {}
    for part, values in mosaic.items():
        projected = np.full(target.shape, np.nan, dtype=np.float32)
        reproject(
            values,
            projected,
            src_transform=mosaic_grid.transform,
            src_crs=mosaic_grid.crs,
            dst_transform=target.transform,
            dst_crs=target.crs,
            src_nodata=np.nan,
            dst_nodata=np.nan,
            resampling=Resampling[params.resampling],
            tolerance=0,  # exact coordinate transformation: each value is one source pixel's
        )
        out[part] = projected
    return Day(
        day=day,
        lst_day=out["Day"],
        lst_night=out["Night"],
        tiles=sorted(t for t in sources if t in {w.tile for w in windows}),
        aoi_coverage_day=float(np.isfinite(mosaic["Day"]).mean()),
        aoi_coverage_night=float(np.isfinite(mosaic["Night"]).mean()),
    )
