"""Sentinel-2 L2A bands and scene-classification (SCL) classes, as Earth Search names them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Band:
    """One MSI band: Earth Search asset key, band id, common name, wavelength, native GSD."""

    key: str
    band_id: str
    center_wavelength_um: float
    full_width_half_max_um: float
    gsd: int


BANDS: Final = (
    Band("blue", "B02", 0.4966, 0.098, 10),
    Band("green", "B03", 0.560, 0.045, 10),
    Band("red", "B04", 0.6645, 0.038, 10),
    Band("nir", "B08", 0.8351, 0.145, 10),
    Band("swir16", "B11", 1.6137, 0.143, 20),
    Band("swir22", "B12", 2.2024, 0.242, 20),
)
BAND_BY_KEY: Final = {band.key: band for band in BANDS}
SCL_KEY: Final = "scl"
SCL_GSD: Final = 20

SCL_CLASSES: Final = (
    (0, "no_data", "No data", "000000"),
    (1, "saturated_defective", "Saturated or defective", "ff0000"),
    (2, "dark_area", "Dark area or topographic shadow", "2f2f2f"),
    (3, "cloud_shadow", "Cloud shadow", "643200"),
    (4, "vegetation", "Vegetation", "00a000"),
    (5, "not_vegetated", "Bare soil, not vegetated", "ffe65a"),
    (6, "water", "Water", "0000ff"),
    (7, "unclassified", "Unclassified (cloud low probability)", "808080"),
    (8, "cloud_medium_probability", "Cloud, medium probability", "c0c0c0"),
    (9, "cloud_high_probability", "Cloud, high probability", "ffffff"),
    (10, "thin_cirrus", "Thin cirrus", "64c8ff"),
    (11, "snow_ice", "Snow or ice", "ff96ff"),
)

# Baseline 04.00 (from 2022-01-25) adds BOA_ADD_OFFSET = -1000 to the DN (DOMAIN.md §4).
QUANTIFICATION: Final = 10000.0
BOA_OFFSET_BASELINE: Final = (4, 0)
BOA_ADD_OFFSET: Final = -1000.0
