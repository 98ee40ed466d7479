"""Reader for ITS_LIVE v2 datacubes (Zarr): the AOI subset, one :class:`Granule` per ``mid_date`` layer.

A datacube in ``SOURCE/itslive`` is a ``*.zarr`` directory: the ITS_LIVE store
``ITS_LIVE_vel_EPSG<code>_G0120_X<x>_Y<y>.zarr`` or a subset of it saved with xarray (docs/sources.md).
Dimensions ``mid_date, y, x`` (x/y pixel centres); per layer ``v, vx, vy, v_error`` (int16, fill
-32767), ``interp_mask``, ``date_center``, ``date_dt``, ``acquisition_date_img1/2``,
``mission/satellite/sensor_img1/2``, ``roi_valid_percentage`` and ``granule_url``; the CRS in
``mapping`` (``spatial_epsg`` or ``crs_wkt``) or the global ``projection``.

Only the x/y window over the AOI (plus the outlier window's margin) is read. ITS_LIVE chunks the
cube along time (a chunk holds thousands of layers of a 10 x 10 pixel tile), so the window is
first copied once into a local staging store chunked by blocks of layers, then read one block at
a time: memory stays one block whatever the cube's length.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import dask
import numpy as np
import xarray as xr
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.itslive.names import VELOCITY_VARIABLES, image_ids, platform, sensor_group
from stactools_glofnet.itslive.read import Float32, Granule, pixel_centre_grid

LAYER_VARIABLES: Final = ("acquisition_date_img1", "acquisition_date_img2", "date_dt", "granule_url")
BLOCK_BYTES: Final = 2**26  # decoded float32 values of one block of layers (all variables)


@dataclass(frozen=True)
class CubeWindow:
    """An open datacube and the window of it over the AOI."""

    path: Path
    dataset: xr.Dataset
    crs: CRS
    rows: slice
    cols: slice

    @property
    def layers(self) -> int:
        """How many image-pair layers the cube holds."""
        return int(self.dataset.sizes["mid_date"])


def _crs(path: Path, ds: xr.Dataset) -> CRS:
    mapping = ds["mapping"].attrs if "mapping" in ds.variables else {}
    candidates = (
        ("epsg", mapping.get("spatial_epsg")),
        ("wkt", mapping.get("crs_wkt")),
        ("epsg", ds.attrs.get("projection")),
    )
    for kind, value in candidates:
        if value is None:
            continue
        try:
            return CRS.from_epsg(int(float(str(value)))) if kind == "epsg" else CRS.from_wkt(str(value))
        except (CRSError, ValueError, TypeError):
            raise GlofnetError(path, f"datacube CRS {str(value)[:40]!r} is not understood") from None
    raise GlofnetError(path, "datacube has no CRS (mapping.spatial_epsg, mapping.crs_wkt or projection)")


def _aligned(index: np.ndarray[Any, Any], chunk: int, size: int) -> slice:
    """The smallest slice holding ``index`` whose ends fall on the store's chunk edges."""
    start = (int(index.min()) // chunk) * chunk
    stop = min(size, -(-(int(index.max()) + 1) // chunk) * chunk)
    return slice(start, stop)


def open_cube(path: Path, target: Grid, pad: int) -> CubeWindow | None:
    """Open a datacube and find its window over ``target`` (+``pad`` pixels); None when it misses."""
    try:
        ds = xr.open_zarr(path, consolidated=None, decode_timedelta=False, mask_and_scale=True)
    except Exception as error:  # zarr/xarray raise many types for a store they cannot open
        raise GlofnetError(path, f"not a readable Zarr datacube ({type(error).__name__}: {error})") from None
    missing = [n for n in (*VELOCITY_VARIABLES[:3], *LAYER_VARIABLES) if n not in ds.variables]
    if missing or ds["v"].dims != ("mid_date", "y", "x"):
        found = f"variable {missing[0]!r} is missing" if missing else f"v has dimensions {ds['v'].dims}"
        raise GlofnetError(path, f"not an ITS_LIVE v2 datacube: {found} (expected mid_date, y, x)")
    crs = _crs(path, ds)
    grid = pixel_centre_grid(path, ds["x"].values, ds["y"].values, crs)
    left, bottom, right, top = transform_bounds(target.crs, crs, *target.bounds)
    margin = pad * abs(grid.transform.a)
    xs, ys = ds["x"].values, ds["y"].values
    cols = np.flatnonzero((xs >= left - margin) & (xs <= right + margin))
    rows = np.flatnonzero((ys >= bottom - margin) & (ys <= top + margin))
    if cols.size == 0 or rows.size == 0:
        return None
    chunks = ds["v"].encoding.get("chunks") or (ds.sizes["mid_date"], ys.size, xs.size)
    return CubeWindow(
        path, ds, crs, _aligned(rows, int(chunks[1]), ys.size), _aligned(cols, int(chunks[2]), xs.size)
    )


def _stage(window: CubeWindow, variables: list[str], staging: Path, block: int) -> xr.Dataset:
    """Copy the window into ``staging``, chunked ``block`` layers x the store's own tile."""
    source = window.dataset[variables].isel(y=window.rows, x=window.cols)
    chunks = window.dataset["v"].encoding.get("chunks") or (block, source.sizes["y"], source.sizes["x"])
    tile = {"mid_date": block, "y": int(chunks[1]), "x": int(chunks[2])}
    subset = xr.Dataset(
        {name: (source[name].dims, source[name].data.astype(np.float32)) for name in variables},
        coords={"x": source["x"].values, "y": source["y"].values},
    ).chunk(tile)
    encoding = {name: {"chunks": tuple(tile.values())} for name in variables}
    with dask.config.set(scheduler="synchronous"):
        subset.to_zarr(staging, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
    staged: xr.Dataset = xr.open_zarr(staging, consolidated=False)
    return staged


def _when(value: np.datetime64) -> dt.datetime:
    seconds = (value - np.datetime64("1970-01-01T00:00:00", "us")) / np.timedelta64(1, "us")
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(seconds))


def _granule(window: CubeWindow, grid: Grid, meta: dict[str, Any], k: int, arrays: dict[str, Any]) -> Granule:
    url = str(meta["granule_url"][k])
    granule_id = url.rsplit("/", 1)[-1].removesuffix(".nc")
    ids = image_ids(granule_id)
    if ids is None:
        raise GlofnetError(window.path, f"layer {k}: granule_url {url!r} is not an ITS_LIVE granule name")
    group = sensor_group(ids[0])
    if group is None or sensor_group(ids[1]) is None:
        raise GlofnetError(window.path, f"layer {k}: unknown sensor for image pair {ids[0]!r} / {ids[1]!r}")
    acquired = (_when(meta["acquisition_date_img1"][k]), _when(meta["acquisition_date_img2"][k]))
    centre = _when(meta["date_center"][k]) if "date_center" in meta else _when(meta["mid_date"][k])
    velocity: dict[str, Float32] = {name: arrays[name][k] for name in VELOCITY_VARIABLES if name in arrays}
    if "v_error" not in velocity:
        velocity["v_error"] = np.full_like(velocity["v"], np.nan)
    interpolated = (
        np.nan_to_num(arrays["interp_mask"][k], nan=0).astype(np.uint8) == 1
        if "interp_mask" in arrays
        else np.zeros(velocity["v"].shape, dtype=bool)
    )
    valid = meta.get("roi_valid_percentage")
    return Granule(
        path=window.path,
        id=granule_id,
        crs=window.crs,
        grid=grid,
        image_ids=ids,
        acquired=acquired,
        centre=centre,
        date_dt_days=float(meta["date_dt"][k]),
        group=group,
        platforms=(platform(ids[0]), platform(ids[1])),
        valid_percentage=float("nan") if valid is None else float(valid[k]),
        velocity=velocity,
        interpolated=interpolated,
        attributes={**window.dataset.attrs, "datacube": window.path.name},
    )


def cube_layers(window: CubeWindow) -> Iterator[Granule]:
    """Every layer of the window as a :class:`Granule`, in store order, one block in memory."""
    ds = window.dataset
    variables = [n for n in (*VELOCITY_VARIABLES, "interp_mask") if n in ds.variables]
    xs = ds["x"].values[window.cols]
    ys = ds["y"].values[window.rows]
    grid = pixel_centre_grid(window.path, xs, ys, window.crs)
    per_layer = xs.size * ys.size * len(variables) * 4
    block = int(max(1, min(window.layers, BLOCK_BYTES // per_layer)))
    names = [
        n for n in (*LAYER_VARIABLES, "date_center", "mid_date", "roi_valid_percentage") if n in ds.variables
    ]
    with tempfile.TemporaryDirectory(prefix="glofnet-cube-") as scratch:
        try:
            staged = _stage(window, variables, Path(scratch) / "window.zarr", block)
        except Exception as error:  # codecs and zarr raise many types for a chunk they cannot decode
            raise GlofnetError(
                window.path,
                f"a chunk of the window over the AOI is unreadable ({type(error).__name__}: {error})",
            ) from None
        for start in range(0, window.layers, block):
            stop = min(start + block, window.layers)
            arrays = {name: staged[name].isel(mid_date=slice(start, stop)).values for name in variables}
            meta = {name: ds[name].isel(mid_date=slice(start, stop)).values for name in names}
            for k in range(stop - start):
                yield _granule(window, grid, meta, k, arrays)
