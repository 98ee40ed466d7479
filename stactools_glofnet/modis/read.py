"""Reader for MOD11A1 v061 HDF4-EOS granules (through pyhdf: rasterio's GDAL has no HDF4 driver).

Georeferencing comes from the grid's StructMetadata (upper-left and lower-right corners in
metres, GCTP_SNSOID on the authalic sphere); LST stays raw uint16 DN with its scale checked
against 0.02 K; QC stays the raw byte (see :mod:`stactools_glofnet.modis.qc`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioError

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid

GRID_NAME: Final = "MODIS_Grid_Daily_1km_LST"
SINUSOIDAL: Final = CRS.from_proj4("+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs")
LST_SCALE: Final = 0.02
SDS: Final = ("LST_Day_1km", "LST_Night_1km", "QC_Day", "QC_Night")
NAME = re.compile(r"^MOD11A1\.A(?P<year>\d{4})(?P<doy>\d{3})\.(?P<tile>h\d\dv\d\d)\.061\.")


@dataclass(frozen=True)
class Tile:
    """One tile-day of MOD11A1: raw DN and QC bytes on the tile's sinusoidal grid."""

    path: Path
    tile: str
    day: dt.date
    grid: Grid
    bands: dict[str, NDArray[Any]]


def _metadata_value(text: str, key: str) -> str:
    match = re.search(rf"\b{key}=(.+)", text)
    if match is None:
        raise KeyError(key)
    return match.group(1).strip()


def _corner(text: str, key: str) -> tuple[float, float]:
    x, y = _metadata_value(text, key).strip("()").split(",")
    return float(x), float(y)


def _is_lst_scale(value: Any) -> bool:
    try:
        return bool(np.isclose(float(value), LST_SCALE))
    except (TypeError, ValueError):
        return False


def parse_name(path: Path) -> tuple[dt.date, str]:
    """Date and tile from an LP DAAC-style name ``MOD11A1.AYYYYDDD.hHHvVV.061...``."""
    match = NAME.match(path.name)
    if match is None:
        raise GlofnetError(path, "name is not MOD11A1.AYYYYDDD.hHHvVV.061.*")
    year, doy = int(match["year"]), int(match["doy"])
    try:
        day = dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
    except ValueError:
        raise GlofnetError(path, f"day of year {doy} is not valid") from None
    if day.year != year:
        raise GlofnetError(path, f"day of year {doy} is not in {year}")
    return day, match["tile"]


def read_hdf4(path: Path) -> Tile:
    """Read one MOD11A1 HDF4-EOS granule, or raise a one-line :class:`GlofnetError`."""
    from pyhdf.error import HDF4Error
    from pyhdf.SD import SD, SDC

    day, tile = parse_name(path)
    try:
        sd = SD(str(path), SDC.READ)
    except HDF4Error as error:
        raise GlofnetError(path, f"not a readable HDF4 granule ({error})") from None
    try:
        metadata = str(sd.attributes().get("StructMetadata.0", ""))
        try:
            grid_name = _metadata_value(metadata, "GridName").strip('"')
            projection = _metadata_value(metadata, "Projection")
            upper_left = _corner(metadata, "UpperLeftPointMtrs")
            lower_right = _corner(metadata, "LowerRightMtrs")
            width, height = int(_metadata_value(metadata, "XDim")), int(_metadata_value(metadata, "YDim"))
        except (KeyError, ValueError):
            raise GlofnetError(path, "StructMetadata.0 lacks the grid definition") from None
        if width <= 0 or height <= 0:
            raise GlofnetError(path, f"StructMetadata.0 grid is {width} x {height} pixels")
        if grid_name != GRID_NAME:
            raise GlofnetError(path, f"grid {grid_name!r} is not MOD11A1's {GRID_NAME!r} (another product?)")
        if projection != "GCTP_SNSOID":
            raise GlofnetError(path, f"projection {projection} is not sinusoidal")
        bands: dict[str, NDArray[Any]] = {}
        for name in SDS:
            try:
                sds = sd.select(name)
            except HDF4Error:
                raise GlofnetError(path, f"SDS {name!r} is missing") from None
            attributes = sds.attributes()
            if name.startswith("LST") and not _is_lst_scale(attributes.get("scale_factor")):
                raise GlofnetError(
                    path, f"{name} scale_factor {attributes.get('scale_factor')!r} is not {LST_SCALE}"
                )
            data = np.asarray(sds[:])
            sds.endaccess()
            if data.shape != (height, width):
                raise GlofnetError(path, f"{name} is {data.shape}, StructMetadata says ({height}, {width})")
            bands[name] = data
    except HDF4Error as error:
        raise GlofnetError(path, f"unreadable HDF4 data ({error})") from None
    finally:
        sd.end()
    x_size = (lower_right[0] - upper_left[0]) / width
    y_size = (lower_right[1] - upper_left[1]) / height
    grid = Grid(SINUSOIDAL, Affine(x_size, 0.0, upper_left[0], 0.0, y_size, upper_left[1]), width, height)
    return Tile(path=path, tile=tile, day=day, grid=grid, bands=bands)


def read_geotiffs(paths: dict[str, Path]) -> Tile:
    """Read one tile-day from per-SDS GeoTIFFs (``{sds: path}``), checking CRS and LST scale."""
    first = next(iter(paths.values()))
    day, tile = parse_name(first)
    bands: dict[str, NDArray[Any]] = {}
    grid: Grid | None = None
    for name in SDS:
        path = paths.get(name)
        if path is None:
            raise GlofnetError(first, f"tile-day has no {name} file beside it")
        try:
            with rasterio.open(path) as dataset:
                if dataset.crs is None or "+proj=sinu" not in dataset.crs.to_proj4():
                    raise GlofnetError(path, f"not in the MODIS sinusoidal projection ({dataset.crs})")
                if name.startswith("LST") and not np.isclose(dataset.scales[0], LST_SCALE):
                    raise GlofnetError(path, f"{name} scale {dataset.scales[0]} is not {LST_SCALE}")
                this = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
                bands[name] = dataset.read(1)
        except (RasterioError, CRSError) as error:
            raise GlofnetError(path, f"unreadable raster ({error})") from None
        if grid is not None and (this.transform != grid.transform or this.shape != grid.shape):
            raise GlofnetError(path, f"{name} is on another grid than the tile-day's other SDS")
        grid = this
    assert grid is not None
    return Tile(path=first, tile=tile, day=day, grid=grid, bands=bands)
