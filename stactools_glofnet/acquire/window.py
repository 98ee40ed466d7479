"""The AOI window of a remote band COG: read with HTTP range requests, written as a local COG.

GDAL (through rasterio) opens a COG over HTTP by reading its header, then fetches only the
internal tiles a window touches. The window is the AOI's bounds in the file's CRS, widened by a
margin (the build resamples 20 m bands bilinearly onto the 10 m AOI grid, which reads a pixel
past the edge) and snapped outwards to 60 m from the file's own origin: 60 m is a multiple of
every Sentinel-2 pixel size, so the 10, 20 and 60 m bands of a tile get windows of one extent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from stactools_glofnet.core.config import BBox
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import WGS84, Grid
from stactools_glofnet.core.raster import intersect, reproject_onto

MARGIN_M: Final = 120.0
SNAP_M: Final = 60.0

GDAL_HTTP: Final[dict[str, Any]] = {
    # Open a URL without listing its "directory" (an extra request, and no listing on object stores).
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Drop what was cached of a remote file when it is closed: a rerun reads the provider again.
    "CPL_VSIL_CURL_NON_CACHED": "/vsicurl/",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_TIMEOUT": "60",
    # Public buckets (s3:// hrefs) are read anonymously.
    "AWS_NO_SIGN_REQUEST": "YES",
}


@dataclass(frozen=True)
class Raster:
    """A window of a single-band file held in memory: values, grid and nodata."""

    data: NDArray[Any]
    grid: Grid
    nodata: float | None


def aoi_window(source: DatasetReader, aoi: BBox) -> Window | None:
    """The window of ``source`` over the AOI (WGS84 bbox), margin added and snapped; None if apart."""
    t = source.transform
    if t.b != 0 or t.d != 0 or t.e >= 0:
        raise GlofnetError(source.name, "not a north-up raster; AOI windows need one")
    left, bottom, right, top = transform_bounds(WGS84, source.crs, *aoi, densify_pts=51)
    step = SNAP_M / t.a if (SNAP_M / t.a).is_integer() else 1.0
    col0 = math.floor(round((left - MARGIN_M - t.c) / t.a / step, 6)) * step
    col1 = math.ceil(round((right + MARGIN_M - t.c) / t.a / step, 6)) * step
    row0 = math.floor(round((t.f - top - MARGIN_M) / -t.e / step, 6)) * step
    row1 = math.ceil(round((t.f - bottom + MARGIN_M) / -t.e / step, 6)) * step
    col0, row0 = max(0, int(col0)), max(0, int(row0))
    col1, row1 = min(source.width, int(col1)), min(source.height, int(row1))
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def read_aoi(href: str, aoi: BBox) -> Raster | None:
    """The AOI window of band 1 of the raster at ``href`` (a URL or a path); None if it misses the AOI."""
    with rasterio.Env(**GDAL_HTTP), rasterio.open(href) as source:
        window = aoi_window(source, aoi)
        if window is None:
            return None
        data = source.read(1, window=window)
        grid = Grid(source.crs, source.window_transform(window), int(window.width), int(window.height))
        return Raster(data, grid, source.nodata)


def read_local(path: str) -> Raster:
    """A whole local single-band file (a window written earlier)."""
    with rasterio.open(path) as source:
        grid = Grid(source.crs, source.transform, source.width, source.height)
        return Raster(source.read(1), grid, source.nodata)


def cloud_fraction(scl: Raster, aoi_grid: Grid, masked_classes: Sequence[int]) -> float | None:
    """The share of the AOI's 10 m grid whose SCL class is masked, as the build counts it.

    The SCL is taken onto the AOI grid clipped to the file (nearest neighbour), like the build's
    cloud mask; None when the file does not reach the AOI grid.
    """
    grid = intersect(aoi_grid, scl.grid.bounds)
    if grid is None:
        return None
    values = reproject_onto(scl.data.astype(np.float32), scl.grid, grid, "nearest", src_nodata=None)
    return float(np.isin(values, list(masked_classes)).mean())


def read_grid(href: str, grid: Grid) -> Raster:
    """The pixels of ``grid`` from band 1 of the raster at ``href``, which holds them on its own lattice.

    For files on a fixed tiling (MODIS): the window is the exact pixels the build takes from the
    whole file, so what is read from the window equals what is read from the whole file.
    """
    with rasterio.Env(**GDAL_HTTP), rasterio.open(href) as source:
        t, g = source.transform, grid.transform
        if not (math.isclose(t.a, g.a, rel_tol=1e-6) and math.isclose(t.e, g.e, rel_tol=1e-6)):
            raise GlofnetError(source.name, f"pixel size {t.a:.3f} m is not the expected {g.a:.3f} m")
        col_exact, row_exact = (g.c - t.c) / t.a, (g.f - t.f) / t.e
        col, row = round(col_exact), round(row_exact)
        if abs(col - col_exact) > 1e-3 or abs(row - row_exact) > 1e-3:
            raise GlofnetError(source.name, "is not on the expected pixel lattice")
        if col < 0 or row < 0 or col + grid.width > source.width or row + grid.height > source.height:
            raise GlofnetError(source.name, "does not hold the AOI window")
        window = Window(col, row, grid.width, grid.height)
        data = source.read(1, window=window)
        local = Grid(source.crs, source.window_transform(window), grid.width, grid.height)
        return Raster(data, local, source.nodata)
