"""Reader for ITS_LIVE version 2 image-pair granules (NetCDF4, read with xarray + h5netcdf).

The CRS comes from the ``mapping`` variable's ``spatial_epsg``; the pixel grid from the x/y
coordinates, which mark pixel centres (``mapping.GeoTransform`` gives the first centre as its
origin in real granules, so it is not used). int16 storage with fill -32767 decodes to float32
m/yr with NaN. Version 1 granules (``Polar_Stereographic`` mapping, ``aquisition_date``) are
refused with a one-line message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.errors import CRSError

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.itslive.names import (
    DATE_FORMAT,
    VELOCITY_VARIABLES,
    SensorGroup,
    platform,
    sensor_group,
)

Float32 = NDArray[np.float32]


@dataclass(frozen=True)
class Granule:
    """One image-pair granule: metadata and decoded arrays."""

    path: Path
    id: str
    crs: CRS
    grid: Grid
    image_ids: tuple[str, str]
    acquired: tuple[dt.datetime, dt.datetime]  # as img1, img2 (not necessarily in time order)
    centre: dt.datetime
    date_dt_days: float
    group: SensorGroup
    platforms: tuple[str, str]
    valid_percentage: float
    velocity: dict[str, Float32]
    interpolated: NDArray[np.bool_]
    attributes: dict[str, Any]


def _date(path: Path, value: Any, name: str) -> dt.datetime:
    # hyp3-autorift writes strftime("%Y%m%dT%H:%M:%S.%f").rstrip("0"): a whole second ends in ".".
    text = str(value).removesuffix(".")
    for pattern in (DATE_FORMAT, "%Y%m%dT%H:%M:%S", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise GlofnetError(path, f"img_pair_info.{name} {text!r} is not a date like 20190601T05:36:49.024")


def _crs(path: Path, mapping: xr.DataArray) -> CRS:
    epsg = mapping.attrs.get("spatial_epsg")
    try:
        code = int(float(str(epsg)))
        return CRS.from_epsg(code)
    except (TypeError, ValueError, CRSError):
        raise GlofnetError(path, f"mapping.spatial_epsg {epsg!r} is not a known EPSG code") from None


def pixel_centre_grid(path: Path, x: NDArray[Any], y: NDArray[Any], crs: CRS) -> Grid:
    """The grid whose pixel centres are ``x`` / ``y`` (ITS_LIVE's coordinates mark centres)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.size < 2 or ys.size < 2:
        raise GlofnetError(path, "x/y need at least two pixel centres each")
    dx, dy = float(xs[1] - xs[0]), float(ys[1] - ys[0])
    if not (np.allclose(np.diff(xs), dx) and np.allclose(np.diff(ys), dy)):
        raise GlofnetError(path, "x/y are not evenly spaced")
    if dx <= 0 or dy >= 0:
        raise GlofnetError(path, "expected x increasing and y decreasing (a north-up grid)")
    # x/y are pixel centres: the grid's corner lies half a pixel before the first centre.
    transform = Affine(dx, 0.0, float(xs[0]) - dx / 2, 0.0, dy, float(ys[0]) - dy / 2)
    return Grid(crs, transform, xs.size, ys.size)


def read_granule(path: Path) -> Granule:
    """Open and decode one v2 granule, or raise a one-line :class:`GlofnetError`."""
    try:
        ds = xr.open_dataset(path, engine="h5netcdf", mask_and_scale=True, decode_times=False)
    except FileNotFoundError:
        raise GlofnetError(path, "file is missing") from None
    except Exception as error:  # h5py/h5netcdf raise many types for a non-NetCDF file
        raise GlofnetError(path, f"not a NetCDF4 granule ({type(error).__name__}: {error})") from None
    with ds:
        try:
            return _decode(path, ds)
        except GlofnetError:
            raise
        except (OSError, RuntimeError, TypeError, ValueError, OverflowError, IndexError, KeyError) as error:
            raise GlofnetError(path, f"malformed granule ({type(error).__name__}: {error})") from None


def _decode(path: Path, ds: xr.Dataset) -> Granule:
    """The checks and decoding behind :func:`read_granule`."""
    if "Polar_Stereographic" in ds or "UTM_Projection" in ds or "V01" in path.name:
        raise GlofnetError(path, "ITS_LIVE version 1 granules are not supported; use version 2 (V02)")
    for name in ("v", "mapping", "img_pair_info"):
        if name not in ds.variables:
            raise GlofnetError(path, f"not an ITS_LIVE v2 granule: variable {name!r} is missing")
    for name in ("x", "y"):
        if name not in ds.coords:
            raise GlofnetError(path, f"not an ITS_LIVE v2 granule: coordinate {name!r} is missing")
    crs = _crs(path, ds["mapping"])
    info = ds["img_pair_info"].attrs
    try:
        id1, id2 = str(info["id_img1"]), str(info["id_img2"])
        date_dt = float(info["date_dt"])
        valid = float(info.get("roi_valid_percentage", "nan"))
    except (KeyError, ValueError, TypeError) as error:
        raise GlofnetError(path, f"img_pair_info lacks or garbles {error}") from None
    acquired = (
        _date(path, info.get("acquisition_date_img1"), "acquisition_date_img1"),
        _date(path, info.get("acquisition_date_img2"), "acquisition_date_img2"),
    )
    centre = _date(path, info.get("date_center"), "date_center")
    group = sensor_group(id1)
    if group is None or sensor_group(id2) is None:
        raise GlofnetError(path, f"unknown sensor for image pair {id1!r} / {id2!r}")
    velocity = {}
    for name in VELOCITY_VARIABLES:
        if name in ds:
            if ds[name].dims != ("y", "x"):
                raise GlofnetError(
                    path, f"variable {name!r} has dimensions {ds[name].dims}, expected ('y', 'x')"
                )
            velocity[name] = ds[name].values.astype(np.float32)
    missing = [n for n in ("v", "vx", "vy") if n not in velocity]
    if missing:
        raise GlofnetError(path, f"not an ITS_LIVE v2 granule: variable {missing[0]!r} is missing")
    if "v_error" not in velocity:
        velocity["v_error"] = np.full_like(velocity["v"], np.nan)
    interpolated = (
        np.nan_to_num(ds["interp_mask"].values, nan=0).astype(np.uint8) == 1
        if "interp_mask" in ds
        else np.zeros(velocity["v"].shape, dtype=bool)
    )
    if interpolated.shape != velocity["v"].shape:
        raise GlofnetError(path, "interp_mask and v differ in shape")
    return Granule(
        path=path,
        id=path.stem,
        crs=crs,
        grid=pixel_centre_grid(path, ds["x"].values, ds["y"].values, crs),
        image_ids=(id1, id2),
        acquired=acquired,
        centre=centre,
        date_dt_days=date_dt,
        group=group,
        platforms=(platform(id1), platform(id2)),
        valid_percentage=valid,
        velocity=velocity,
        interpolated=interpolated,
        attributes=dict(ds.attrs),
    )
