"""The ``glofnet-harmonized`` collection: the daily table, the grid cube, one item per split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import pandas as pd
import pystac
from pystac.extensions.table import Column, TableExtension

from stactools_glofnet.core.assets import (
    add_cube_asset,
    add_figure_asset,
    add_table_asset,
    file_asset,
    zarr_asset,
)
from stactools_glofnet.core.config import CatalogContent, SplitName
from stactools_glofnet.core.constants import PARQUET
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension, class_balance, declared_grid
from stactools_glofnet.core.preview import add_thumbnail, image_thumbnail
from stactools_glofnet.core.series import FLAG_MEANINGS
from stactools_glofnet.core.stac import add_items, day_end, day_start, footprint, link_sources, new_collection
from stactools_glofnet.core.wing import BuildOptions, WingInputs
from stactools_glofnet.harmonized.cube import FILLED, VARIABLES, GridCube, grid_cube
from stactools_glofnet.harmonized.figure import multimodal_figure
from stactools_glofnet.harmonized.inputs import NEEDED, harmonization_inputs
from stactools_glofnet.harmonized.table import COLUMNS, DailyTable, daily_table

logger = logging.getLogger(__name__)

LINEAGE = (
    "Daily harmonization of glofnet-sentinel2 (lake area; NDWI water and clear fractions averaged "
    "onto the target grid), glofnet-itslive (glacier speed series and velocity cube) and "
    "glofnet-modis-lst (trunk LST series; LST cube, nearest pixel) on one UTC-day axis and the "
    "declared target grid; gaps filled linearly up to the per-modality maximum and flagged; "
    "labels, days to the next outburst and splits from glofnet-events and catalog/splits.toml; "
    "cyclical encodings; z-score normalization with train-split statistics."
)
TABLE_FLAG_COLUMNS = [c for c in COLUMNS if c.endswith("_flag")]


def _write_tables(table: DailyTable, workdir: Path) -> dict[str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {"all": workdir / "harmonized_daily.parquet"}
    table.frame.to_parquet(paths["all"], index=False, engine="pyarrow", compression="zstd")
    for split in ("train", "validate", "test"):
        rows = table.frame[(table.frame["split"] == split).fillna(False).to_numpy()]
        if len(rows):
            paths[split] = workdir / split / f"harmonized_daily_{split}.parquet"
            paths[split].parent.mkdir(parents=True, exist_ok=True)
            rows.to_parquet(paths[split], index=False, engine="pyarrow", compression="zstd")
    return paths


def _cube_asset(cube: GridCube, content: CatalogContent, collection: pystac.Collection) -> pystac.Asset:
    asset = zarr_asset(
        cube.path,
        title="Harmonized daily cube (Zarr v2, consolidated)",
        description=(
            "Velocity, LST day/night and Sentinel-2 water and clear fractions by time, y, x on the target "
            "grid, with measured/interpolated/missing flags, cyclical encodings, labels and splits per day."
        ),
    )
    variables = dict(VARIABLES) | {
        f"{name}_flag": ("1", f"0 missing, 1 measured, 2 interpolated ({name})") for name in FILLED
    }
    add_cube_asset(
        collection,
        "cube",
        asset,
        grid=cube.grid,
        time_dimension="time",
        time_description="UTC day",
        times=cube.times,
        variables=variables,
        per_time={
            "label": "1 = GLOF, 0 = no GLOF",
            "days_to_next_glof": "Days until the next labelled outburst; NaN after the last",
            "split": "train, validate or test; empty inside a buffer",
            **{
                e["columns"][part]: f"{part}(2 pi ({e['source']} - {e['offset']}) / {e['period']})"
                for e in cube.encodings
                for part in ("sin", "cos")
            },
        },
    )
    GlofnetExtension.ext(asset).normalization = cube.normalization
    return asset


def _split_item(
    split: SplitName,
    content: CatalogContent,
    table: DailyTable,
    table_path: Path,
    cube: GridCube,
) -> pystac.Item:
    rows = table.frame[(table.frame["split"] == split).fillna(False).to_numpy()]
    first, last = rows["date"].min(), rows["date"].max()
    geometry, bbox = footprint(cube.grid)
    item = pystac.Item(
        id=f"glofnet-harmonized-{split}",
        geometry=geometry,
        bbox=bbox,
        datetime=day_start(first + (last - first) / 2),  # the nominal (centre) day
        properties={},
        start_datetime=day_start(first),
        end_datetime=day_end(last),
    )
    item.common_metadata.title = f"Harmonized {split} split, {first} to {last}"
    item.common_metadata.description = (
        f"The {split} block of the harmonized daily table as its own Parquet file; the {split} days of "
        "the collection's cube are its time range (start_datetime to end_datetime)."
    )
    definition = pystac.ItemAssetDefinition.create(
        title=f"Harmonized daily table, {split} rows",
        description=f"The rows of harmonized_daily.parquet whose split is {split}.",
        media_type=PARQUET,
        roles=["data"],
    )
    table_asset = file_asset(definition, table_path)
    item.add_asset("table", table_asset)
    table_ext = TableExtension.ext(table_asset, add_if_missing=True)
    table_ext.columns = [Column({"name": name, "description": text}) for name, text in table.columns.items()]
    table_ext.row_count = len(rows)
    chart = table_path.parent / "chart.png"
    multimodal_figure(rows, content, chart)
    image_thumbnail(chart, table_path.parent / "thumbnail.png")
    chart.unlink()
    add_thumbnail(
        item,
        table_path.parent / "thumbnail.png",
        f"{split} split chart",
        f"Lake area, glacier speed and trunk LST of the {split} days (a chart, not imagery).",
    )
    glofnet = GlofnetExtension.ext(item, add_if_missing=True)
    glofnet.modality = "harmonized"
    glofnet.split = split
    glofnet.class_balance = {split: class_balance([(split, bool(v)) for v in rows["label"]])[split]}
    return item


def create_collection(wing_inputs: WingInputs, workdir: Path, options: BuildOptions) -> pystac.Collection:
    """The harmonized front door: the Sentinel-2, ITS_LIVE and MODIS collections into ``glofnet-harmonized``.

    Files are written in ``workdir``; ``derived_from`` links to the input collections are added
    only when those are published beside it.
    """
    content = options.content
    inputs = harmonization_inputs(wing_inputs.collections)
    if inputs is None:
        missing = [m for m in NEEDED if m not in wing_inputs.collections]
        raise GlofnetError("glofnet-harmonized", f"needs the {', '.join(missing)} collection(s)")
    table = daily_table(content, inputs, options.normalization)
    paths = _write_tables(table, workdir)
    days = pd.DatetimeIndex(pd.to_datetime(table.frame["date"]))
    cube = grid_cube(content, inputs, days, workdir, options)
    multimodal_figure(table.frame, content, workdir / "harmonized_daily.png")
    _, bbox = footprint(cube.grid)
    collection = new_collection(
        content,
        "harmonized",
        bbox=bbox,
        interval=(day_start(days[0].date()), day_end(days[-1].date())),
        lineage=LINEAGE,
        level="L3",
    )
    params = content.processing.harmonized
    glofnet = GlofnetExtension.ext(collection, add_if_missing=True)
    glofnet.grid = declared_grid(
        content.processing.target.grid, content.processing.grids[content.processing.target.grid], cube.grid
    )
    glofnet.time_step = content.processing.time_step
    glofnet.resampling = params.resampling.model_dump()
    glofnet.interpolation = {
        "method": params.interpolation,
        "max_gap_days": {
            **{name: params.max_gap_days[modality] for name, modality in FILLED.items()},
            "lake_area_km2": params.max_gap_days["sentinel2"],
            "glacier_mean_m_per_yr": params.max_gap_days["itslive"],
            "glacier_p90_m_per_yr": params.max_gap_days["itslive"],
            "lst_day_k": params.max_gap_days["modis"],
            "lst_night_k": params.max_gap_days["modis"],
        },
        "flag_values": dict(FLAG_MEANINGS),
    }
    glofnet.normalization = table.normalization
    glofnet.cyclical_encodings = table.encodings
    collection.summaries.add(
        GlofnetExtension.split.key, [s for s in ("train", "validate", "test") if s in paths]
    )
    glofnet.class_balance = class_balance(
        [
            (cast(SplitName, split) if isinstance(split, str) else None, bool(label))  # pd.NA: a buffer
            for split, label in zip(table.frame["split"], table.frame["label"], strict=True)
        ]
    )
    add_table_asset(
        collection,
        "table",
        paths["all"],
        title="Harmonized daily table",
        description="One row per day: each modality's daily aggregates, flags, encodings, labels, splits.",
        columns=table.columns,
        row_count=len(table.frame),
    )
    GlofnetExtension.ext(collection.assets["table"]).normalization = table.normalization
    _cube_asset(cube, content, collection)
    add_figure_asset(
        collection,
        "figure",
        workdir / "harmonized_daily.png",
        title="Multimodal figure",
        description="Lake area, glacier speed and LST on one time axis with the outbursts and split blocks.",
    )
    image_thumbnail(workdir / "harmonized_daily.png", workdir / "thumbnail.png")
    add_thumbnail(
        collection,
        workdir / "thumbnail.png",
        "Multimodal chart thumbnail",
        "The multimodal figure, shrunk: lake area, glacier speed and LST with outbursts and splits.",
    )
    if wing_inputs.collections_published:
        link_sources(collection, inputs.collections.values())
    add_items(
        collection,
        [_split_item(s, content, table, paths[s], cube) for s in ("train", "validate", "test") if s in paths],
    )
    return collection
