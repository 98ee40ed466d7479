"""Synthetic MOD11A1 v061 daily LST over the AOI's two sinusoidal tiles (h23v05, h24v05).

The first days of the span are full-tile LP DAAC HDF4-EOS granules written with pyhdf
(``MOD11A1.A<yyyyddd>.<tile>.061.<production>.hdf``, with ``identifier_product_doi``); the other
days are Planetary Computer COGs, one per SDS (``<granule id>_<SDS>.tif``), cut to the AOI window of
each tile on the MODIS lattice (what an AOI-window download keeps; the readers take full tiles the
same way) and holding the four SDS GLOFNet reads. One tile-day is also published in an older
production with other values, which the readers must skip (docs/sources.md). LST follows the time
line (seasonal cycle plus the warming trend) with a smooth elevation/aspect pattern continuous
across the tile boundary; clouds blank pixels (DN 0, QC "not produced, cloud"); some pixels are
"other quality" with small or large LST errors. One day lacks tile h23v05.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from numpy.typing import NDArray

from stactools_glofnet.core.grids import Grid, TileWindow
from stactools_glofnet.core.progress import progress
from stactools_glofnet.core.raster import smooth_noise
from stactools_glofnet.modis.process import source_mosaic
from stactools_glofnet.modis.read import GRID_NAME, LST_SCALE
from stactools_glofnet.sample.framework import SampleContext

NIGHT_OFFSET_K = -12.0
PIXEL_NOISE_K = 0.4
QC_GOOD, QC_CLOUD = 0b00000000, 0b00000010
QC_OTHER_SMALL_ERROR = 0b01000001  # other quality, LST error <= 2 K: kept
QC_OTHER_LARGE_ERROR = 0b11000001  # other quality, LST error > 3 K: rejected
HDF4_DAYS = 2
DOI = "10.5067/MODIS/MOD11A1.061"
REPROCESSED_DAY = 5  # index of the day whose h24v05 granule also exists in an older production
OLDER_PRODUCTION_OFFSET_K = 5.0


def _days(ctx: SampleContext) -> list[dt.date]:
    step = 8 if ctx.size.name == "small" else 1
    count = (ctx.size.end - ctx.size.start).days // step + 1
    return [ctx.size.start + dt.timedelta(days=step * k) for k in range(count)]


def granule_id(day: dt.date, tile: str, production: str) -> str:
    """The LP DAAC granule id of a tile-day produced at ``production`` (``YYYYDDDHHMMSS``)."""
    return f"MOD11A1.A{day.year}{day.timetuple().tm_yday:03d}.{tile}.061.{production}"


def production_stamp(day: dt.date, time: str = "103000") -> str:
    """The production stamp: the day after acquisition, as LP DAAC's forward processing does."""
    return f"{day + dt.timedelta(days=1):%Y%j}{time}"


def write_cogs(path_of: Callable[[str], Path], name: str, bands: dict[str, NDArray[Any]], grid: Grid) -> None:
    """One Planetary Computer-style COG per SDS, ``path_of("<granule id>_<SDS>.tif")``."""
    for sds, data in bands.items():
        scale = LST_SCALE if sds.startswith("LST") else None
        _write_geotiff(path_of(f"{name}_{sds}.tif"), data, grid, scale)


def _write_geotiff(path: Any, data: NDArray[Any], grid: Grid, scale: float | None) -> None:
    profile = {
        "driver": "GTiff",
        "dtype": data.dtype.name,
        "count": 1,
        "width": grid.width,
        "height": grid.height,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": 0 if scale is not None else None,
        "compress": "DEFLATE",
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data, 1)
        if scale is not None:
            dataset.scales = (scale,)
            dataset.update_tags(1, scale_factor=str(scale), units="K")


def write_hdf4(
    path: Path,
    window: TileWindow,
    spec_origin: tuple[float, float],
    resolution: float,
    bands: dict[str, NDArray[Any]],
) -> None:
    """A full-tile LP DAAC HDF4-EOS granule at ``path`` holding ``bands`` in ``window`` (zeros elsewhere)."""
    h, v = int(window.tile[1:3]), int(window.tile[4:6])
    size = 1200
    left = spec_origin[0] + h * size * resolution
    top = spec_origin[1] - v * size * resolution
    metadata = (
        "GROUP=GridStructure\n\tGROUP=GRID_1\n"
        f'\t\tGridName="{GRID_NAME}"\n\t\tXDim={size}\n\t\tYDim={size}\n'
        f"\t\tUpperLeftPointMtrs=({left:.6f},{top:.6f})\n"
        f"\t\tLowerRightMtrs=({left + size * resolution:.6f},{top - size * resolution:.6f})\n"
        "\t\tProjection=GCTP_SNSOID\n\t\tProjParams=(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)\n"
        "\t\tSphereCode=-1\n\t\tGridOrigin=HDFE_GD_UL\n\tEND_GROUP=GRID_1\nEND_GROUP=GridStructure\nEND\n"
    )
    # HDF4 records the name it was created under: create it by its bare name, from its own
    # directory, so the bytes do not depend on where the sample is written.
    with contextlib.chdir(path.parent):
        _write_sds(path.name, metadata, window, bands)


def _write_sds(name: str, metadata: str, window: TileWindow, bands: dict[str, NDArray[Any]]) -> None:
    from pyhdf.SD import SD, SDC

    size = 1200
    sd = SD(name, SDC.WRITE | SDC.CREATE)
    sd.attr("StructMetadata.0").set(SDC.CHAR, metadata)
    sd.attr("identifier_product_doi").set(SDC.CHAR, DOI)
    sd.attr("identifier_product_doi_authority").set(SDC.CHAR, "http://dx.doi.org")
    for sds_name, data in bands.items():
        full = np.zeros((size, size), dtype=data.dtype)
        full[
            window.row_off : window.row_off + data.shape[0], window.col_off : window.col_off + data.shape[1]
        ] = data
        kind = SDC.UINT16 if data.dtype == np.uint16 else SDC.UINT8
        sds = sd.create(sds_name, kind, (size, size))
        sds.setcompress(SDC.COMP_DEFLATE, 2)
        sds[:] = full
        if sds_name.startswith("LST"):
            sds.attr("units").set(SDC.CHAR, "K")
            sds.attr("valid_range").set(SDC.UINT16, [7500, 65535])
            sds.attr("_FillValue").set(SDC.UINT16, 0)
            sds.attr("scale_factor").set(SDC.FLOAT64, LST_SCALE)
        else:
            sds.attr("valid_range").set(SDC.UINT8, [0, 255])
        sds.endaccess()
    sd.end()


def _placer(ctx: SampleContext, year: int) -> Callable[[str], Path]:
    """Where a file of ``year`` goes in the sample (and its manifest)."""
    return lambda file: ctx.path(f"modis/{year}/{file}")


def generate(ctx: SampleContext) -> dict[str, Any]:
    """Write every day of the span (every 8th day when small); return per-day truth."""
    spec = ctx.content.processing.grids["modis"]
    mosaic, windows = source_mosaic(ctx.content)
    pattern = (2.5 * smooth_noise(ctx.rng("modis.terrain"), mosaic.shape, 6)).astype(np.float32)
    days = _days(ctx)
    missing_tile_day = days[len(days) // 3]
    truth_days = []
    reprocessed: dict[str, str] = {}
    for index, day in enumerate(progress(days, desc="sample modis", unit="day")):
        rng = ctx.rng(f"modis.day.{day.isoformat()}")
        base = float(ctx.timeline.lst_kelvin(np.array([day], dtype="datetime64[D]"))[0])
        cloud_fraction = float(rng.choice([0.0, 0.1, 0.3, 0.6, 1.0], p=[0.35, 0.25, 0.2, 0.15, 0.05]))
        valid_counts, pixels = 0, 0
        for window in windows:
            row0 = round((mosaic.transform.f - window.grid.transform.f) / -mosaic.transform.e)
            col0 = round((window.grid.transform.c - mosaic.transform.c) / mosaic.transform.a)
            local = pattern[row0 : row0 + window.grid.height, col0 : col0 + window.grid.width]
            pixels += local.size  # coverage is over the whole AOI, present tiles or not
            if window.tile == "h23v05" and day == missing_tile_day:
                continue
            bands: dict[str, NDArray[Any]] = {}
            for sds, offset in (("Day", 0.0), ("Night", NIGHT_OFFSET_K)):
                kelvin = base + offset + local + rng.normal(0, PIXEL_NOISE_K, local.shape).astype(np.float32)
                roll = rng.random(local.shape)
                cloud = rng.random(local.shape) < cloud_fraction
                qc = np.where(roll < 0.1, QC_OTHER_SMALL_ERROR, QC_GOOD)
                qc = np.where(roll > 0.95, QC_OTHER_LARGE_ERROR, qc)
                kelvin = np.where(qc == QC_OTHER_LARGE_ERROR, kelvin + 5.0, kelvin)
                dn = np.round(kelvin / LST_SCALE).astype(np.uint16)
                dn[cloud] = 0
                qc[cloud] = QC_CLOUD
                bands[f"LST_{sds}_1km"] = dn
                bands[f"QC_{sds}"] = qc.astype(np.uint8)
                if sds == "Day":
                    valid_counts += int(((qc != QC_OTHER_LARGE_ERROR) & ~cloud).sum())
            name = granule_id(day, window.tile, production_stamp(day))
            folder = _placer(ctx, day.year)
            if index < HDF4_DAYS:
                path = ctx.path(f"modis/{day.year}/{name}.hdf")
                write_hdf4(path, window, spec.origin, spec.resolution, bands)
            else:
                write_cogs(folder, name, bands, window.grid)
            if index == REPROCESSED_DAY and window.tile == windows[-1].tile:
                older = granule_id(day, window.tile, production_stamp(day, "093000"))
                step = round(OLDER_PRODUCTION_OFFSET_K / LST_SCALE)
                shifted = {
                    sds: np.where(data > 0, data + step, 0).astype(data.dtype)
                    if sds.startswith("LST")
                    else data
                    for sds, data in bands.items()
                }
                write_cogs(folder, older, shifted, window.grid)
                reprocessed = {"granule": older, "replaced_by": name}
        truth_days.append(
            {
                "date": day.isoformat(),
                "base_lst_day_k": round(base, 4),
                "cloud_fraction": cloud_fraction,
                "aoi_valid_fraction_day": round(valid_counts / pixels, 6) if pixels else 0.0,
                "tiles": [w.tile for w in windows if not (w.tile == "h23v05" and day == missing_tile_day)],
            }
        )
    return {
        "tiles": [w.tile for w in windows],
        "mosaic": mosaic.to_dict(),
        "night_offset_k": NIGHT_OFFSET_K,
        "trend_k_per_decade": round(10 * ctx.timeline.p.lst_trend_k_per_year, 6),
        "missing_tile_day": missing_tile_day.isoformat(),
        "hdf4_days": [d.isoformat() for d in days[:HDF4_DAYS]],
        "older_production": reprocessed,
        "days": truth_days,
    }
