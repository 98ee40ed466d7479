"""The ``glofnet-itslive`` collection: one item per kept image pair, the cube, the daily series.

Item COGs hold float32 m/yr on the AOI's 120 m grid (NaN where filtered or outside the pair).
The cube is appended granule by granule to a staging Zarr store (one granule in memory at a
time), then sorted by mid_date and rechunked for time-series reads (all dates x 16 x 16 pixels).
"""

from __future__ import annotations

import logging
import shutil
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
from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.constants import COG
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension, declared_grid
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.preview import (
    add_renders,
    add_statistics,
    add_thumbnail,
    cog_thumbnail,
    copy_thumbnail,
    render,
)
from stactools_glofnet.core.progress import progress
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.core.stac import add_items, footprint, new_collection
from stactools_glofnet.itslive.names import VELOCITY_VARIABLES
from stactools_glofnet.itslive.process import FilteredGranule, Skipped, filter_granule, target_grid
from stactools_glofnet.itslive.read import read_granule
from stactools_glofnet.itslive.series import daily_series

logger = logging.getLogger(__name__)

LINEAGE = (
    "ITS_LIVE v2 image-pair granules quality-filtered with the rules in glofnet:qc (interpolated pixels, "
    "absolute and relative error, date separation per sensor group, glacier valid fraction, local-median "
    "outliers), then placed on the AOI's 120 m grid in UTM 43N with nearest-neighbour resampling."
)
DESCRIPTIONS = {
    "v": "Speed, m/yr",
    "vx": "Velocity, x (east) component, m/yr",
    "vy": "Velocity, y (north) component, m/yr",
    "v_error": "Speed error, m/yr",
}
CUBE_CHUNK = 16
CUBE_TIME_CHUNK = 1024
STAGING_CHUNK = 64


def _definition(name: str) -> pystac.ItemAssetDefinition:
    return pystac.ItemAssetDefinition.create(
        title=f"{name} (120 m)",
        description=f"{DESCRIPTIONS[name]}; NaN where filtered out or not covered.",
        media_type=COG,
        roles=["data"],
        extra_fields={
            "raster:bands": [
                RasterBand.create(
                    nodata=NoDataStrings.NAN, data_type=DataType.FLOAT32, spatial_resolution=120, unit="m/yr"
                ).to_dict()
            ]
        },
    )


ITEM_ASSETS = {name: _definition(name) for name in VELOCITY_VARIABLES}
RENDERS = {
    "speed": render(["v"], "Speed (m/yr)", rescale=[(0, 3000)], colormap_name="viridis"),
    "vx": render(["vx"], "East velocity (m/yr)", rescale=[(-1500, 1500)], colormap_name="rdbu"),
    "vy": render(["vy"], "North velocity (m/yr)", rescale=[(-1500, 1500)], colormap_name="rdbu"),
    "v_error": render(["v_error"], "Speed error (m/yr)", rescale=[(0, 50)], colormap_name="magma"),
}
"""How tilers, STAC Browser and the thumbnails draw the velocity COGs (surge speeds reach ~7000 m/yr)."""


def create_item(result: FilteredGranule, content: CatalogContent, directory: Path) -> pystac.Item:
    """Write the filtered granule's COGs into ``directory`` and describe them in an item."""
    granule = result.granule
    grid = result.grid
    geometry, bbox = footprint(grid)
    item = pystac.Item(
        id=granule.id,
        geometry=geometry,
        bbox=bbox,
        datetime=granule.centre,
        properties={},
        start_datetime=min(granule.acquired),
        end_datetime=max(granule.acquired),
    )
    item.common_metadata.title = (
        f"ITS_LIVE {granule.group} pair {min(granule.acquired):%Y-%m-%d} / {max(granule.acquired):%Y-%m-%d}"
    )
    item.common_metadata.platform = granule.platforms[0]
    item.common_metadata.gsd = 120
    for name in VELOCITY_VARIABLES:
        path = directory / f"{name}.tif"
        write_cog(path, result.velocity[name], grid, nodata=float("nan"))
        item.add_asset(name, file_asset(ITEM_ASSETS[name], path))
    add_statistics(item)
    cog_thumbnail(directory / "v.tif", RENDERS["speed"], directory / "thumbnail.png")
    add_thumbnail(item, directory / "thumbnail.png", "Speed thumbnail", "v, 0-3000 m/yr, viridis.")
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = f"EPSG:{grid.crs.to_epsg()}"
    projection.shape = [grid.height, grid.width]
    projection.transform = list(grid.transform)[:6]
    RasterExtension.add_to(item)
    FileExtension.add_to(item)
    glofnet = GlofnetExtension.ext(item, add_if_missing=True)
    glofnet.modality = "itslive"
    glofnet.platforms = list(granule.platforms)
    glofnet.image_ids = list(granule.image_ids)
    glofnet.sensor_group = granule.group
    glofnet.date_dt_days = round(granule.date_dt_days, 6)
    glofnet.qc_removed = result.removed
    glofnet.glacier_valid_fraction = round(result.glacier_valid_fraction, 6)
    glofnet.glacier_mean_m_per_yr = round(result.glacier_mean, 3)
    glofnet.glacier_p90_m_per_yr = round(result.glacier_p90, 3)
    glofnet.split = content.splits.split_of_interval(
        min(granule.acquired).date(), max(granule.acquired).date()
    )
    return item


class CubeWriter:
    """Appends each kept granule to a staging store; ``finish`` sorts and rechunks it.

    Memory: one granule while appending; while rechunking, one 16 x 16 block of at most
    1024 dates per task.
    """

    def __init__(self, staging: Path, final: Path, grid: Grid) -> None:
        """Prepare to write the cube at ``final`` through ``staging``."""
        self.staging, self.final, self.grid = staging, final, grid
        self.count = 0

    def add(self, result: FilteredGranule) -> None:
        """Append one granule as one mid_date slice."""
        granule = result.granule
        xs = self.grid.transform.c + (np.arange(self.grid.width) + 0.5) * self.grid.transform.a
        ys = self.grid.transform.f + (np.arange(self.grid.height) + 0.5) * self.grid.transform.e
        mid = np.datetime64(granule.centre.replace(tzinfo=None), "ns")
        data = {name: (("mid_date", "y", "x"), result.velocity[name][None]) for name in VELOCITY_VARIABLES}
        per_date = {
            "date_dt": ("mid_date", np.array([granule.date_dt_days], dtype=np.float64)),
            "acquisition_date_img1": (
                "mid_date",
                np.array([np.datetime64(granule.acquired[0].replace(tzinfo=None), "ns")]),
            ),
            "acquisition_date_img2": (
                "mid_date",
                np.array([np.datetime64(granule.acquired[1].replace(tzinfo=None), "ns")]),
            ),
            "sensor_group": ("mid_date", np.array([granule.group], dtype="<U16")),
            "granule_id": ("mid_date", np.array([granule.id], dtype="<U255")),
        }
        dataset = xr.Dataset({**data, **per_date}, coords={"mid_date": [mid], "x": xs, "y": ys})
        if self.count == 0:
            times = {"units": "microseconds since 2000-01-01T00:00:00", "dtype": "int64"}
            encoding: dict[str, dict[str, Any]] = {
                name: dict(times) for name in ("mid_date", "acquisition_date_img1", "acquisition_date_img2")
            }
            # Staged in spatial blocks, so the rechunk to time series reads one block of every
            # date at a time, never whole slices of every date.
            for name in VELOCITY_VARIABLES:
                encoding[name] = {"chunks": (1, STAGING_CHUNK, STAGING_CHUNK)}
            dataset.to_zarr(self.staging, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
        else:
            dataset.to_zarr(self.staging, append_dim="mid_date", zarr_format=2, consolidated=False)
        self.count += 1

    def finish(self, content: CatalogContent) -> xr.Dataset:
        """Sort by mid_date, rechunk for time series, add CF attributes, consolidate."""
        staged = xr.open_zarr(self.staging, consolidated=False)
        cube = staged.sortby(["mid_date", "granule_id"])
        n = min(cube.sizes["mid_date"], CUBE_TIME_CHUNK)
        cube = cube.chunk({"mid_date": n, "y": CUBE_CHUNK, "x": CUBE_CHUNK})
        for name in VELOCITY_VARIABLES:
            cube[name].attrs = {"units": "m/yr", "long_name": DESCRIPTIONS[name], "grid_mapping": "mapping"}
        cube["v"].attrs["standard_name"] = "land_ice_surface_velocity"
        cube["vx"].attrs["standard_name"] = "land_ice_surface_x_velocity"
        cube["vy"].attrs["standard_name"] = "land_ice_surface_y_velocity"
        cube["x"].attrs = {"standard_name": "projection_x_coordinate", "units": "m"}
        cube["y"].attrs = {"standard_name": "projection_y_coordinate", "units": "m"}
        cube["mid_date"].attrs = {"standard_name": "time", "long_name": "centre date of the image pair"}
        cube["date_dt"].attrs = {"units": "days", "long_name": "separation of the two images"}
        cube["mapping"] = xr.DataArray(
            0,
            attrs={
                "grid_mapping_name": "transverse_mercator",
                "spatial_epsg": int(self.grid.crs.to_epsg() or 0),
                "crs_wkt": self.grid.crs.to_wkt(),
                "GeoTransform": " ".join(str(v) for v in list(self.grid.transform)[:6]),
            },
        )
        cube.attrs = {
            "Conventions": "CF-1.8",
            "title": "GLOFNet ITS_LIVE velocity cube (quality-filtered)",
            "source": "NASA MEaSUREs ITS_LIVE v2 image-pair granules",
        }
        encoding = {name: {"chunks": (n, CUBE_CHUNK, CUBE_CHUNK)} for name in VELOCITY_VARIABLES}
        for name in cube.variables:
            cube[name].encoding.pop("chunks", None)
            cube[name].encoding.pop("preferred_chunks", None)
        cube.to_zarr(self.final, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
        shutil.rmtree(self.staging, ignore_errors=True)
        opened: xr.Dataset = xr.open_zarr(self.final, consolidated=True)
        return opened


def granule_paths(source_dir: Path) -> list[Path]:
    """The granule files of a SOURCE's itslive/ directory."""
    return sorted(source_dir.glob("*.nc"))


def create_collection(content: CatalogContent, source_dir: Path, workdir: Path) -> pystac.Collection:
    """Filter every granule under ``source_dir`` into the ITS_LIVE collection (files in ``workdir``)."""
    paths = granule_paths(source_dir)
    if not paths:
        raise GlofnetError(source_dir, "no ITS_LIVE granules (*.nc)")
    grid = target_grid(content)
    workdir.mkdir(parents=True, exist_ok=True)
    cube = CubeWriter(workdir / "cube-staging.zarr", workdir / "velocity_cube.zarr", grid)
    items: list[pystac.Item] = []
    skipped: list[dict[str, str]] = []
    measurements: list[dict[str, Any]] = []
    for path in progress(paths, desc="itslive granules", unit="granule"):
        result = filter_granule(read_granule(path), content)
        if isinstance(result, Skipped):
            logger.info("skipped %s: %s", path.name, result.reason)
            skipped.append({"id": result.granule.id, "reason": result.reason})
            continue
        items.append(create_item(result, content, workdir / result.granule.id))
        cube.add(result)
        measurements.append(
            {
                "mid_date": pd.Timestamp(result.granule.centre).tz_convert("UTC"),
                "glacier_mean": result.glacier_mean,
                "glacier_p90": result.glacier_p90,
            }
        )
    if not items:
        raise GlofnetError(source_dir, "every ITS_LIVE granule was skipped; nothing to publish")
    cube_data = cube.finish(content)
    max_gap = content.processing.harmonized.max_gap_days["itslive"]
    series = daily_series(pd.DataFrame(measurements), max_gap, content.processing.harmonized.interpolation)
    series.to_parquet(workdir / "velocity_daily.parquet", index=False, engine="pyarrow", compression="zstd")
    _figure(series, workdir / "velocity_daily.png")
    return _assemble(content, items, skipped, cube_data, series, grid, workdir)


SERIES_COLUMNS = {
    "date": "UTC day",
    "glacier_mean_m_per_yr": "Mean speed over the glacier trunk (m/yr)",
    "glacier_p90_m_per_yr": "90th percentile of speed over the glacier trunk (m/yr)",
    "flag": "measured (an image pair is centred on the day), interpolated, or missing (gap > max)",
    "granules": "Image pairs centred on the day",
}


def _figure(series: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.2), dpi=100)
    days = pd.to_datetime(series["date"])
    axis.plot(days, series["glacier_mean_m_per_yr"] / 365.25, lw=1, label="glacier mean")
    axis.plot(days, series["glacier_p90_m_per_yr"] / 365.25, lw=0.8, label="glacier p90")
    measured = series["flag"] == "measured"
    axis.plot(days[measured], series["glacier_mean_m_per_yr"][measured] / 365.25, ".", ms=3)
    axis.set_yscale("log")
    axis.set_ylabel("speed (m/day)")
    axis.set_title("Shisper Glacier speed from ITS_LIVE: seasonal cycle and the 2018-2019 surge")
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
    plt.close(figure)


def _assemble(
    content: CatalogContent,
    items: list[pystac.Item],
    skipped: list[dict[str, str]],
    cube: xr.Dataset,
    series: pd.DataFrame,
    grid: Grid,
    workdir: Path,
) -> pystac.Collection:
    max_gap = content.processing.harmonized.max_gap_days["itslive"]
    times = sorted(item.datetime for item in items if item.datetime)
    bboxes = np.array([item.bbox for item in items])
    collection = new_collection(
        content,
        "itslive",
        bbox=[
            float(bboxes[:, 0].min()),
            float(bboxes[:, 1].min()),
            float(bboxes[:, 2].max()),
            float(bboxes[:, 3].max()),
        ],
        interval=(
            min(i.common_metadata.start_datetime or times[0] for i in items),
            max(i.common_metadata.end_datetime or times[-1] for i in items),
        ),
        lineage=LINEAGE,
    )
    collection.item_assets = dict(ITEM_ASSETS)
    for extension in (ProjectionExtension, RasterExtension, FileExtension):
        extension.add_to(collection)
    collection.summaries.add(
        "platform", sorted({p for i in items for p in GlofnetExtension.ext(i).platforms or []})
    )
    collection.summaries.add("gsd", [120])
    collection.summaries.add("proj:code", [f"EPSG:{grid.crs.to_epsg()}"])
    glofnet = GlofnetExtension.ext(collection, add_if_missing=True)
    glofnet.grid = declared_grid("itslive", content.processing.grids["itslive"], grid)
    glofnet.qc = content.processing.itslive.model_dump(mode="json")
    glofnet.skipped = skipped
    glofnet.time_step = content.processing.time_step
    glofnet.interpolation = {
        "method": content.processing.harmonized.interpolation,
        "max_gap_days": {column: max_gap for column in ("glacier_mean_m_per_yr", "glacier_p90_m_per_yr")},
    }

    add_cube_asset(
        collection,
        "velocity_cube",
        zarr_asset(
            workdir / "velocity_cube.zarr",
            title="Velocity cube (Zarr v2, consolidated)",
            description=(
                "v, vx, vy, v_error (m/yr) by mid_date, y, x; chunks: 16 x 16 pixels, up to 1024 dates."
            ),
        ),
        grid=grid,
        time_dimension="mid_date",
        time_description="Centre date of each image pair",
        times=pd.to_datetime(cube["mid_date"].values),
        variables={name: ("m/yr", DESCRIPTIONS[name]) for name in VELOCITY_VARIABLES},
        per_time={
            "acquisition_date_img1": "Acquisition time of the first image",
            "acquisition_date_img2": "Acquisition time of the second image",
            "date_dt": "Separation of the two images (days)",
            "sensor_group": "sentinel-1, sentinel-2 or landsat",
            "granule_id": "ITS_LIVE granule the layer comes from",
        },
    )
    add_table_asset(
        collection,
        "velocity_daily",
        workdir / "velocity_daily.parquet",
        title="Daily glacier speed",
        description="Glacier-mean and p90 speed per day, interpolated across gaps up to the maximum.",
        columns=SERIES_COLUMNS,
        row_count=len(series),
    )
    add_figure_asset(
        collection,
        "velocity_figure",
        workdir / "velocity_daily.png",
        title="Glacier speed figure",
        description="Daily glacier speed (log scale) with the measured days marked.",
    )
    add_renders(collection, RENDERS)
    best = max(items, key=lambda i: (GlofnetExtension.ext(i).glacier_valid_fraction or 0.0, i.id))
    copy_thumbnail(Path(best.assets["thumbnail"].href), workdir / "thumbnail.png")
    add_thumbnail(
        collection,
        workdir / "thumbnail.png",
        "Speed thumbnail of the best-covered pair",
        f"{best.id}: v, 0-3000 m/yr, viridis.",
    )
    add_items(collection, items)
    return collection
