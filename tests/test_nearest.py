"""Nearest resampling through a cached source-pixel index: the same values as rasterio's warp."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.raster import nearest_source_index, reproject_onto, take_nearest
from stactools_glofnet.modis.process import source_mosaic, utm_grid


def _values(rng: np.random.Generator, grid: Grid) -> np.ndarray:
    values = rng.normal(270, 15, grid.shape).astype(np.float32)
    values[rng.random(grid.shape) < 0.3] = np.nan
    return values


def _granule_grids() -> list[tuple[Grid, Grid]]:
    """ITS_LIVE-like pairs: a 120 m granule crop onto the 120 m AOI lattice half a pixel away, and
    one from the neighbouring UTM zone."""
    target = Grid(CRS.from_epsg(32643), Affine(120, 0, 330000, 0, -120, 4040040), 110, 128)
    shifted = Grid(CRS.from_epsg(32643), Affine(120, 0, 329580, 0, -120, 4040520), 130, 140)
    zone44 = Grid(CRS.from_epsg(32644), Affine(120, 0, -213000, 0, -120, 4060000), 160, 190)
    return [(shifted, target), (zone44, target)]


def test_modis_mosaic_onto_utm_takes_the_warp_s_pixels(content: CatalogContent) -> None:
    """The build's MODIS grids with an exact transformation (``tolerance=0``): every day's values."""
    mosaic, _ = source_mosaic(content)
    target = utm_grid(content)
    rng = np.random.default_rng(7)
    index = nearest_source_index(mosaic, target, tolerance=0)
    assert not index.flags.writeable and (index >= 0).mean() > 0.99
    assert nearest_source_index(mosaic, target, tolerance=0) is index  # found once per pair of grids
    for _ in range(3):
        values = _values(rng, mosaic)
        expected = reproject_onto(values, mosaic, target, "nearest", tolerance=0)
        got = take_nearest(values, index)
        assert got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=True)


@pytest.mark.parametrize("pair", range(2))
def test_granule_grids_take_the_warp_s_pixels(pair: int) -> None:
    source, target = _granule_grids()[pair]
    values = _values(np.random.default_rng(pair), source)
    index = nearest_source_index(source, target)
    expected = reproject_onto(values, source, target, "nearest")
    got = take_nearest(values, index)
    assert np.isfinite(got).any() and np.array_equal(got, expected, equal_nan=True)
    assert (index >= 0).all() if pair == 0 else (index < 0).any()  # the other zone's crop ends
