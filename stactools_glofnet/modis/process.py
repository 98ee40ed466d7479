"""One MODIS day: both tiles' AOI windows, QC-filtered, in Kelvin, mosaicked, reprojected to UTM."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rasterio.warp import transform_bounds

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid, TileWindow, aoi_grid, snapped_grid, tile_windows_over
from stactools_glofnet.core.raster import nearest_source_index, reproject_onto, take_nearest
from stactools_glofnet.modis.qc import accepted
from stactools_glofnet.modis.read import LST_SCALE, Tile, read_geotiffs, read_hdf4

Float32 = NDArray[np.float32]
TileSource = str | dict[str, str]
"""A tile-day's file(s): an HDF4 granule, or ``{sds: COG}``. Names, not :class:`~pathlib.Path`
objects: a build holds every tile-day's sources from discovery until its job runs, and a Path
keeps its parsed parts (about 1.1 KiB each against 130 bytes as a string; 5800 paths at
fraction 0.08, about 75,000 in the whole archive)."""


def read_tile(source: TileSource) -> Tile:
    """Read a tile-day from its HDF4 granule or its per-SDS COGs."""
    if isinstance(source, str):
        return read_hdf4(Path(source))
    return read_geotiffs({sds: Path(path) for sds, path in source.items()})


@dataclass(frozen=True)
class Day:
    """One day of LST on the UTM grid, with what was observed."""

    day: dt.date
    lst_day: Float32
    lst_night: Float32
    tiles: list[str]
    aoi_coverage_day: float
    aoi_coverage_night: float


def utm_grid(content: CatalogContent) -> Grid:
    """The declared UTM 43N grid over the AOI that LST is reprojected onto."""
    return aoi_grid(content.processing.grids["modis_utm"], content.geometry.aoi.bbox)


def source_mosaic(content: CatalogContent) -> tuple[Grid, list[TileWindow]]:
    """The sinusoidal grid covering the whole UTM grid plus one pixel, and its tile windows.

    Built from the UTM grid (not the AOI box), so no UTM pixel centre falls outside the source.
    """
    spec = content.processing.grids["modis"]
    target = utm_grid(content)
    left, bottom, right, top = transform_bounds(target.crs, spec.crs, *target.bounds, densify_pts=51)
    margin = spec.resolution
    mosaic = snapped_grid(spec, (left - margin, bottom - margin, right + margin, top + margin))
    return mosaic, tile_windows_over(spec, mosaic)


def window_slices(tile: Tile, window_grid: Grid) -> tuple[slice, slice]:
    """The tile's pixels under ``window_grid``; the tile must be on the same lattice."""
    t, w = tile.grid.transform, window_grid.transform
    if not (np.isclose(t.a, w.a, rtol=1e-6) and np.isclose(t.e, w.e, rtol=1e-6)):
        raise GlofnetError(tile.path, f"pixel size {t.a:.3f} m is not the MODIS 1 km grid's {w.a:.3f} m")
    col_exact, row_exact = (w.c - t.c) / t.a, (w.f - t.f) / t.e
    col, row = round(col_exact), round(row_exact)
    if abs(col - col_exact) > 1e-3 or abs(row - row_exact) > 1e-3:
        raise GlofnetError(tile.path, "is not aligned with the MODIS sinusoidal grid")
    inside = col >= 0 and row >= 0
    inside = (
        inside and col + window_grid.width <= tile.grid.width and row + window_grid.height <= tile.grid.height
    )
    if not inside:
        raise GlofnetError(tile.path, f"does not cover the AOI window of {tile.tile}")
    return slice(row, row + window_grid.height), slice(col, col + window_grid.width)


def process_day(content: CatalogContent, day: dt.date, sources: dict[str, TileSource]) -> Day:
    """Mosaic the day's tiles over the AOI, keep QC-accepted pixels, reproject to UTM."""
    params = content.processing.modis
    mosaic_grid, windows = source_mosaic(content)
    mosaic = {part: np.full(mosaic_grid.shape, np.nan, dtype=np.float32) for part in ("Day", "Night")}
    for window in windows:
        source = sources.get(window.tile)
        if source is None:
            continue
        tile = read_tile(source)
        rows, cols = window_slices(tile, window.grid)
        # Each window sits in the mosaic at its own offset, whatever order the tiles are listed in.
        row0 = round((mosaic_grid.transform.f - window.grid.transform.f) / -mosaic_grid.transform.e)
        col0 = round((window.grid.transform.c - mosaic_grid.transform.c) / mosaic_grid.transform.a)
        place = (slice(row0, row0 + window.grid.height), slice(col0, col0 + window.grid.width))
        for part in ("Day", "Night"):
            dn = tile.bands[f"LST_{part}_1km"][rows, cols]
            keep = accepted(tile.bands[f"QC_{part}"][rows, cols], dn, params)
            mosaic[part][place] = np.where(keep, dn.astype(np.float32) * np.float32(LST_SCALE), np.nan)
    target = utm_grid(content)
    out = {}
    for part, values in mosaic.items():
        # tolerance=0: an exact coordinate transformation, so each value is one source pixel's.
        if params.resampling == "nearest":  # the same source pixels every day: found once
            out[part] = take_nearest(values, nearest_source_index(mosaic_grid, target, tolerance=0))
        else:
            out[part] = reproject_onto(values, mosaic_grid, target, params.resampling, tolerance=0)
    return Day(
        day=day,
        lst_day=out["Day"],
        lst_night=out["Night"],
        tiles=sorted(t for t in sources if t in {w.tile for w in windows}),
        aoi_coverage_day=float(np.isfinite(mosaic["Day"]).mean()),
        aoi_coverage_night=float(np.isfinite(mosaic["Night"]).mean()),
    )
