"""The AOI grids every modality reads onto: Sentinel-2 10/20 m, ITS_LIVE 120 m, MODIS sinusoidal.

A grid is the AOI's bounding box, transformed into the grid's CRS and snapped outwards onto the
lattice a :class:`~stactools_glofnet.core.config.GridSpec` defines, so that pixels line up with
the source product's own pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from stactools_glofnet.core.config import BBox, GridSpec

WGS84 = CRS.from_epsg(4326)


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, affine transform and shape."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (self.height, self.width)

    @property
    def resolution(self) -> float:
        """Pixel size in CRS units."""
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        left, top = self.transform.c, self.transform.f
        return (left, top + self.height * self.transform.e, left + self.width * self.transform.a, top)

    def x_centres(self) -> NDArray[np.float64]:
        """The x coordinate of each column's pixel centre."""
        return np.asarray(
            self.transform.c + (np.arange(self.width) + 0.5) * self.transform.a, dtype=np.float64
        )

    def y_centres(self) -> NDArray[np.float64]:
        """The y coordinate of each row's pixel centre."""
        return np.asarray(
            self.transform.f + (np.arange(self.height) + 0.5) * self.transform.e, dtype=np.float64
        )

    def projection_fields(self) -> dict[str, Any]:
        """The projection-extension fields describing this grid (``proj:code`` or WKT2)."""
        epsg = self.crs.to_epsg()
        fields: dict[str, Any] = (
            {"proj:code": f"EPSG:{epsg}"} if epsg else {"proj:code": None, "proj:wkt2": self.crs.to_wkt()}
        )
        fields["proj:shape"] = [self.height, self.width]
        fields["proj:transform"] = list(self.transform)[:6]
        fields["proj:bbox"] = list(self.bounds)
        return fields

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used in the sample manifest and truth)."""
        return {
            "crs": self.crs.to_string(),
            "transform": list(self.transform)[:6],
            "shape": [self.height, self.width],
        }


def _snap_down(value: float, origin: float, step: float) -> float:
    return origin + math.floor(round((value - origin) / step, 9)) * step


def _snap_up(value: float, origin: float, step: float) -> float:
    return origin + math.ceil(round((value - origin) / step, 9)) * step


def snapped_grid(spec: GridSpec, bounds: tuple[float, float, float, float]) -> Grid:
    """The smallest grid on ``spec``'s lattice that covers ``bounds`` (in the spec's CRS)."""
    left, bottom, right, top = bounds
    x0, y0 = spec.origin
    step = spec.resolution
    left, right = _snap_down(left, x0, step), _snap_up(right, x0, step)
    bottom, top = _snap_down(bottom, y0, step), _snap_up(top, y0, step)
    width = round((right - left) / step)
    height = round((top - bottom) / step)
    return Grid(CRS.from_user_input(spec.crs), Affine(step, 0.0, left, 0.0, -step, top), width, height)


def aoi_grid(spec: GridSpec, aoi_bbox: BBox) -> Grid:
    """The grid on ``spec``'s lattice covering the AOI (given in WGS84)."""
    crs = CRS.from_user_input(spec.crs)
    bounds = transform_bounds(WGS84, crs, *aoi_bbox, densify_pts=51)
    return snapped_grid(spec, bounds)


@dataclass(frozen=True)
class TileWindow:
    """The part of one MODIS tile covering the AOI: tile id, pixel offsets and the grid."""

    tile: str
    row_off: int
    col_off: int
    grid: Grid


def tile_id(spec: GridSpec, x: float, y: float) -> str:
    """The ``hHHvVV`` id of the tile holding point (x, y) of a tiled grid (MODIS)."""
    if spec.tile_size is None:
        raise ValueError("grid has no tile_size")
    tile_metres = spec.tile_size * spec.resolution
    h = math.floor((x - spec.origin[0]) / tile_metres)
    v = math.floor((spec.origin[1] - y) / tile_metres)
    return f"h{h:02d}v{v:02d}"


def tile_windows(spec: GridSpec, aoi_bbox: BBox) -> list[TileWindow]:
    """The AOI grid split into the windows of ``spec.tiles`` it touches (MODIS h23v05, h24v05)."""
    return tile_windows_over(spec, aoi_grid(spec, aoi_bbox))


def tile_windows_over(spec: GridSpec, mosaic: Grid) -> list[TileWindow]:
    """``mosaic`` (a grid on ``spec``'s lattice) split into the windows of ``spec.tiles``."""
    if spec.tile_size is None:
        raise ValueError("grid has no tile_size")
    left, bottom, right, top = mosaic.bounds
    step = spec.resolution
    tile_metres = spec.tile_size * step
    windows = []
    for tile in spec.tiles:
        h, v = int(tile[1:3]), int(tile[4:6])
        t_left = spec.origin[0] + h * tile_metres
        t_top = spec.origin[1] - v * tile_metres
        w_left, w_right = max(left, t_left), min(right, t_left + tile_metres)
        w_top, w_bottom = min(top, t_top), max(bottom, t_top - tile_metres)
        if w_left >= w_right or w_bottom >= w_top:
            continue
        grid = snapped_grid(spec, (w_left, w_bottom, w_right, w_top))
        col_off = round((grid.transform.c - t_left) / step)
        row_off = round((t_top - grid.transform.f) / step)
        windows.append(TileWindow(tile, row_off, col_off, grid))
    return windows
