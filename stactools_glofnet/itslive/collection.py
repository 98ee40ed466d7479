"""The ``glofnet-itslive`` collection: one item per kept image pair, the cube, the daily series.

Item COGs hold float32 m/yr on the AOI's 120 m grid (NaN where filtered or outside the pair).
Pairs are filtered as tasks on the build's engine (a bounded number in flight); their layers are
handed to :class:`~stactools_glofnet.core.cube.CubeWriter` in input order and written sorted by
mid_date, chunked for time-series reads (up to 1024 dates x 16 x 16 pixels).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pystac
import xarray as xr
from numpy.typing import NDArray
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
from stactools_glofnet.core.contract import VELOCITY_CUBE, VELOCITY_DAILY
from stactools_glofnet.core.cube import CubeWriter, Layer
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension, declared_grid
from stactools_glofnet.core.figures import png_figure
from stactools_glofnet.core.files import unsafe_name_reason
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.linked import ItemsExtent, LinkedItems
from stactools_glofnet.core.memo import Fingerprint, run_jobs
from stactools_glofnet.core.preview import (
    add_renders,
    add_statistics,
    add_thumbnail,
    array_thumbnail,
    copy_thumbnail,
    render,
    written_statistics,
)
from stactools_glofnet.core.progress import progress
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.core.stac import add_items, footprint, new_collection, stamp_projection
from stactools_glofnet.core.wing import BuildOptions, SkipKind, Skips, WingInputs
from stactools_glofnet.itslive.discover import CubeLayer, Inputs, discover, load, pair_id
from stactools_glofnet.itslive.names import VELOCITY_VARIABLES
from stactools_glofnet.itslive.process import FilteredGranule, Skipped, filter_granule, target_grid
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


def item_from_granule(result: FilteredGranule, content: CatalogContent, directory: Path) -> pystac.Item:
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
    measured: dict[str, dict[str, float]] = {}
    for name in VELOCITY_VARIABLES:
        path = directory / f"{name}.tif"
        write_cog(path, result.velocity[name], grid, nodata=float("nan"))
        item.add_asset(name, file_asset(ITEM_ASSETS[name], path))
        measured[name] = written_statistics(result.velocity[name], float("nan"))
    add_statistics(item, measured)  # from the arrays written, not read back
    speed = result.velocity["v"]
    array_thumbnail(speed, np.isfinite(speed), RENDERS["speed"], directory / "thumbnail.png")
    add_thumbnail(item, directory / "thumbnail.png", "Speed thumbnail", "v, 0-3000 m/yr, viridis.")
    stamp_projection(item, grid)
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


def _layer(result: FilteredGranule) -> Layer:
    """One kept granule as one mid_date layer of the cube, with its per-pair metadata."""
    granule = result.granule

    def when(moment: dt.datetime) -> NDArray[np.datetime64]:
        return np.array([np.datetime64(moment.replace(tzinfo=None), "ns")])

    return Layer(
        gridded={name: result.velocity[name][None] for name in VELOCITY_VARIABLES},
        along_time={
            "mid_date": when(granule.centre),
            "date_dt": np.array([granule.date_dt_days], dtype=np.float64),
            "acquisition_date_img1": when(granule.acquired[0]),
            "acquisition_date_img2": when(granule.acquired[1]),
            "sensor_group": np.array([granule.group], dtype="<U16"),
            "granule_id": np.array([granule.id], dtype="<U255"),
        },
    )


def _layer_encoding() -> dict[str, dict[str, Any]]:
    times = {"units": "microseconds since 2000-01-01", "dtype": "int64"}
    return {name: dict(times) for name in ("mid_date", "acquisition_date_img1", "acquisition_date_img2")}


def _variable_attrs() -> dict[str, dict[str, Any]]:
    attrs: dict[str, dict[str, Any]] = {
        name: {"units": "m/yr", "long_name": DESCRIPTIONS[name]} for name in VELOCITY_VARIABLES
    }
    attrs["v"]["standard_name"] = "land_ice_surface_velocity"
    attrs["vx"]["standard_name"] = "land_ice_surface_x_velocity"
    attrs["vy"]["standard_name"] = "land_ice_surface_y_velocity"
    attrs["mid_date"] = {"long_name": "centre date of the image pair"}
    attrs["date_dt"] = {"units": "days", "long_name": "separation of the two images"}
    return attrs


@dataclass(frozen=True)
class _PairJob:
    """One image pair to filter on the build's engine: a granule file, or a decoded cube layer."""

    pair: str | CubeLayer
    """A granule file's path, or a decoded cube layer."""
    content: CatalogContent
    workdir: Path


@dataclass(frozen=True)
class _PairDone:
    """What a pair job sends back: the item (COGs on disk), its cube layer and trunk statistics."""

    pair_id: str
    path: Path
    item: pystac.Item | None = None
    layer: Layer | None = None
    measurement: dict[str, Any] | None = None
    skipped: tuple[str, SkipKind] | None = None
    error: GlofnetError | None = None


def _pair_job(job: _PairJob) -> _PairDone:
    """Read (a file), check, filter and write one pair."""
    if isinstance(job.pair, str):
        pair, path = pair_id(job.pair), Path(job.pair)
    else:
        pair, path = job.pair.id, job.pair.source
    try:
        granule = load(job.pair)
        unsafe = unsafe_name_reason(granule.id)
        if unsafe is not None:
            raise GlofnetError(granule.path, unsafe)
        result = filter_granule(granule, job.content)
    except GlofnetError as error:
        return _PairDone(pair, path, error=error.detached())
    if isinstance(result, Skipped):
        return _PairDone(result.granule.id, path, skipped=(result.reason, result.kind))
    measurement = {
        "mid_date": pd.Timestamp(granule.centre).tz_convert("UTC"),
        "glacier_mean": result.glacier_mean,
        "glacier_p90": result.glacier_p90,
    }
    item = item_from_granule(result, job.content, job.workdir / granule.id)
    return _PairDone(granule.id, path, item=item, layer=_layer(result), measurement=measurement)


def _pair_inputs(job: _PairJob) -> Fingerprint:
    """What a pair job reads: its granule file, or (a decoded cube layer) the layer's content."""
    if isinstance(job.pair, str):
        return Fingerprint((Path(os.path.abspath(job.pair)),))
    return Fingerprint((), (job.pair.id, job.pair.digest))


def _filtered_pairs(
    found: Inputs, skips: Skips, source_dir: Path, workdir: Path, options: BuildOptions
) -> Iterator[_PairDone]:
    """Every pair's job result, in input order, from the build's engine (through its memo).

    Cube layers reach their jobs through the datacube windows staged in a scratch folder of
    ``workdir``, removed when the last job is done.
    """
    scratch = Path(tempfile.mkdtemp(prefix=".layers-", dir=workdir))
    try:
        jobs = (
            _PairJob(pair, options.content, workdir) for pair in found.granules(skips, source_dir, scratch)
        )
        yield from run_jobs(options, _pair_job, jobs, _pair_inputs, workdir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def create_collection(inputs: WingInputs, workdir: Path, options: BuildOptions) -> pystac.Collection:
    """ITS_LIVE's front door: every image pair under ``SOURCE/itslive`` filtered into the collection.

    Pairs come from granule files (``*.nc``) and datacubes (``*.zarr``), each pair once, and are
    filtered side by side on ``options.engine``, collected in input order. Inputs
    that cannot be read or named are skipped and listed (``options.strict``: an error); so are
    pairs the QC rules reject. Files are written in ``workdir``.
    """
    source_dir = inputs.require_source("itslive")
    content = options.content
    found = discover(source_dir, content)
    if not len(found):
        raise GlofnetError(source_dir, "no ITS_LIVE granules (*.nc) or datacube layers (*.zarr)")
    grid = target_grid(content)
    workdir.mkdir(parents=True, exist_ok=True)
    cube = CubeWriter(
        workdir / f"{VELOCITY_CUBE.key}.zarr", grid, "mid_date", layer_encoding=_layer_encoding()
    )
    kept = _KeptPairs()
    skips = Skips("itslive", options.strict)
    measurements = ColumnRows()
    pairs = _filtered_pairs(found, skips, source_dir, workdir, options)
    for done in progress(pairs, total=len(found), desc="itslive pairs", unit="pair", timed=True):
        if done.error is not None:
            skips.add_error(done.pair_id, done.error, source_dir)
        elif done.skipped is not None:
            skips.add(done.pair_id, done.skipped[0], kind=done.skipped[1], path=done.path)
        elif done.item is not None and done.layer is not None and done.measurement is not None:
            kept.add(done.item, workdir / done.item.id)
            cube.append(done.layer)
            measurements.append(done.measurement)
    logger.info(skips.summary(len(kept.items), "granule"))
    if not kept.items:
        raise skips.nothing_usable(source_dir, "granule")
    cube_data = cube.finish(
        chunks={"mid_date": CUBE_TIME_CHUNK, "y": CUBE_CHUNK, "x": CUBE_CHUNK},
        sort_by=["mid_date", "granule_id"],
        variable_attrs=_variable_attrs(),
        attrs={
            "title": "GLOFNet ITS_LIVE velocity cube (quality-filtered)",
            "source": "NASA MEaSUREs ITS_LIVE v2 image-pair granules",
        },
    )
    max_gap = content.processing.harmonized.max_gap_days["itslive"]
    series = daily_series(measurements.frame(), max_gap, content.processing.harmonized.interpolation)
    series.to_parquet(workdir / "velocity_daily.parquet", index=False, engine="pyarrow", compression="zstd")
    _figure(series, workdir / "velocity_daily.png")
    return _assemble(content, kept, skips.records, cube_data, series, grid, workdir)


SERIES_COLUMNS = {
    "date": "UTC day",
    "glacier_mean_m_per_yr": "Mean speed over the glacier trunk (m/yr)",
    "glacier_p90_m_per_yr": "90th percentile of speed over the glacier trunk (m/yr)",
    "flag": "measured (an image pair is centred on the day), interpolated, or missing (gap > max)",
    "granules": "Image pairs centred on the day",
}


def _figure(series: pd.DataFrame, path: Path) -> None:
    days = pd.to_datetime(series["date"])
    measured = series["flag"] == "measured"
    with png_figure(path) as (_, axis):
        axis.plot(days, series["glacier_mean_m_per_yr"] / 365.25, lw=1, label="glacier mean")
        axis.plot(days, series["glacier_p90_m_per_yr"] / 365.25, lw=0.8, label="glacier p90")
        axis.plot(days[measured], series["glacier_mean_m_per_yr"][measured] / 365.25, ".", ms=3)
        axis.set_yscale("log")
        axis.set_ylabel("speed (m/day)")
        axis.set_title("Shisper Glacier speed from ITS_LIVE: seasonal cycle and the 2018-2019 surge")
        axis.legend(loc="upper right", fontsize=8)


@dataclass
class _KeptPairs:
    """The kept pairs: each item written to its file as it arrives (:func:`write_linked`), and what
    the collection needs of them gathered on the way, so the build holds no item."""

    items: LinkedItems = field(default_factory=LinkedItems)
    extent: ItemsExtent = field(default_factory=ItemsExtent)
    platforms: set[str] = field(default_factory=set)
    best: tuple[float, str, str] | None = None
    """The best-covered pair: its glacier valid fraction, id and thumbnail file."""

    def add(self, item: pystac.Item, directory: Path) -> None:
        """Take ``item`` into account and write it into ``directory``."""
        self.extent.add(item)
        glofnet = GlofnetExtension.ext(item)
        self.platforms.update(glofnet.platforms or [])
        candidate = (glofnet.glacier_valid_fraction or 0.0, item.id, item.assets["thumbnail"].href)
        if self.best is None or candidate[:2] > self.best[:2]:
            self.best = candidate
        self.items.add(item, directory)


def _assemble(
    content: CatalogContent,
    kept: _KeptPairs,
    skipped: list[dict[str, str]],
    cube: xr.Dataset,
    series: pd.DataFrame,
    grid: Grid,
    workdir: Path,
) -> pystac.Collection:
    max_gap = content.processing.harmonized.max_gap_days["itslive"]
    assert kept.best is not None
    collection = new_collection(
        content,
        "itslive",
        bbox=kept.extent.collection_bbox(),
        interval=(kept.extent.start, kept.extent.end),
        lineage=LINEAGE,
    )
    collection.item_assets = dict(ITEM_ASSETS)
    for extension in (ProjectionExtension, RasterExtension, FileExtension):
        extension.add_to(collection)
    collection.summaries.add("platform", sorted(kept.platforms))
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
        VELOCITY_CUBE.key,
        zarr_asset(
            workdir / f"{VELOCITY_CUBE.key}.zarr",
            title="Velocity cube (Zarr v2, consolidated)",
            description=(
                "v, vx, vy, v_error (m/yr) by mid_date, y, x; chunks: 16 x 16 pixels, up to 1024 dates."
            ),
        ),
        grid=grid,
        time_dimension=VELOCITY_CUBE.time,
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
        VELOCITY_DAILY.key,
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
    _, best_id, best_thumbnail = kept.best
    copy_thumbnail(Path(best_thumbnail), workdir / "thumbnail.png")
    add_thumbnail(
        collection,
        workdir / "thumbnail.png",
        "Speed thumbnail of the best-covered pair",
        f"{best_id}: v, 0-3000 m/yr, viridis.",
    )
    add_items(collection, kept.items)
    kept.items.close()
    return collection
