"""The ``glofnet-modis-lst`` collection: the daily cube, the trunk series, the trend, yearly items.

Days are processed in batches on the build's engine (a bounded number in flight) and taken in
date order: each is appended to a staging Zarr store and to the running sums of its year (for
the yearly mean COGs), so memory does not grow with the record's length.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pystac
import xarray as xr
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension

from stactools_glofnet.core.assets import (
    add_cube_asset,
    add_figure_asset,
    add_table_asset,
    file_asset,
    zarr_asset,
)
from stactools_glofnet.core.columns import ColumnRows
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.constants import COG
from stactools_glofnet.core.contract import LST_CUBE, LST_DAILY
from stactools_glofnet.core.cube import CubeWriter, Layer
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension, declared_grid
from stactools_glofnet.core.figures import png_figure
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.memo import Fingerprint, run_jobs
from stactools_glofnet.core.preview import (
    add_renders,
    add_statistics,
    add_thumbnail,
    cog_thumbnail,
    copy_thumbnail,
    render,
)
from stactools_glofnet.core.progress import progress
from stactools_glofnet.core.raster import polygon_mask, write_cog
from stactools_glofnet.core.series import to_daily
from stactools_glofnet.core.stac import (
    add_items,
    day_end,
    day_start,
    footprint,
    new_collection,
    stamp_projection,
)
from stactools_glofnet.core.wing import BuildOptions, Skips, WingInputs
from stactools_glofnet.modis.analysis import trend_and_seasonality
from stactools_glofnet.modis.discover import discover
from stactools_glofnet.modis.process import Day, TileSource, process_day, utm_grid

logger = logging.getLogger(__name__)
LINEAGE = (
    "MOD11A1 v061 tiles h23v05 and h24v05 (HDF4 granules or per-SDS GeoTIFFs) mosaicked per day over "
    "the AOI, QC-filtered (mandatory QA and LST-error bits, see glofnet:qc), DN x 0.02 = K, reprojected "
    "from the MODIS sinusoidal grid onto a 1 km UTM 43N grid with nearest-neighbour resampling."
)
TIME_CHUNK = 4096
SERIES_COLUMNS = {
    "date": "UTC day",
    "lst_day_k": "Mean daytime LST over the glacier trunk (K)",
    "lst_day_flag": "measured, interpolated (gap up to max_gap_days.modis) or missing",
    "lst_night_k": "Mean night-time LST over the glacier trunk (K)",
    "lst_night_flag": "measured, interpolated or missing",
    "trunk_coverage_day": "Fraction of trunk pixels with a valid daytime LST (0 where no data)",
    "aoi_coverage_day": "Fraction of AOI pixels (both tiles, sinusoidal) with a valid daytime LST",
    "tiles": "Tiles present that day",
}


def _annual_definition(part: str) -> pystac.ItemAssetDefinition:
    return pystac.ItemAssetDefinition.create(
        title=f"Mean {part.lower()}time LST of the year (K)",
        description=f"Mean QC-accepted {part.lower()}time LST of the year per pixel; NaN if never valid.",
        media_type=COG,
        roles=["data"],
        extra_fields={
            "raster:bands": [
                RasterBand.create(
                    nodata=NoDataStrings.NAN, data_type=DataType.FLOAT32, spatial_resolution=1000, unit="K"
                ).to_dict()
            ]
        },
    )


ITEM_ASSETS = {"lst_day_mean": _annual_definition("Day"), "lst_night_mean": _annual_definition("Night")}
LST_RESCALE = ((240.0, 290.0),)
RENDERS = {
    "lst-day": render(["lst_day_mean"], "Mean daytime LST (K)", rescale=LST_RESCALE, colormap_name="inferno"),
    "lst-night": render(
        ["lst_night_mean"], "Mean night-time LST (K)", rescale=LST_RESCALE, colormap_name="inferno"
    ),
}
"""How tilers, STAC Browser and the thumbnails draw the yearly mean LST COGs."""
THUMBNAIL_TEXT = "Mean daytime LST of the year, 240-290 K, inferno; transparent where never valid."


class _Year:
    """Running sums of one year's days."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.sum = {k: np.zeros(shape) for k in ITEM_ASSETS}
        self.count = {k: np.zeros(shape, dtype=np.int32) for k in ITEM_ASSETS}
        self.first: Any = None
        self.last: Any = None
        self.days = 0

    def add(self, day: Day) -> None:
        for key, values in (("lst_day_mean", day.lst_day), ("lst_night_mean", day.lst_night)):
            valid = np.isfinite(values)
            self.sum[key][valid] += values[valid]
            self.count[key][valid] += 1
        self.first = self.first or day.day
        self.last = day.day
        self.days += 1

    def mean(self, key: str) -> np.ndarray[Any, Any]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.sum[key] / self.count[key]).astype(np.float32)


def _year_item(year: int, record: _Year, grid: Grid, directory: Path, content: CatalogContent) -> pystac.Item:
    geometry, bbox = footprint(grid)
    item = pystac.Item(
        id=f"glofnet-modis-lst-{year}",
        geometry=geometry,
        bbox=bbox,
        datetime=day_start(record.first + (record.last - record.first) / 2),  # the nominal (centre) day
        properties={},
        start_datetime=day_start(record.first),
        end_datetime=day_end(record.last),
    )
    item.common_metadata.title = f"MODIS LST {year}"
    item.common_metadata.platform = "terra"
    item.common_metadata.instruments = ["modis"]
    item.common_metadata.gsd = 1000
    for key, definition in ITEM_ASSETS.items():
        path = directory / f"{key}.tif"
        write_cog(path, record.mean(key), grid, nodata=float("nan"))
        item.add_asset(key, file_asset(definition, path))
    add_statistics(item)
    cog_thumbnail(directory / "lst_day_mean.tif", RENDERS["lst-day"], directory / "thumbnail.png")
    add_thumbnail(item, directory / "thumbnail.png", f"Mean daytime LST {year}", THUMBNAIL_TEXT)
    stamp_projection(item, grid)
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    glofnet = GlofnetExtension.ext(item, add_if_missing=True)
    glofnet.modality = "modis"
    glofnet.days = record.days
    glofnet.split = content.splits.split_of_interval(record.first, record.last)
    return item


def _layer(result: Day) -> Layer:
    """One day as one time layer of the cube."""
    return Layer(
        gridded={"LST_Day": result.lst_day[None], "LST_Night": result.lst_night[None]},
        along_time={"time": np.array([np.datetime64(result.day, "ns")])},
    )


def _with_validity(cube: xr.Dataset) -> xr.Dataset:
    """Add the 0/1 masks of QC-accepted pixels."""
    cube["valid_day"] = cube["LST_Day"].notnull().astype(np.uint8)
    cube["valid_night"] = cube["LST_Night"].notnull().astype(np.uint8)
    return cube


def _variable_attrs() -> dict[str, dict[str, Any]]:
    attrs: dict[str, dict[str, Any]] = {
        name: {"units": "K", "standard_name": "surface_temperature", "long_name": f"MODIS {text} LST"}
        for name, text in (("LST_Day", "daytime"), ("LST_Night", "night-time"))
    }
    for name in ("valid_day", "valid_night"):
        attrs[name] = {
            "long_name": "1 where the QC bits accepted the pixel",
            "flag_values": [0, 1],
            "flag_meanings": "invalid valid",
        }
    return attrs


def _trend(series: pd.DataFrame, content: CatalogContent) -> dict[str, Any]:
    """The trend and seasonal cycle, or why they cannot be estimated from these days."""
    measured = series["lst_day_flag"] == "measured"
    try:
        return trend_and_seasonality(
            series.loc[measured, "date"],
            series.loc[measured, "lst_day_k"],
            content.processing.modis.seasonal_harmonics,
        )
    except ValueError as error:
        logger.warning("modis: no LST trend: %s", error)
        return {"estimated": False, "reason": f"not estimated: {error}"}


DAYS_PER_JOB = 32
"""Days per job on the build's engine: a day is a few small reads, too little work for a task."""


@dataclass(frozen=True)
class _DaysJob:
    """Consecutive days to mosaic and check on the build's engine."""

    content: CatalogContent
    days: list[tuple[dt.date, dict[str, TileSource]]]


def _days_job(job: _DaysJob) -> list[tuple[dt.date, Day | GlofnetError]]:
    """Each day's LST on the UTM grid, or the error that left it out."""
    done: list[tuple[dt.date, Day | GlofnetError]] = []
    for day, sources in job.days:
        try:
            done.append((day, process_day(job.content, day, sources)))
        except GlofnetError as error:
            done.append((day, error.detached()))
    return done


def _days_inputs(job: _DaysJob) -> Fingerprint:
    """What a block of days reads: each day's tile files (HDF4 granules or layer COGs)."""
    files: list[Path] = []
    values: list[str] = []
    for day, tiles in job.days:
        for tile, source in sorted(tiles.items()):
            layers = sorted(source.items()) if isinstance(source, dict) else [("hdf", source)]
            values.append(f"{day.isoformat()} {tile} {' '.join(name for name, _ in layers)}")
            files.extend(Path(os.path.abspath(path)) for _, path in layers)
    return Fingerprint(tuple(files), tuple(values))


def _blocks_taken_out(
    days: dict[dt.date, dict[str, TileSource]],
) -> Iterator[list[tuple[dt.date, dict[str, TileSource]]]]:
    """Blocks of :data:`DAYS_PER_JOB` consecutive days, each day taken out of ``days`` when its
    block is made: a day's file names are held until its job is sent, not to the stage's end."""
    dates = iter(list(days))
    while block := [(day, days.pop(day)) for day in islice(dates, DAYS_PER_JOB)]:
        yield block


def create_collection(inputs: WingInputs, workdir: Path, options: BuildOptions) -> pystac.Collection:
    """MODIS's front door: every day under ``SOURCE/modis`` into the LST collection.

    Files are written in ``workdir``; days are read and mosaicked side by side on
    ``options.engine`` and collected in date order. Inputs left out (a superseded production, a tile the AOI
    does not need, an unreadable file) are listed in ``glofnet:skipped`` (``options.strict``: an
    error).
    """
    source_dir = inputs.require_source("modis")
    content = options.content
    found = discover(source_dir, content)
    days = found.days
    if not days:
        raise GlofnetError(source_dir, found.nothing_usable())
    skips = Skips("modis", options.strict)
    for entry in found.skipped:
        skips.add(entry["id"], entry["reason"], kind="input", path=source_dir / entry["id"])
    grid = utm_grid(content)
    trunk = polygon_mask(grid, content.geometry.trunk.polygon)
    min_coverage = content.processing.modis.min_trunk_coverage
    workdir.mkdir(parents=True, exist_ok=True)
    cube_path = workdir / f"{LST_CUBE.key}.zarr"
    cube = CubeWriter(
        cube_path,
        grid,
        LST_CUBE.time,
        layer_encoding={"time": {"units": "days since 2000-01-01", "dtype": "int32"}},
    )
    rows = ColumnRows()
    years: dict[int, _Year] = {}
    items: list[pystac.Item] = []
    total = len(days)
    jobs = (_DaysJob(content, block) for block in _blocks_taken_out(days))
    batches = run_jobs(options, _days_job, jobs, _days_inputs, workdir)
    done_days = (done for batch in batches for done in batch)
    for day, result in progress(done_days, total=total, desc="modis days", unit="day", timed=True):
        if isinstance(result, GlofnetError):
            skips.add_error(day.isoformat(), result, source_dir)
            continue
        record = years.setdefault(day.year, _Year(grid.shape))
        record.add(result)
        cube.append(_layer(result))
        rows.append(
            {
                "date": pd.Timestamp(day, tz="UTC"),
                "aoi_coverage_day": result.aoi_coverage_day,
                "tiles": ",".join(result.tiles),
            }
        )
        for year in [y for y in years if y < day.year]:
            items.append(
                _year_item(year, years.pop(year), grid, workdir / f"glofnet-modis-lst-{year}", content)
            )
    for year, record in years.items():
        items.append(_year_item(year, record, grid, workdir / f"glofnet-modis-lst-{year}", content))
    logger.info(skips.summary(len(rows), "day"))
    if not len(rows):
        raise skips.nothing_usable(source_dir, "day")
    cube_data = cube.finish(
        chunks={"time": TIME_CHUNK, "y": None, "x": None},
        variable_attrs=_variable_attrs(),
        attrs={"title": "GLOFNet MODIS MOD11A1 LST cube", "source": "MOD11A1 v061"},
        derive=_with_validity,
    )
    frame = rows.frame()
    for part, column in (("LST_Day", "lst_day_k"), ("LST_Night", "lst_night_k")):
        means, coverage = trunk_series(cube_data[part], trunk, min_coverage)
        frame[column] = means
        if part == "LST_Day":
            frame["trunk_coverage_day"] = coverage
    series = _series(frame, content)
    series.to_parquet(workdir / "lst_daily.parquet", index=False, engine="pyarrow", compression="zstd")
    analysis = _trend(series, content)
    (workdir / "lst_trend.json").write_text(json.dumps(analysis, indent=2, sort_keys=True) + "\n")
    _figure(series, analysis, workdir / "lst_trend.png")
    return _assemble(content, items, skips.records, cube_data, series, analysis, grid, workdir)


def trunk_series(
    lst: xr.DataArray, trunk: np.ndarray[Any, Any], min_coverage: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Daily trunk mean by averaging per-pixel anomalies, and the clear fraction of the trunk.

    LST varies across the trunk (elevation, aspect), so a plain mean of whichever pixels are clear
    jumps with the cloud pattern. Each pixel's long-term mean is removed first, the day's mean
    anomaly is added back to the trunk's mean, and days with less than ``min_coverage`` of the
    trunk clear get no value. Memory: days x trunk pixels, a few MB for 25 years.
    """
    rows, cols = np.nonzero(trunk)
    values = lst.isel(y=xr.DataArray(rows, dims="pixel"), x=xr.DataArray(cols, dims="pixel")).values
    valid = np.isfinite(values)
    coverage = valid.mean(axis=1) if values.shape[1] else np.zeros(values.shape[0])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels or days with no valid value
        pixel_mean = np.nanmean(values, axis=0)
        anomaly = np.nanmean(values - pixel_mean, axis=1)
    means = np.where(coverage >= max(min_coverage, 1e-9), anomaly + np.nanmean(pixel_mean), np.nan)
    return means, coverage


def _series(frame: pd.DataFrame, content: CatalogContent) -> pd.DataFrame:
    max_gap = content.processing.harmonized.max_gap_days["modis"]
    method = content.processing.harmonized.interpolation
    day = to_daily(frame, "date", ["lst_day_k"], max_gap, method).rename(columns={"flag": "lst_day_flag"})
    night = to_daily(frame, "date", ["lst_night_k"], max_gap, method).rename(
        columns={"flag": "lst_night_flag"}
    )
    dates = pd.DataFrame(
        {"date": pd.date_range(frame["date"].min(), frame["date"].max(), freq="D").tz_localize(None).date}
    )
    extra = frame.assign(date=frame["date"].dt.tz_localize(None).dt.date)[
        ["date", "trunk_coverage_day", "aoi_coverage_day", "tiles"]
    ]
    merged = dates.merge(day.drop(columns="granules"), on="date", how="left")
    merged = merged.merge(night.drop(columns="granules"), on="date", how="left").merge(
        extra, on="date", how="left"
    )
    merged["lst_day_flag"] = merged["lst_day_flag"].fillna("missing")
    merged["lst_night_flag"] = merged["lst_night_flag"].fillna("missing")
    merged["trunk_coverage_day"] = merged["trunk_coverage_day"].fillna(0.0)
    merged["aoi_coverage_day"] = merged["aoi_coverage_day"].fillna(0.0)
    merged["tiles"] = merged["tiles"].fillna("")
    return merged[list(SERIES_COLUMNS)]


def _figure(series: pd.DataFrame, analysis: dict[str, Any], path: Path) -> None:
    days = pd.to_datetime(series["date"])
    if "trend_k_per_decade" in analysis:
        low, high = analysis["trend_ci95_k_per_decade"]
        title = (
            f"MODIS LST over Shisper: trend {analysis['trend_k_per_decade']:+.2f} K/decade"
            f" (95 % CI {low:+.2f} to {high:+.2f})"
        )
    else:
        title = f"MODIS LST over Shisper (trend {analysis['reason']})"
    style = {} if "trend_k_per_decade" in analysis else {"fontsize": 9}
    with png_figure(path) as (_, axis):
        axis.plot(days, series["lst_day_k"], lw=0.6, label="day")
        axis.plot(days, series["lst_night_k"], lw=0.6, label="night")
        axis.set_ylabel("trunk LST (K)")
        axis.set_title(title, **style)
        axis.legend(loc="upper right", fontsize=8)


def _assemble(
    content: CatalogContent,
    items: list[pystac.Item],
    skipped: list[dict[str, str]],
    cube: xr.Dataset,
    series: pd.DataFrame,
    analysis: dict[str, Any],
    grid: Grid,
    workdir: Path,
) -> pystac.Collection:
    starts = [i.common_metadata.start_datetime for i in items if i.common_metadata.start_datetime]
    ends = [i.common_metadata.end_datetime for i in items if i.common_metadata.end_datetime]
    bbox = items[0].bbox or []
    collection = new_collection(
        content, "modis", bbox=list(bbox), interval=(min(starts), max(ends)), lineage=LINEAGE
    )
    collection.item_assets = dict(ITEM_ASSETS)
    for extension in (ProjectionExtension, RasterExtension, FileExtension):
        extension.add_to(collection)
    collection.summaries.add("platform", ["terra"])
    collection.summaries.add("instruments", ["modis"])
    collection.summaries.add("gsd", [1000])
    glofnet = GlofnetExtension.ext(collection, add_if_missing=True)
    glofnet.grid = declared_grid("modis_utm", content.processing.grids["modis_utm"], grid)
    glofnet.resampling = {part: content.processing.modis.resampling for part in ("LST_Day", "LST_Night")}
    glofnet.qc = content.processing.modis.model_dump(mode="json")
    glofnet.skipped = skipped
    glofnet.time_step = content.processing.time_step
    glofnet.interpolation = {
        "method": content.processing.harmonized.interpolation,
        "max_gap_days": {
            column: content.processing.harmonized.max_gap_days["modis"]
            for column in ("lst_day_k", "lst_night_k")
        },
    }
    glofnet.trend = {
        k: analysis[k]
        for k in ("trend_k_per_decade", "trend_ci95_k_per_decade", "mann_kendall", "estimated", "reason")
        if k in analysis
    }
    add_cube_asset(
        collection,
        LST_CUBE.key,
        zarr_asset(
            workdir / f"{LST_CUBE.key}.zarr",
            title="LST cube (Zarr v2, consolidated)",
            description="LST_Day, LST_Night (K) and valid masks by time, y, x on the 1 km UTM 43N grid.",
        ),
        grid=grid,
        time_dimension="time",
        times=pd.to_datetime(cube["time"].values),
        variables={
            "LST_Day": ("K", "Daytime land-surface temperature"),
            "LST_Night": ("K", "Night-time land-surface temperature"),
            "valid_day": ("1", "QC-accepted daytime pixel"),
            "valid_night": ("1", "QC-accepted night-time pixel"),
        },
    )
    add_table_asset(
        collection,
        LST_DAILY.key,
        workdir / "lst_daily.parquet",
        title="Daily trunk LST",
        description="Daily glacier-trunk mean LST with coverage and flags.",
        columns=SERIES_COLUMNS,
        row_count=len(series),
    )
    collection.add_asset(
        "lst_trend",
        file_asset(
            pystac.ItemAssetDefinition.create(
                title="LST trend and seasonal cycle (JSON)",
                description="Theil-Sen trend with 95 % interval, Mann-Kendall test, monthly mean cycle.",
                media_type="application/json",
                roles=["metadata"],
            ),
            workdir / "lst_trend.json",
        ),
    )
    add_figure_asset(
        collection,
        "lst_figure",
        workdir / "lst_trend.png",
        title="LST series and trend figure",
        description="Daily trunk LST with the trend in the title.",
    )
    add_renders(collection, RENDERS)
    fullest = max(items, key=lambda i: (GlofnetExtension.ext(i).days or 0, i.id))
    copy_thumbnail(Path(fullest.assets["thumbnail"].href), workdir / "thumbnail.png")
    add_thumbnail(
        collection,
        workdir / "thumbnail.png",
        f"{fullest.common_metadata.title}: mean daytime LST",
        THUMBNAIL_TEXT,
    )
    add_items(collection, items)
    return collection
