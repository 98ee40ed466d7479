"""Raster helpers every wing shares: grid arithmetic, smooth noise, COG writing, rasterizing."""

from __future__ import annotations

import errno
import functools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from numpy.typing import NDArray
from rasterio._err import CPLE_BaseError  # GDAL's errors as rasterio raises them (no public name)
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import reproject, transform_geom

from stactools_glofnet.core.config import Position
from stactools_glofnet.core.engine import job_threads
from stactools_glofnet.core.grids import Grid

COG_PROFILE: dict[str, Any] = {
    "driver": "COG",
    "compress": "DEFLATE",
    "predictor": "YES",
    "blocksize": 256,
    "overview_resampling": "NEAREST",
}


def refine(grid: Grid, factor: int) -> Grid:
    """The same extent with pixels ``factor`` times smaller."""
    t = grid.transform
    return Grid(
        grid.crs,
        Affine(t.a / factor, 0, t.c, 0, t.e / factor, t.f),
        grid.width * factor,
        grid.height * factor,
    )


def reproject_onto(
    values: NDArray[Any],
    source: Grid,
    target: Grid,
    resampling: str,
    *,
    src_nodata: float | None = np.nan,
    dtype: type[np.floating[Any]] = np.float32,
    **options: Any,
) -> NDArray[Any]:
    """``values`` on ``source`` resampled onto ``target`` with rasterio; cells nothing maps to are NaN.

    ``resampling`` names a rasterio method (``nearest``, ``average``...); ``options`` go to
    :func:`rasterio.warp.reproject` (e.g. ``tolerance=0`` for an exact transformation).
    """
    out = np.full(target.shape, np.nan, dtype=dtype)
    reproject(
        values,
        out,
        src_transform=source.transform,
        src_crs=source.crs,
        dst_transform=target.transform,
        dst_crs=target.crs,
        src_nodata=src_nodata,
        dst_nodata=np.nan,
        resampling=Resampling[resampling],
        **options,
    )
    return out


@functools.lru_cache(maxsize=8)
def nearest_source_index(source: Grid, target: Grid, tolerance: float | None = None) -> NDArray[np.int64]:
    """For each ``target`` pixel, the flat index of the ``source`` pixel nearest resampling takes
    (-1 where none): rasterio's choice, found once for every array on the same two grids.

    ``tolerance`` goes to :func:`rasterio.warp.reproject` (0: an exact transformation). The
    result is read-only and cached per pair of grids.
    """
    index = np.arange(source.width * source.height, dtype=np.float64).reshape(source.shape)
    options = {} if tolerance is None else {"tolerance": tolerance}
    mapped = reproject_onto(index, source, target, "nearest", dtype=np.float64, **options)
    found: NDArray[np.int64] = np.where(np.isfinite(mapped), mapped, -1).astype(np.int64)
    found.flags.writeable = False
    return found


def take_nearest(values: NDArray[np.floating[Any]], index: NDArray[np.int64]) -> NDArray[np.floating[Any]]:
    """``values`` (on the source grid of ``index``) at each target pixel's nearest source pixel:
    what nearest resampling with NaN as nodata gives, NaN where no source pixel maps."""
    picked = values.reshape(-1)[np.maximum(index, 0)]
    return np.where(index >= 0, picked, np.nan).astype(values.dtype, copy=False)


def intersect(grid: Grid, bounds: tuple[float, float, float, float]) -> Grid | None:
    """The part of ``grid`` inside ``bounds`` (same CRS), on the grid's own lattice; None if empty."""
    left, bottom, right, top = bounds
    t = grid.transform
    col0 = max(0, int(np.ceil(round((left - t.c) / t.a, 6))))
    col1 = min(grid.width, int(np.floor(round((right - t.c) / t.a, 6))))
    row0 = max(0, int(np.ceil(round((t.f - top) / -t.e, 6))))
    row1 = min(grid.height, int(np.floor(round((t.f - bottom) / -t.e, 6))))
    if col1 <= col0 or row1 <= row0:
        return None
    return Grid(grid.crs, t @ Affine.translation(col0, row0), col1 - col0, row1 - row0)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> NDArray[np.float64]:
    """Spatially smooth standard-normal noise: a coarse lattice every ``cell`` pixels, bilinear."""
    height, width = shape
    coarse = rng.standard_normal((int(height / cell) + 2, int(width / cell) + 2))
    yi, xi = np.arange(height) / cell, np.arange(width) / cell
    y0, x0 = yi.astype(int), xi.astype(int)
    fy, fx = (yi - y0)[:, None], xi - x0
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    result: NDArray[np.float64] = top * (1 - fy) + bottom * fy
    return result


def polygon_mask(grid: Grid, ring: list[Position]) -> NDArray[np.bool_]:
    """Pixels of ``grid`` whose centre lies inside a WGS84 polygon."""
    geometry = transform_geom("EPSG:4326", grid.crs, {"type": "Polygon", "coordinates": [ring]})
    burned = rasterize([(geometry, 1)], out_shape=grid.shape, transform=grid.transform, fill=0, dtype="uint8")
    mask: NDArray[np.bool_] = burned.astype(bool)
    return mask


def write_cog(path: Path, data: NDArray[Any], grid: Grid, *, nodata: float | None, **options: Any) -> None:
    """Write a single-band COG (GDAL's COG driver through rasterio, fixed settings), compressed on
    the threads the job may use (the bytes do not depend on how many). A write GDAL cannot
    finish is an :class:`OSError` naming the file: a failure of where it is written, which the
    command reports in one line, never an input to skip as unusable (a :class:`GlofnetError`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        **COG_PROFILE,
        "num_threads": job_threads(),
        **options,
        "dtype": data.dtype.name,
        "count": 1,
        "width": grid.width,
        "height": grid.height,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
    }
    if data.dtype.kind == "f":
        profile["predictor"] = "FLOATING_POINT"
    try:
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(data, 1)
    except (CPLE_BaseError, rasterio.errors.RasterioError) as error:
        # GDAL says only that it could not write (e.g. "IO error writing tag data" on a full disk)
        free = shutil.disk_usage(path.parent).free / 2**20
        reason = f"GDAL could not finish the COG: {error}; {free:.0f} MiB free on its disk"
        raise OSError(errno.EIO, reason, str(path)) from None
