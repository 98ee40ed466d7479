"""Reader for MOD11A1 v061 tile-days: LP DAAC HDF4-EOS granules (through pyhdf: rasterio's GDAL has
no HDF4 driver) and Planetary Computer per-SDS COGs (:mod:`.names`).

HDF4 georeferencing comes from the grid's StructMetadata (upper-left and lower-right corners in
metres, GCTP_SNSOID on the authalic sphere), COG georeferencing from the file. LST stays raw
uint16 DN with its scale checked against 0.02 K; QC stays the raw byte (see :mod:`.qc`).
Collections other than 6.1 are refused by name and, for HDF4, by ``identifier_product_doi``.
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
from stactools_glofnet.modis.names import COLLECTION, collection_refusal, require

GRID_NAME: Final = "MODIS_Grid_Daily_1km_LST"
SINUSOIDAL: Final = CRS.from_proj4("+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs")
LST_SCALE: Final = 0.02
SDS: Final = ("LST_Day_1km", "LST_Night_1km", "QC_Day", "QC_Night")
DOI_PREFIX: Final = "10.5067/MODIS/MOD11A1."


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


def read_hdf4(path: Path) -> Tile:
    """Read one MOD11A1 HDF4-EOS granule, or raise a one-line :class:`GlofnetError`."""
    from pyhdf.error import HDF4Error
    from pyhdf.SD import SD, SDC

    name = require(path, "hdf")
    try:
        sd = SD(str(path), SDC.READ)
    except HDF4Error as error:
        raise GlofnetError(path, f"not a readable HDF4 granule ({error})") from None
    try:
        attributes = sd.attributes()
        doi = str(attributes.get("identifier_product_doi", ""))
        if doi.startswith(DOI_PREFIX) and doi.removeprefix(DOI_PREFIX) != COLLECTION:
            found = doi.removeprefix(DOI_PREFIX)
            raise GlofnetError(path, f"identifier_product_doi {doi}: {collection_refusal(found)}")
        metadata = str(attributes.get("StructMetadata.0", ""))
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
        for sds_name in SDS:
            try:
                sds = sd.select(sds_name)
            except HDF4Error:
                raise GlofnetError(path, f"SDS {sds_name!r} is missing") from None
            sds_attributes = sds.attributes()
            if sds_name.startswith("LST") and not _is_lst_scale(sds_attributes.get("scale_factor")):
                raise GlofnetError(
                    path, f"{sds_name} scale_factor {sds_attributes.get('scale_factor')!r} is not {LST_SCALE}"
                )
            data = np.asarray(sds[:])
            sds.endaccess()
            if data.shape != (height, width):
                raise GlofnetError(
                    path, f"{sds_name} is {data.shape}, StructMetadata says ({height}, {width})"
                )
            bands[sds_name] = data
    except HDF4Error as error:
        raise GlofnetError(path, f"unreadable HDF4 data ({error})") from None
    finally:
        sd.end()
    x_size = (lower_right[0] - upper_left[0]) / width
    y_size = (lower_right[1] - upper_left[1]) / height
    grid = Grid(SINUSOIDAL, Affine(x_size, 0.0, upper_left[0], 0.0, y_size, upper_left[1]), width, height)
    return Tile(path=path, tile=name.tile, day=name.day, grid=grid, bands=bands)


def _lst_scale_ok(dataset: Any) -> bool:
    """LST is raw uint16 DN whose scale is 0.02, or not recorded (then the product's 0.02)."""
    scale = float(dataset.scales[0])
    return dataset.dtypes[0] == "uint16" and (bool(np.isclose(scale, LST_SCALE)) or scale == 1.0)


def read_geotiffs(paths: dict[str, Path]) -> Tile:
    """Read one tile-day from per-SDS COGs (``{sds: path}``), checking CRS and LST scale."""
    first = next(iter(paths.values()))
    name = require(first, "cog")
    bands: dict[str, NDArray[Any]] = {}
    grid: Grid | None = None
    for sds in SDS:
        path = paths.get(sds)
        if path is None:
            raise GlofnetError(first, f"tile-day has no {sds} file beside it")
        try:
            with rasterio.open(path) as dataset:
                if dataset.crs is None or "+proj=sinu" not in dataset.crs.to_proj4():
                    raise GlofnetError(path, f"not in the MODIS sinusoidal projection ({dataset.crs})")
                if sds.startswith("LST") and not _lst_scale_ok(dataset):
                    raise GlofnetError(
                        path,
                        f"{sds} is {dataset.dtypes[0]} with scale {dataset.scales[0]}, not raw uint16 DN"
                        f" with scale {LST_SCALE}",
                    )
                this = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
                bands[sds] = dataset.read(1)
        except (RasterioError, CRSError) as error:
            raise GlofnetError(path, f"unreadable raster ({error})") from None
        if grid is not None and (this.transform != grid.transform or this.shape != grid.shape):
            raise GlofnetError(path, f"{sds} is on another grid than the tile-day's other SDS")
        grid = this
    assert grid is not None
    return Tile(path=first, tile=name.tile, day=name.day, grid=grid, bands=bands)
