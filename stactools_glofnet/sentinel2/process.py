"""Preprocessing of one scene: AOI clip, resampling to 10 m, cloud mask, indices, lake area."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid, aoi_grid
from stactools_glofnet.core.raster import intersect, polygon_mask
from stactools_glofnet.core.wing import SkipKind
from stactools_glofnet.sentinel2.bands import BANDS, SCL_KEY
from stactools_glofnet.sentinel2.radiometry import Radiometry, Verdict, settle
from stactools_glofnet.sentinel2.read import SourceScene, file_bounds, own_grid, read_dn, read_reflectance

Float32 = NDArray[np.float32]
LAKE_QUALITY = ("clear", "partly_cloudy", "cloudy", "outside")


@dataclass
class ProcessedScene:
    """A scene clipped to the AOI on the 10 m grid, masked, with indices and lake statistics."""

    source: SourceScene
    grid: Grid
    reflectance: dict[str, Float32]
    scl: NDArray[np.uint8]
    masked: NDArray[np.bool_]
    indices: dict[str, Float32]
    cloud_fraction: float
    snow_ice_fraction: float
    lake_masked_fraction: float
    lake_quality: str
    lake_water_pixels: int
    lake_area_km2: float | None
    radiometry: Radiometry
    verdict: Verdict
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """A scene left out, and why: an ``input`` that cannot be used, or ``quality`` (too cloudy)."""

    source: SourceScene
    reason: str
    cloud_fraction: float | None
    kind: SkipKind = "quality"


def scene_grid(scene: SourceScene, content: CatalogContent) -> Grid | None:
    """The AOI's 10 m grid clipped to the scene (None outside the AOI); the bands must agree.

    The scene's extent is the one most band files share; a file covering another area is named.
    """
    target = aoi_grid(content.processing.grids["sentinel2_10m"], content.geometry.aoi.bbox)
    keys = [band.key for band in BANDS] + [SCL_KEY]
    bounds = {key: file_bounds(scene, key, target.crs) for key in keys}
    pixel = {key: abs(own_grid(scene, key).transform.a) for key in keys}
    tolerance = max(pixel.values())

    def agreeing(reference: tuple[float, ...]) -> list[str]:
        return [
            k for k in keys if max(abs(a - b) for a, b in zip(bounds[k], reference, strict=True)) <= tolerance
        ]

    most_shared = max(keys, key=lambda k: (len(agreeing(bounds[k])), -keys.index(k)))
    reference = bounds[most_shared]
    for key in keys:
        if key not in agreeing(reference):
            shape = own_grid(scene, key).shape
            raise GlofnetError(
                scene.asset(key).href,
                f"band {key!r} ({shape[0]}x{shape[1]} px) covers {_rounded(bounds[key])},"
                f" but the scene's other bands cover {_rounded(reference)}",
            )
    return intersect(target, reference)


def _rounded(bounds: tuple[float, ...]) -> list[float]:
    return [round(v, 1) for v in bounds]


def _covers_lake(grid: Grid, content: CatalogContent) -> bool:
    """Whether the whole lake basin lies inside ``grid``."""
    west, south, east, north = transform_bounds("EPSG:4326", grid.crs, *content.geometry.lake.bbox)
    left, bottom, right, top = grid.bounds
    return bool(left <= west and east <= right and bottom <= south and north <= top)


def _ratio(a: Float32, b: Float32) -> Float32:
    with np.errstate(divide="ignore", invalid="ignore"):
        result: Float32 = ((a - b) / (a + b)).astype(np.float32)
    return result


def _reflectance(scene: SourceScene, grid: Grid, resampling: Resampling) -> dict[str, Float32]:
    """The six bands' reflectance on ``grid`` (10 m bands nearest, 20 m ones by ``resampling``)."""
    return {
        band.key: read_reflectance(
            scene, band.key, grid, Resampling.nearest if band.gsd == 10 else resampling
        )
        for band in BANDS
    }


def process_scene(scene: SourceScene, content: CatalogContent) -> ProcessedScene | Skipped:
    """Clip, resample, mask and measure one scene; a scene too cloudy to use is Skipped."""
    params = content.processing.sentinel2
    grid = scene_grid(scene, content)
    if grid is None:
        aoi = content.geometry.aoi.bbox
        return Skipped(scene, f"outside the AOI: the scene does not overlap {list(aoi)}", None, kind="input")
    scl = read_dn(scene, SCL_KEY, grid, Resampling.nearest)[0].astype(np.uint8)
    masked = np.isin(scl, params.cloud_mask_classes)
    cloud_fraction = float(masked.mean())  # before band nodata is added: what SCL calls unusable
    if cloud_fraction >= 1.0 or cloud_fraction > params.max_aoi_cloud_fraction:
        reason = (
            "100 % of the AOI is cloud or no data"
            if cloud_fraction >= 1.0
            else f"AOI cloud fraction {cloud_fraction:.3f} exceeds"
            f" max_aoi_cloud_fraction {params.max_aoi_cloud_fraction}"
        )
        return Skipped(scene, reason, cloud_fraction)
    resampling = Resampling[params.reflectance_resampling]
    reflectance = _reflectance(scene, grid, resampling)
    # A pixel any band has no data for is as unusable as a cloudy one.
    for values in reflectance.values():
        masked |= np.isnan(values)
    if masked.all():
        return Skipped(scene, "no pixel of the AOI is both clear and valid in all six bands", cloud_fraction)
    settled = settle(
        scene.radiometry, reflectance, ~masked, params.radiometric_check, offset_exists=scene.offset_exists
    )
    if isinstance(settled, str):
        return Skipped(scene, settled, cloud_fraction)
    radiometry, verdict = settled
    if radiometry != scene.radiometry:  # corrected: read again with the rule that passed
        reflectance = _reflectance(replace(scene, radiometry=radiometry), grid, resampling)
    for values in reflectance.values():
        values[masked] = np.nan
    ndwi = _ratio(reflectance["green"], reflectance["nir"])
    mndwi = _ratio(reflectance["green"], reflectance["swir16"])
    indices = {"ndwi": ndwi, "mndwi": mndwi, "ndsi": mndwi}
    water = ndwi > params.water_threshold
    snow_ice = (mndwi > params.snow_threshold) & ~water
    clear = ~masked
    basin = polygon_mask(grid, content.geometry.lake.polygon)
    lake_masked = float(masked[basin].mean()) if basin.any() else 1.0
    pixel_km2 = abs(grid.transform.a * grid.transform.e) / 1e6
    water_pixels = int((water & basin & clear).sum())
    if not _covers_lake(grid, content):
        quality, area = "outside", None
    elif lake_masked == 0:
        quality, area = "clear", water_pixels * pixel_km2
    elif lake_masked <= params.max_lake_cloud_fraction:
        quality, area = "partly_cloudy", water_pixels * pixel_km2
    else:
        quality, area = "cloudy", None
    return ProcessedScene(
        source=scene,
        grid=grid,
        reflectance=reflectance,
        scl=scl,
        masked=masked,
        indices=indices,
        cloud_fraction=cloud_fraction,
        snow_ice_fraction=float(snow_ice[clear].mean()) if clear.any() else 0.0,
        lake_masked_fraction=lake_masked,
        lake_quality=quality,
        lake_water_pixels=water_pixels,
        lake_area_km2=None if area is None else round(area, 6),
        radiometry=radiometry,
        verdict=verdict,
    )
