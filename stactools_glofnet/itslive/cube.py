"""Reader for ITS_LIVE v2 datacubes (Zarr): the AOI subset, one :class:`Granule` per ``mid_date`` layer.

A datacube in ``SOURCE/itslive`` is a ``*.zarr`` directory: the ITS_LIVE store
``ITS_LIVE_vel_EPSG<code>_G0120_X<x>_Y<y>.zarr`` or a subset of it saved with xarray (docs/sources.md).
Dimensions ``mid_date, y, x`` (x/y pixel centres); per layer ``v, vx, vy, v_error`` (int16, fill
-32767), ``interp_mask``, ``date_center``, ``date_dt``, ``acquisition_date_img1/2``,
``mission/satellite/sensor_img1/2``, ``roi_valid_percentage`` and ``granule_url``; the CRS in
``mapping`` (``spatial_epsg`` or ``crs_wkt``) or the global ``projection``.

Only the x/y window over the AOI (plus the outlier window's margin) is read. ITS_LIVE chunks the
cube along time (a chunk holds thousands of layers of a 10 x 10 pixel tile), so the window is
decoded once, a chunk at a time (on a thread per core), into raw float32 files, one per
variable (:class:`StagedWindow`), each chunk written through its own short-lived map: each
layer's job then reads its own layer from them. The driver reads only the per-layer metadata;
memory stays a few chunks whatever the cube's length.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import dask
import dask.array as da
import numpy as np
import xarray as xr
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds

from stactools_glofnet.core.cores import usable_cores
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.itslive.names import VELOCITY_VARIABLES, image_ids, platform, sensor_group
from stactools_glofnet.itslive.read import Float32, Granule, pixel_centre_grid

LAYER_VARIABLES: Final = ("acquisition_date_img1", "acquisition_date_img2", "date_dt", "granule_url")
PIXEL_VARIABLES: Final = (*VELOCITY_VARIABLES, "interp_mask")


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


@dataclass(frozen=True)
class StagedWindow:
    """A datacube's window decoded to float32 and written raw: ``<variable>.f32`` in ``directory``,
    each ``shape`` (layers, rows, columns) in store order."""

    directory: Path
    variables: tuple[str, ...]
    shape: tuple[int, int, int]

    def layer(self, index: int) -> dict[str, Float32]:
        """Every variable's values in layer ``index`` (read from the files, nothing else)."""
        count = self.shape[1] * self.shape[2]
        values = {}
        for name in self.variables:
            path = self.directory / f"{name}.f32"
            with path.open("rb") as file:
                layer = np.fromfile(file, dtype=np.float32, count=count, offset=index * count * 4)
            if layer.size != count:
                raise GlofnetError(path, f"layer {index} is cut short ({layer.size} of {count} values)")
            values[name] = layer.reshape(self.shape[1:])
        return values


class _RawFile:
    """A raw float32 file of ``shape`` written a region at a time, each region through its own map.

    The pages a region touches leave this process when the region is written (the kernel writes
    them back from its page cache), so staging a long cube holds a few chunks in memory, not the
    whole file, as one map of it would.
    """

    def __init__(self, path: Path, shape: tuple[int, int, int]) -> None:
        self.path, self.shape = path, shape
        with path.open("wb") as file:
            file.truncate(int(np.prod(shape)) * np.dtype(np.float32).itemsize)

    def __setitem__(self, region: tuple[slice, ...], values: Float32) -> None:
        target = np.memmap(self.path, dtype=np.float32, mode="r+", shape=self.shape)
        target[region] = values
        del target  # unmapped here, not when the garbage collector gets to it


def stage_window(window: CubeWindow, directory: Path) -> StagedWindow:
    """Decode the window's pixels into ``directory``, each chunk of the store read once."""
    ds = window.dataset
    variables = tuple(name for name in PIXEL_VARIABLES if name in ds.variables)
    source = ds[list(variables)].isel(y=window.rows, x=window.cols)
    shape = (window.layers, int(source.sizes["y"]), int(source.sizes["x"]))
    directory.mkdir(parents=True, exist_ok=True)
    # da.store writes into any object with __setitem__ (its typing asks for arrays)
    targets: list[Any] = [_RawFile(directory / f"{name}.f32", shape) for name in variables]
    try:
        # chunks go to disjoint parts of the files, so threads write them without a lock
        with dask.config.set(scheduler="threads", num_workers=usable_cores()):
            da.store([source[name].data.astype(np.float32) for name in variables], targets, lock=False)
    except Exception as error:  # codecs and zarr raise many types for a chunk they cannot decode
        raise GlofnetError(
            window.path, f"a chunk of the window over the AOI is unreadable ({type(error).__name__}: {error})"
        ) from None
    return StagedWindow(directory, variables, shape)


def _when(value: np.datetime64) -> dt.datetime:
    seconds = (value - np.datetime64("1970-01-01T00:00:00", "us")) / np.timedelta64(1, "us")
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(seconds))


def _granule(window: CubeWindow, grid: Grid, meta: dict[str, Any], k: int) -> Granule:
    """Layer ``k`` as a granule without its pixels (:func:`with_pixels` adds them)."""
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
        velocity={},
        interpolated=np.zeros((0, 0), dtype=bool),
        attributes={**window.dataset.attrs, "datacube": window.path.name},
    )


def with_pixels(granule: Granule, values: dict[str, Float32]) -> Granule:
    """A layer's granule from :func:`cube_layers` with its values (from :meth:`StagedWindow.layer`)."""
    velocity: dict[str, Float32] = {name: values[name] for name in VELOCITY_VARIABLES if name in values}
    if "v_error" not in velocity:
        velocity["v_error"] = np.full_like(velocity["v"], np.nan)
    interpolated = (
        np.nan_to_num(values["interp_mask"], nan=0).astype(np.uint8) == 1
        if "interp_mask" in values
        else np.zeros(velocity["v"].shape, dtype=bool)
    )
    return dataclasses.replace(granule, velocity=velocity, interpolated=interpolated)


def cube_layers(window: CubeWindow) -> Iterator[Granule]:
    """Every layer of the window as a granule without pixels, in store order (metadata only)."""
    ds = window.dataset
    xs = ds["x"].values[window.cols]
    ys = ds["y"].values[window.rows]
    grid = pixel_centre_grid(window.path, xs, ys, window.crs)
    names = [
        n for n in (*LAYER_VARIABLES, "date_center", "mid_date", "roi_valid_percentage") if n in ds.variables
    ]
    meta = {name: ds[name].values for name in names}  # one value per layer: small whatever the length
    for k in range(window.layers):
        yield _granule(window, grid, meta, k)
