"""How ITS_LIVE names and describes each sensor family's granule, and how its datacube stores pairs.

Modelled on hyp3-autorift's ``testautoRIFT.py`` / ``netcdf_output.py`` (the code that writes the
granules; the real P000 Landsat 5 granule in ../shared is its output) and on the v2 datacube of
its_live_production ``itscube.py`` (docs/sources.md, ITS_LIVE):

* image ids and ``img_pair_info`` per family (Landsat path/row/collection/correction/processing
  date; Sentinel-2 correction level; Sentinel-1 orbit, datatake, product id and flight direction);
* dates written ``strftime("%Y%m%dT%H:%M:%S.%f").rstrip("0")`` (a whole second ends in ".");
* the global ``satellite`` ("Landsat 8", "Sentinel-2A and Sentinel-2B") and, for radar pairs,
  ``vr``/``va`` and the ``M11``/``M12`` conversion matrix;
* the datacube: ``mid_date, y, x`` layers of ``v, vx, vy, v_error, vr, va`` (int16, fill
  -32767), ``interp_mask``, chip sizes and per-layer metadata, Blosc(zlib) in Zarr v2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

import numpy as np
import xarray as xr
from numcodecs import Blosc
from numpy.typing import NDArray

from stactools_glofnet.core.grids import Grid
from stactools_glofnet.itslive.names import FILL_INT16

LANDSAT_PATH_ROW: Final = "149035"
CUBE_NAME: Final = "ITS_LIVE_vel_EPSG32643_G0120_X450000_Y4050000.zarr"
CUBE_URL: Final = "https://its-live-data.s3.amazonaws.com/velocity_image_pair"
CUBE_SPATIAL_CHUNK: Final = 80  # ITS_LIVE uses 10 x 10; larger here to keep the sample's file count small
LANDSAT_SENSOR = {"LT04": "T", "LT05": "T", "LE07": "E", "LC08": "C", "LC09": "C"}


def landsat_mission(day: dt.date, index: int) -> str:
    """The Landsat mission imaging on ``day``: TM to 2011, ETM+ and OLI alternating, then OLI-2."""
    if day.year < 2012:
        return "LT05" if index % 2 == 0 else "LE07"
    if day.year < 2022:
        return "LC08" if index % 2 == 0 or day.year < 2013 else "LE07"
    return "LC09" if index % 2 == 0 else "LC08"


S1_ORBIT_2019 = {"S1A": 27481, "S1B": 14300}  # absolute orbit numbers about 2019-01-01


def image_id(group: str, day: dt.date, index: int, satellite: str | None = None) -> str:
    """An image id of ``group`` acquired on ``day``, in that family's naming.

    ``satellite`` (S2A, S1B, LC09, ...) when the date decides it; None: alternate with ``index``.
    """
    if group == "sentinel-2":
        letter = satellite[-1] if satellite else "A" if index % 2 == 0 else "B"
        return f"S2{letter}_MSIL1C_{day:%Y%m%d}T053649_N0500_R005_T43SDA_{day:%Y%m%d}T074512"
    if group == "sentinel-1":
        unit = satellite or "S1A"
        orbit = S1_ORBIT_2019[unit] + 15 * (day - dt.date(2019, 1, 1)).days
        return f"{unit}_IW_SLC__1SSV_{day:%Y%m%d}T005522_{day:%Y%m%d}T005549_{orbit:06d}_031A1B_A9B8"
    mission = satellite or landsat_mission(day, index)
    processed = day + dt.timedelta(days=9)
    return f"{mission}_L1TP_{LANDSAT_PATH_ROW}_{day:%Y%m%d}_{processed:%Y%m%d}_02_T1"


def stamp(when: dt.datetime) -> str:
    """hyp3-autorift's date text: microseconds with trailing zeros stripped (and so a bare ".")."""
    return when.strftime("%Y%m%dT%H:%M:%S.%f").rstrip("0")


def _image_attributes(group: str, ids: tuple[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for k, image in enumerate(ids, start=1):
        parts = image.split("_")
        if group == "landsat":
            attributes |= {
                f"collection_category_img{k}": parts[6],
                f"collection_number_img{k}": float(parts[5]),
                f"correction_level_img{k}": parts[1],
                f"mission_img{k}": parts[0][0],
                f"path_img{k}": float(parts[2][:3]),
                f"processing_date_img{k}": parts[4][:8],
                f"row_img{k}": float(parts[2][3:]),
                f"satellite_img{k}": parts[0][2:4].lstrip("0"),
                f"sensor_img{k}": parts[0][1],
            }
        elif group == "sentinel-2":
            attributes |= {
                f"correction_level_img{k}": parts[1][3:],
                f"mission_img{k}": parts[0][-3],
                f"satellite_img{k}": parts[0][-2:],
                f"sensor_img{k}": "MSI",
            }
        else:
            attributes |= {
                f"absolute_orbit_number_img{k}": parts[7],
                f"flight_direction_img{k}": "descending",
                f"mission_data_take_ID_img{k}": parts[8],
                f"mission_img{k}": parts[0][0],
                f"product_unique_ID_img{k}": parts[9][:4],
                f"satellite_img{k}": parts[0][1:3],
                f"sensor_img{k}": "C",
            }
        attributes[f"time_standard_img{k}"] = "UTC"
    return attributes


def pair_info(
    group: str,
    ids: tuple[str, str],
    acquired: tuple[dt.datetime, dt.datetime],
    lonlat: tuple[float, float],
    valid_percentage: float,
) -> dict[str, Any]:
    """The ``img_pair_info`` attributes of a pair of ``group``, as hyp3-autorift writes them."""
    centre = acquired[0] + (acquired[1] - acquired[0]) / 2
    return {
        "standard_name": "image_pair_information",
        "id_img1": ids[0],
        "id_img2": ids[1],
        "acquisition_date_img1": stamp(acquired[0]),
        "acquisition_date_img2": stamp(acquired[1]),
        **_image_attributes(group, ids),
        "date_center": stamp(centre),
        "date_dt": (acquired[1] - acquired[0]).total_seconds() / 86400,
        "latitude": round(lonlat[1], 2),
        "longitude": round(lonlat[0], 2),
        "roi_valid_percentage": valid_percentage,
    }


def satellite_attribute(info: dict[str, Any]) -> str:
    """The global ``satellite``: "Landsat 8", "Sentinel-1A", "Sentinel-2A and Sentinel-2B"."""
    names = [
        f"{'Landsat ' if info[f'mission_img{k}'] == 'L' else 'Sentinel-'}{info[f'satellite_img{k}']}"
        for k in (1, 2)
    ]
    return names[0] if names[0] == names[1] else f"{names[0]} and {names[1]}"


def radar_variables(
    vx: NDArray[np.int16], vy: NDArray[np.int16], encode: Any, look: tuple[float, float]
) -> dict[str, tuple[tuple[str, str], NDArray[Any], dict[str, Any]]]:
    """``vr``/``va`` (velocity along range and azimuth) and the ``M11``/``M12`` matrix of a radar pair."""
    valid = (vx != FILL_INT16) & (vy != FILL_INT16)
    fx, fy = vx.astype(np.float32), vy.astype(np.float32)
    vr = np.where(valid, look[0] * fx + look[1] * fy, np.nan).astype(np.float32)
    va = np.where(valid, -look[1] * fx + look[0] * fy, np.nan).astype(np.float32)
    matrix = np.where(valid, np.float32(0.01), np.float32(FILL_INT16)).astype(np.float32)
    units = {"units": "meter/year", "grid_mapping": "mapping"}
    conversion = {"units": "pixel/(meter/year)", "grid_mapping": "mapping", "dr_to_vr_factor": 100.0}
    return {
        "vr": (("y", "x"), encode(vr), {**units, "description": "velocity in radar range direction"}),
        "va": (("y", "x"), encode(va), {**units, "description": "velocity in radar azimuth direction"}),
        "M11": (("y", "x"), matrix, {**conversion, "standard_name": "conversion_matrix_element_11"}),
        "M12": (("y", "x"), matrix.copy(), {**conversion, "standard_name": "conversion_matrix_element_12"}),
    }


IMAGE_KEYS: Final = ("mission", "satellite", "sensor")
LAYER_GRID_VARIABLES: Final = ("v", "vx", "vy", "v_error", "vr", "va", "chip_size_width", "chip_size_height")


def _layer(name: str, ds: xr.Dataset, grid: Grid) -> dict[str, Any]:
    """One granule's values on the cube grid (fill outside its footprint) and its metadata."""
    xs = grid.transform.c + (np.arange(grid.width) + 0.5) * grid.transform.a
    ys = grid.transform.f + (np.arange(grid.height) + 0.5) * grid.transform.e
    fills = {n: FILL_INT16 for n in ("v", "vx", "vy", "v_error", "vr", "va")} | {
        "chip_size_width": 0,
        "chip_size_height": 0,
        "interp_mask": 0,
    }
    present = [n for n in (*LAYER_GRID_VARIABLES, "interp_mask") if n in ds]
    placed = ds[present].reindex(x=xs, y=ys, fill_value=fills)
    info = ds["img_pair_info"].attrs
    arrays = {n: placed[n].values if n in placed else np.full(grid.shape, fills[n], np.int16) for n in fills}
    dates = [_date(info[key]) for key in ("acquisition_date_img1", "acquisition_date_img2", "date_center")]
    return {
        "arrays": arrays,
        "acquisition_date_img1": dates[0],
        "acquisition_date_img2": dates[1],
        "date_center": dates[2],
        "date_dt": info["date_dt"],
        "roi_valid_percentage": info["roi_valid_percentage"],
        "granule_url": f"{CUBE_URL}/v02/N30E070/{name}.nc",
        "autoRIFT_software_version": ds.attrs["autoRIFT_software_version"],
        "stable_shift_flag": int(ds["vx"].attrs["stable_shift_flag"]),
        "vx_error": float(ds["vx"].attrs["error"]),
        "vy_error": float(ds["vy"].attrs["error"]),
        **{
            f"{key}_img{k}": info[f"{key}_img{k}"]
            for key in ("mission", "satellite", "sensor")
            for k in (1, 2)
        },
    }


def _date(text: str) -> np.datetime64:
    value = text.removesuffix(".")
    pattern = "%Y%m%dT%H:%M:%S.%f" if "." in value else "%Y%m%dT%H:%M:%S"
    return np.datetime64(dt.datetime.strptime(value, pattern), "us")


def write_datacube(path: Path, granules: list[tuple[str, xr.Dataset]], grid: Grid, crs_wkt: str) -> None:
    """Write ``granules`` (name, granule dataset) as the layers of an ITS_LIVE v2 datacube on ``grid``."""
    layers = [_layer(name, ds, grid) for name, ds in granules]
    cube = _cube(layers, grid, crs_wkt)
    cube.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=_cube_encoding(len(layers)))


class DatacubeWriter:
    """Writes a datacube a block of layers at a time: memory holds one block, not the whole cube.

    The layers go into Zarr chunks of ``block`` layers (not one chunk along time as
    :func:`write_datacube` writes and ITS_LIVE publishes; the reader takes either), the per-layer
    text as variable-length strings, each block appended along ``mid_date``.
    """

    def __init__(self, path: Path, grid: Grid, crs_wkt: str, block: int) -> None:
        """A writer of the cube at ``path`` on ``grid``; nothing is written before the first block."""
        self.path, self.grid, self.crs_wkt, self.block = path, grid, crs_wkt, block
        self.pending: list[dict[str, Any]] = []
        self.layers = 0

    def add(self, name: str, ds: xr.Dataset) -> None:
        """Add one granule as the next layer (written when its block is full)."""
        self.pending.append(_layer(name, ds, self.grid))
        if len(self.pending) == self.block:
            self._flush()

    def close(self) -> None:
        """Write the last, partial block."""
        if self.pending:
            self._flush()

    def _flush(self) -> None:
        cube = _cube(self.pending, self.grid, self.crs_wkt)
        for name, variable in cube.data_vars.items():
            if variable.dtype.kind == "U":
                cube[name] = variable.astype(object)
        if self.layers == 0:
            encoding = _cube_encoding(self.block)
            cube.to_zarr(self.path, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
        else:
            fixed = [name for name, variable in cube.variables.items() if "mid_date" not in variable.dims]
            cube.drop_vars(fixed).to_zarr(self.path, append_dim="mid_date", zarr_format=2, consolidated=True)
        self.layers += len(self.pending)
        self.pending = []


def _cube(layers: list[dict[str, Any]], grid: Grid, crs_wkt: str) -> xr.Dataset:
    xs = grid.transform.c + (np.arange(grid.width) + 0.5) * grid.transform.a
    ys = grid.transform.f + (np.arange(grid.height) + 0.5) * grid.transform.e
    units = {"units": "meter/year", "grid_mapping": "mapping"}
    descriptions = {
        "v": "velocity magnitude",
        "vx": "velocity component in x direction",
        "vy": "velocity component in y direction",
        "v_error": "velocity magnitude error",
        "vr": "velocity in radar range direction",
        "va": "velocity in radar azimuth direction",
    }
    data: dict[str, Any] = {}
    for name in (*LAYER_GRID_VARIABLES, "interp_mask"):
        stack = np.stack([layer["arrays"][name] for layer in layers])
        attrs = (
            {**units, "description": descriptions[name]}
            if name in descriptions
            else {"grid_mapping": "mapping"}
        )
        data[name] = (("mid_date", "y", "x"), stack, attrs)
    per_layer = [k for k in layers[0] if k != "arrays"]
    for key in per_layer:
        data[key] = ("mid_date", np.array([layer[key] for layer in layers]))
    data["date_dt"] = ("mid_date", data["date_dt"][1].astype(np.float32), {"units": "days"})
    data["mapping"] = (
        (),
        0,
        {
            "grid_mapping_name": "transverse_mercator",
            "crs_wkt": crs_wkt,
            "spatial_ref": crs_wkt,
            "GeoTransform": " ".join(str(v) for v in list(grid.transform)[:6]),
        },
    )
    return xr.Dataset(
        data,
        coords={"mid_date": [layer["date_center"] for layer in layers], "x": xs, "y": ys},
        attrs={
            "Conventions": "CF-1.8",
            "title": "ITS_LIVE datacube of image pair velocities",
            "projection": "32643",
            "datacube_software_version": "1.0",
            "institution": "NASA Jet Propulsion Laboratory (JPL), California Institute of Technology",
            "source": "Synthetic GLOFNet sample in the layout of NASA MEaSUREs ITS_LIVE v2 datacubes",
        },
    )


def _cube_encoding(time_chunk: int) -> dict[str, dict[str, Any]]:
    compressor = Blosc(cname="zlib", clevel=2, shuffle=Blosc.SHUFFLE)
    chunk = (time_chunk, CUBE_SPATIAL_CHUNK, CUBE_SPATIAL_CHUNK)
    encoding: dict[str, dict[str, Any]] = {}
    for name in (*LAYER_GRID_VARIABLES, "interp_mask"):
        fill = 0 if name in ("chip_size_width", "chip_size_height", "interp_mask") else FILL_INT16
        encoding[name] = {"chunks": chunk, "compressors": [compressor], "_FillValue": fill}
    for name in ("mid_date", "acquisition_date_img1", "acquisition_date_img2", "date_center"):
        encoding[name] = {"units": "microseconds since 1970-01-01", "dtype": "int64"}
    return encoding
