"""AOI grids line up with the source products' own pixels and cover the AOI."""

from __future__ import annotations

from rasterio.warp import transform

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.grids import aoi_grid, tile_id, tile_windows


def _aoi_corners(content: CatalogContent, crs: str) -> tuple[list[float], list[float]]:
    w, s, e, n = content.geometry.aoi.bbox
    xs, ys = transform("EPSG:4326", crs, [w, e, e, w], [s, s, n, n])
    return list(xs), list(ys)


def test_utm_grids_align_with_their_lattice_and_cover_the_aoi(content: CatalogContent) -> None:
    for name in ("sentinel2_10m", "sentinel2_20m", "itslive"):
        spec = content.processing.grids[name]
        grid = aoi_grid(spec, content.geometry.aoi.bbox)
        left, bottom, right, top = grid.bounds
        for edge, origin in ((left, spec.origin[0]), (top, spec.origin[1])):
            assert abs(((edge - origin) / spec.resolution) - round((edge - origin) / spec.resolution)) < 1e-9
        xs, ys = _aoi_corners(content, spec.crs)
        assert left <= min(xs) and max(xs) <= right and bottom <= min(ys) and max(ys) <= top
        # Snapped outwards by less than one pixel on each side.
        assert min(xs) - left < spec.resolution and top - max(ys) < spec.resolution
        assert grid.projection_fields()["proj:code"] == "EPSG:32643"


def test_sentinel2_grid_is_24_by_26_km(content: CatalogContent) -> None:
    grid = aoi_grid(content.processing.grids["sentinel2_10m"], content.geometry.aoi.bbox)
    height, width = grid.shape
    assert 2300 < width < 2500 and 2500 < height < 2650


def test_modis_tiles_split_the_aoi_at_the_h23_h24_boundary(content: CatalogContent) -> None:
    spec = content.processing.grids["modis"]
    # DOMAIN.md: the boundary lies at 74.496 E at 36.35 N.
    (x_west, x_east), (y_west, y_east) = transform("EPSG:4326", spec.crs, [74.490, 74.502], [36.35, 36.35])
    assert tile_id(spec, x_west, y_west) == "h23v05"
    assert tile_id(spec, x_east, y_east) == "h24v05"
    lake_x, lake_y = transform("EPSG:4326", spec.crs, [74.572267], [36.35594])
    assert tile_id(spec, lake_x[0], lake_y[0]) == "h24v05"
    windows = tile_windows(spec, content.geometry.aoi.bbox)
    assert [w.tile for w in windows] == ["h23v05", "h24v05"]
    mosaic = aoi_grid(spec, content.geometry.aoi.bbox)
    assert sum(w.grid.width for w in windows) == mosaic.width
    assert all(w.grid.height == mosaic.height for w in windows)
    h23, h24 = windows
    assert h23.col_off + h23.grid.width == spec.tile_size and h24.col_off == 0
    assert 0 <= h23.row_off < 1200 - h23.grid.height
