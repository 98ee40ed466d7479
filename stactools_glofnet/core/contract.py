"""What the modality wings publish for the harmonized products, declared once.

The harmonized wing reads the other wings' outputs, never their code: these names are the
interface. Each wing writes the assets, columns and variables below (a test checks every built
collection against them) and the harmonized wing reads them by these names only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class TableOutput:
    """A collection's Parquet asset and the columns other wings read from it."""

    key: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class CubeOutput:
    """A collection's Zarr cube asset: its time dimension and the variables other wings read."""

    key: str
    time: str
    variables: tuple[str, ...]


LAKE_AREA: Final = TableOutput(
    "lake_area", ("scene_id", "datetime", "status", "quality", "lake_masked_fraction", "lake_area_km2")
)
"""Sentinel-2: one row per scene (kept or skipped) with its lake area and quality."""
NDWI: Final = "ndwi"
"""Sentinel-2 item asset: NDWI on the 10 m grid (NaN where masked)."""
CLOUD_MASK: Final = "cloud_mask"
"""Sentinel-2 item asset: 1 where masked."""
WATER_THRESHOLD: Final = "water_threshold"
"""Key of the Sentinel-2 collection's QC rules: the NDWI above which a clear pixel is water."""

VELOCITY_DAILY: Final = TableOutput(
    "velocity_daily", ("date", "glacier_mean_m_per_yr", "glacier_p90_m_per_yr", "flag")
)
"""ITS_LIVE: the daily glacier speed series with its measured / interpolated / missing flag."""
VELOCITY_CUBE: Final = CubeOutput("velocity_cube", "mid_date", ("v",))
"""ITS_LIVE: speed by image-pair centre date on the collection's glofnet:grid."""

LST_DAILY: Final = TableOutput(
    "lst_daily",
    ("date", "lst_day_k", "lst_day_flag", "lst_night_k", "lst_night_flag", "trunk_coverage_day"),
)
"""MODIS: the daily trunk LST series with flags and coverage."""
LST_CUBE: Final = CubeOutput("lst_cube", "time", ("LST_Day", "LST_Night"))
"""MODIS: daily LST on the collection's glofnet:grid."""
