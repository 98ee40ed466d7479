"""Quality filtering of one granule and its clip to the AOI's 120 m grid.

Rules and thresholds come from ``catalog/processing.toml`` ``[itslive]``. Every pixel rule counts
what it removed; a granule that breaks a granule rule is returned as :class:`Skipped` with the
reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from rasterio.warp import transform_bounds

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.grids import Grid, aoi_grid
from stactools_glofnet.core.raster import nearest_source_index, polygon_mask, take_nearest
from stactools_glofnet.core.wing import SkipKind
from stactools_glofnet.itslive.names import VELOCITY_VARIABLES
from stactools_glofnet.itslive.read import Float32, Granule


@dataclass
class FilteredGranule:
    """A granule after quality filtering, on the AOI grid."""

    granule: Granule
    grid: Grid
    velocity: dict[str, Float32]
    removed: dict[str, int]
    glacier_valid_fraction: float
    glacier_mean: float
    glacier_p90: float


@dataclass(frozen=True)
class Skipped:
    """A granule left out, and why: ``quality`` (a QC rule), or an ``input`` that cannot be used."""

    granule: Granule
    reason: str
    kind: SkipKind = "quality"


def target_grid(content: CatalogContent) -> Grid:
    """The AOI on the ITS_LIVE 120 m lattice."""
    return aoi_grid(content.processing.grids["itslive"], content.geometry.aoi.bbox)


def glacier_mask(content: CatalogContent, grid: Grid) -> NDArray[np.bool_]:
    """Pixels of ``grid`` on the glacier trunk of catalog/geometry.toml (where statistics are taken)."""
    return polygon_mask(grid, content.geometry.trunk.polygon)


def local_median(values: Float32, window: int) -> Float32:
    """The median of the finite values in the ``window`` x ``window`` neighbourhood of each pixel
    (NaN where there are none): ``np.nanmedian`` over the windows, taken by sorting each window
    once (NaN sort last) instead of through masked arrays, ~5x faster on a granule's AOI."""
    pad = window // 2
    padded = np.pad(values, pad, mode="constant", constant_values=np.nan)
    windows = sliding_window_view(padded, (window, window)).reshape(*values.shape, window * window)
    ordered = np.sort(windows, axis=-1)
    count = np.count_nonzero(~np.isnan(ordered), axis=-1)[..., None]
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0) // 2, axis=-1)[..., 0]
    high = np.take_along_axis(ordered, count // 2, axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):  # the two middle values' mean, in float32 as nanmedian takes it
        median = (low + high) / np.float32(2)
    return np.where(count[..., 0] > 0, median, np.float32(np.nan)).astype(np.float32, copy=False)


def _crop(
    granule: Granule, grid: Grid, pad: int
) -> tuple[dict[str, Float32], NDArray[np.bool_], Grid] | None:
    """The granule's pixels over ``grid`` (plus ``pad`` pixels), so filtering costs scale with the AOI."""
    left, bottom, right, top = transform_bounds(grid.crs, granule.crs, *grid.bounds)
    t = granule.grid.transform
    col0 = max(0, int(np.floor((left - t.c) / t.a)) - pad)
    col1 = min(granule.grid.width, int(np.ceil((right - t.c) / t.a)) + pad)
    row0 = max(0, int(np.floor((top - t.f) / t.e)) - pad)
    row1 = min(granule.grid.height, int(np.ceil((bottom - t.f) / t.e)) + pad)
    if col1 <= col0 or row1 <= row0:
        return None
    window = (slice(row0, row1), slice(col0, col1))
    velocity = {name: values[window] for name, values in granule.velocity.items()}
    cropped = Grid(granule.crs, t @ Affine.translation(col0, row0), col1 - col0, row1 - row0)
    return velocity, granule.interpolated[window], cropped


def filter_granule(granule: Granule, content: CatalogContent) -> FilteredGranule | Skipped:
    """Apply every pixel and granule rule; clip to the AOI grid."""
    params = content.processing.itslive
    low, high = params.date_dt_days[granule.group]
    if not low <= granule.date_dt_days <= high:
        return Skipped(
            granule,
            f"date separation {granule.date_dt_days:.1f} d outside [{low}, {high}] for {granule.group}",
        )
    if not np.isfinite(granule.velocity["v"]).any():
        return Skipped(
            granule, f"no valid velocity pixels (roi_valid_percentage {granule.valid_percentage:g})"
        )
    grid = target_grid(content)
    cropped = _crop(granule, grid, params.outlier_window)
    if cropped is None:
        return Skipped(granule, "outside the AOI: the granule does not intersect it", kind="input")
    source_velocity, interpolated, source_grid = cropped
    v = source_velocity["v"].copy()
    error = source_velocity["v_error"]
    valid = np.isfinite(v)
    removed = {"no_data": int((~valid).sum())}
    rules: list[tuple[str, NDArray[np.bool_]]] = []
    if params.drop_interpolated:
        rules.append(("interpolated", interpolated))
    rules.append(("v_error", error > params.max_v_error_m_per_yr))
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = (v > params.min_speed_for_relative_error) & (error / v > params.max_relative_error)
    rules.append(("relative_error", relative))
    for name, bad in rules:
        hit = valid & bad
        removed[name] = int(hit.sum())
        valid &= ~hit
    v[~valid] = np.nan
    median = local_median(v, params.outlier_window)
    with np.errstate(invalid="ignore"):
        outlier = valid & (
            np.abs(v - median) > np.maximum(params.outlier_min_m_per_yr, params.outlier_relative * median)
        )
    removed["outlier"] = int(outlier.sum())
    valid &= ~outlier
    velocity: dict[str, Float32] = {}
    nearest = nearest_source_index(source_grid, grid)  # one warp for every variable
    for name in VELOCITY_VARIABLES:
        values = source_velocity[name].copy()
        values[~valid] = np.nan
        velocity[name] = take_nearest(values, nearest).astype(np.float32, copy=False)
    glacier = glacier_mask(content, grid)
    on_glacier = velocity["v"][glacier]
    fraction = float(np.isfinite(on_glacier).mean()) if on_glacier.size else 0.0
    if fraction < params.min_glacier_valid_fraction:
        return Skipped(
            granule,
            f"{100 * fraction:.1f} % of glacier pixels valid after filtering,"
            f" below min_glacier_valid_fraction {params.min_glacier_valid_fraction}",
        )
    measured = on_glacier[np.isfinite(on_glacier)]
    if measured.size == 0:
        return Skipped(granule, "no valid pixels on the glacier trunk after filtering")
    return FilteredGranule(
        granule=granule,
        grid=grid,
        velocity=velocity,
        removed=removed,
        glacier_valid_fraction=fraction,
        glacier_mean=float(measured.mean()),
        glacier_p90=float(np.percentile(measured, 90)),
    )
