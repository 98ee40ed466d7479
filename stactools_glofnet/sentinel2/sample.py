"""Synthetic Sentinel-2 L2A scenes over the lake, written the way the providers publish them.

Each scene is ``sentinel2/<item-id>/<item-id>.json`` beside one COG per band (uint16 DN, 10 m or
20 m) and the SCL (20 m), in one of the provider forms of :mod:`.sample_items`: mostly Earth
Search v1 (harmonized DN from baseline 04.00 on, flag true; one scene mis-flagged false, as
earth-search#66 reports), some Earth Search v0 and some Planetary Computer (ESA's DN). The
landscape: the lake basin filled to the time line's area (water fills the basin from its deepest
part), ice in the rest of the basin and on the glacier tongue east of it, bedrock elsewhere,
seasonal snow, and clouds with cirrus edges and offset shadows. Clouds are drawn on the 20 m grid
so the SCL and the 10 m truth agree. The truth (per scene: planted lake area, cloud and snow
fractions, and a 10 m truth raster of masked / water / snow-ice pixels) goes into truth.json and
``truth/sentinel2/``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.warp import transform_bounds

from stactools_glofnet.core.files import write_json
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.progress import progress
from stactools_glofnet.core.raster import polygon_mask, refine, smooth_noise, write_cog
from stactools_glofnet.sample.framework import SampleContext, last_fraction
from stactools_glofnet.sentinel2.bands import BANDS, QUANTIFICATION, SCL_KEY
from stactools_glofnet.sentinel2.sample_items import SceneForm, SceneNames, band_files, item_document

# Surface classes, their reflectance (bands in BANDS order), noise and SCL code.
ROCK, ICE, SNOW, WATER = 0, 1, 2, 3
REFLECTANCE = np.array(
    [
        (0.10, 0.12, 0.14, 0.20, 0.26, 0.22),  # bedrock and debris
        (0.75, 0.73, 0.70, 0.62, 0.12, 0.04),  # glacier ice: bright, NDWI below 0.1, dark at 2.2 um
        (0.90, 0.89, 0.87, 0.80, 0.08, 0.03),  # snow
        (0.06, 0.07, 0.05, 0.02, 0.012, 0.008),  # lake water: NDWI about 0.55
    ],
    dtype=np.float32,
)
NOISE = np.array([0.004, 0.004, 0.004, 0.002], dtype=np.float32)
SCL_CODE = np.array([5, 11, 11, 6], dtype=np.uint8)
CLOUD_REFLECTANCE = np.array([0.65, 0.64, 0.63, 0.62, 0.45, 0.35], dtype=np.float32)
SHADOW_SHIFT_PX20 = (14, 9)
TRUTH_MASKED, TRUTH_WATER, TRUTH_SNOW_ICE = 1, 2, 4
BASELINE_04 = dt.date(2022, 1, 25)


def processing_baseline(day: dt.date) -> str:
    """The processing baseline Earth Search items carry for a date."""
    if day >= dt.date(2023, 1, 1):
        return "05.09"
    if day >= BASELINE_04:
        return "04.00"
    return "03.01" if day >= dt.date(2021, 1, 1) else "02.14"


# The real acquisitions over tile 43SDA (relative orbit R005), for the glofnet size: Sentinel-2A
# every 10 days from its first scene; from when Sentinel-2B (launched 2017-03-07) acquires, 2B
# 5 days after each 2A scene, so one scene every 5 days. 2A keeps its 10-day lattice, so the
# 5-day scenes start on the first lattice day from S2B_FROM (2017-03-30, a 2B day) and the
# platform follows from the date.
S2A_FIRST = dt.date(2015, 7, 4)
S2B_FROM = dt.date(2017, 3, 28)
S2A_REPEAT_DAYS = 10
S2_REVISIT_DAYS = 5


def satellite_on(day: dt.date) -> str:
    """The satellite (S2A or S2B) that images 43SDA on an archive day of :func:`archive_days`."""
    return "S2A" if (day - S2A_FIRST).days % S2A_REPEAT_DAYS == 0 else "S2B"


def archive_days(end: dt.date) -> list[dt.date]:
    """Every Sentinel-2 acquisition day over 43SDA from the first to ``end``."""
    days = []
    day = S2A_FIRST
    while day <= end:
        if day >= S2B_FROM or satellite_on(day) == "S2A":
            days.append(day)
        day += dt.timedelta(days=S2_REVISIT_DAYS)
    return days


def scene_schedule(ctx: SampleContext) -> list[tuple[dt.date, float]]:
    """(date, target cloud fraction) of every scene: around each drainage, winters, cloudy days."""
    rng = ctx.rng("sentinel2.schedule")
    if ctx.size.name == "glofnet":
        # Every archive scene, with the full size's cloud draw; then the last fraction of them.
        drawn = [
            (day, float(rng.choice([0.0, 0.05, 0.2, 0.5, 0.95], p=[0.3, 0.3, 0.2, 0.15, 0.05])))
            for day in archive_days(ctx.size.end)
        ]
        kept = last_fraction(drawn, lambda scene: scene[0], ctx.size.fraction)
        return [scene for scene in kept if scene[0] >= ctx.size.start]
    scenes: dict[dt.date, float] = {}
    span = (ctx.size.start, ctx.size.end)
    step = 30 if ctx.size.name == "full" else None
    if step is None:
        for drainage in ctx.content.events.drainages:
            # Clear skies just before and after each drainage, so the drop is always observed.
            for offset, cloud in ((-25, None), (-6, 0.0), (3, 0.0), (21, None)):
                when = drainage.drainage_date + dt.timedelta(days=offset)
                scenes[when] = float(rng.choice([0.0, 0.05, 0.15])) if cloud is None else cloud
        for year in range(span[0].year, span[1].year + 1):
            scenes[dt.date(year, 1, 20)] = float(rng.uniform(0.05, 0.3))
        scenes[dt.date(2022, 2, 15)] = 0.1
        scenes[dt.date(2020, 7, 15)] = 1.0  # overcast: must be skipped and recorded
        scenes[dt.date(2021, 8, 10)] = 0.9  # above the AOI cloud threshold
    else:
        day = max(span[0], dt.date(2017, 3, 28))
        while day <= span[1]:
            scenes[day] = float(rng.choice([0.0, 0.05, 0.2, 0.5, 0.95], p=[0.3, 0.3, 0.2, 0.15, 0.05]))
            day += dt.timedelta(days=step)
    return sorted((d, c) for d, c in scenes.items() if span[0] <= d <= span[1])


class Landscape:
    """The static surface on the 10 m grid: basin fill order, glacier ice, bedrock."""

    def __init__(self, ctx: SampleContext, grid10: Grid) -> None:
        """Rasterize the lake basin and lay out the glacier tongue beside it."""
        self.grid = grid10
        geometry = ctx.content.geometry
        self.basin = polygon_mask(grid10, geometry.lake.polygon)
        rows, cols = np.indices(grid10.shape)
        xs = grid10.transform.c + (cols + 0.5) * grid10.transform.a
        ys = grid10.transform.f + (rows + 0.5) * grid10.transform.e
        lake_bounds = transform_bounds("EPSG:4326", grid10.crs, *geometry.lake.bbox)
        cx, cy = (lake_bounds[0] + lake_bounds[2]) / 2, (lake_bounds[1] + lake_bounds[3]) / 2
        # The basin fills from its eastern end (against the ice dam) westwards.
        half_x, half_y = (lake_bounds[2] - lake_bounds[0]) / 2, (lake_bounds[3] - lake_bounds[1]) / 2
        depth = np.hypot((xs - (cx + 0.6 * half_x)) / half_x, (ys - cy) / half_y)
        self.fill_order = np.argsort(np.where(self.basin, depth, np.inf), axis=None, kind="stable")
        self.basin_pixels = int(self.basin.sum())
        # Shisper's ice: a tongue along the basin's eastern shore and down-valley.
        self.glacier = ((xs > lake_bounds[2] - 60) & (xs < lake_bounds[2] + 900)) & ~self.basin
        self.pixel_area_km2 = abs(grid10.transform.a * grid10.transform.e) / 1e6

    def water(self, area_km2: float) -> NDArray[np.bool_]:
        """The water pixels of a lake of ``area_km2``."""
        count = min(self.basin_pixels, round(area_km2 / self.pixel_area_km2))
        water = np.zeros(self.grid.shape, dtype=bool)
        water.flat[self.fill_order[:count]] = True
        return water


def _snow_fraction(day: dt.date) -> float:
    """Seasonal snow on bedrock: most in mid-winter, none from June to September."""
    doy = day.timetuple().tm_yday
    return float(np.clip(0.5 + 0.5 * np.cos(2 * np.pi * (doy - 20) / 365.25), 0, 1) ** 2)


def _clouds(rng: np.random.Generator, grid20: Grid, fraction: float) -> NDArray[np.uint8]:
    """SCL cloud codes on the 20 m grid (0 = clear) for a target cloud fraction."""
    codes = np.zeros(grid20.shape, dtype=np.uint8)
    if fraction <= 0:
        return codes
    if fraction >= 1:
        codes[:] = 9
        return codes
    field = smooth_noise(rng, grid20.shape, 24)
    threshold = np.quantile(field, 1 - fraction)
    cloud = field > threshold
    codes[cloud] = 8
    codes[field > threshold + 0.6] = 9
    cirrus = (field > threshold - 0.1) & ~cloud
    codes[cirrus] = 10
    dy, dx = SHADOW_SHIFT_PX20
    shadow = np.zeros_like(cloud)
    shadow[dy:, dx:] = cloud[:-dy, :-dx]
    codes[shadow & (codes == 0)] = 3
    return codes


def scene_form(index: int, day: dt.date, first_mis_flag: dt.date | None) -> SceneForm:
    """The provider form of the ``index``-th scene: every 5th Earth Search v0, every 5th Planetary
    Computer, the rest Earth Search v1, of which the first at baseline 04.00 is mis-flagged."""
    if index % 5 == 3:
        return SceneForm("earthsearch-v0")
    if index % 5 == 4:
        return SceneForm("planetary-computer")
    return SceneForm("earthsearch-v1", mis_flagged=day == first_mis_flag)


def _first_mis_flag(schedule: list[tuple[dt.date, float]]) -> dt.date | None:
    """The first Earth Search v1 scene at baseline >= 04.00: the one written with a wrong flag."""
    for index, (day, _) in enumerate(schedule):
        if index % 5 < 3 and processing_baseline(day) >= "04.00":
            return day
    return None


def _scene(
    ctx: SampleContext,
    landscape: Landscape,
    grid20: Grid,
    day: dt.date,
    cloud_fraction: float,
    form: SceneForm,
) -> tuple[dict[str, NDArray[Any]], NDArray[np.uint8], dict[str, Any]]:
    rng = ctx.rng(f"sentinel2.scene.{day.isoformat()}")
    grid10 = landscape.grid
    lake_km2 = float(ctx.timeline.lake_area_km2(np.array([day], dtype="datetime64[D]"))[0])
    water = landscape.water(lake_km2)
    snow_field = smooth_noise(rng, grid10.shape, 40)
    snow_fraction = _snow_fraction(day)
    classes = np.full(grid10.shape, ROCK, dtype=np.uint8)
    if snow_fraction > 0.01:
        classes[snow_field < np.quantile(snow_field, snow_fraction)] = SNOW
    classes[landscape.glacier | landscape.basin] = ICE
    classes[water] = WATER

    cloud20 = _clouds(rng, grid20, cloud_fraction)
    cloud10 = np.repeat(np.repeat(cloud20, 2, axis=0), 2, axis=1)
    illumination = 0.85 + 0.15 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 172) / 365.25)
    # Band by band, in float32, so a full-AOI scene needs a few hundred MB at most.
    reflectance = np.empty((len(BANDS), *grid10.shape), dtype=np.float32)
    sigma = NOISE[classes]
    for b in range(len(BANDS)):
        reflectance[b] = REFLECTANCE[:, b][classes] * np.float32(illumination)
        reflectance[b] += rng.standard_normal(grid10.shape, dtype=np.float32) * sigma
    opaque = np.isin(cloud10, (8, 9))
    cloud_noise = rng.standard_normal((len(BANDS), int(opaque.sum())), dtype=np.float32) * np.float32(0.01)
    reflectance[:, opaque] = CLOUD_REFLECTANCE[:, None] + cloud_noise
    reflectance[:, cloud10 == 10] += np.float32(0.12)
    reflectance[:, cloud10 == 3] *= np.float32(0.35)

    scl10 = SCL_CODE[classes]
    scl10[cloud10 > 0] = cloud10[cloud10 > 0]
    scl20 = scl10[::2, ::2].copy()
    masked = np.isin(cloud10, (3, 8, 9, 10))
    snow_ice = (classes == ICE) | (classes == SNOW)
    truth_raster = (masked * TRUTH_MASKED + water * TRUTH_WATER + snow_ice * TRUTH_SNOW_ICE).astype(np.uint8)

    baseline = processing_baseline(day)
    add_offset = form.dn_offset(baseline)
    dn = {}
    for b, band in enumerate(BANDS):
        values = reflectance[b]
        if band.gsd == 20:
            values = values.reshape(grid20.height, 2, grid20.width, 2).mean(axis=(1, 3))
        scaled = np.round(values.astype(np.float64) * QUANTIFICATION + add_offset)
        dn[band.key] = np.clip(scaled, 1, 65535).astype(np.uint16)
    dn[SCL_KEY] = scl20
    truth = {
        "date": day.isoformat(),
        "target_cloud_fraction": cloud_fraction,
        "timeline_lake_area_km2": round(lake_km2, 6),
        "planted_lake_area_km2": round(float(water.sum()) * landscape.pixel_area_km2, 6),
        "masked_fraction": round(float(masked.mean()), 6),
        "snow_fraction_bedrock": round(snow_fraction, 4),
        "snow_ice_fraction": round(float(snow_ice.mean()), 6),
        "processing_baseline": baseline,
        "provider_form": form.name,
        "dn_offset": add_offset,
        "mis_flagged": form.mis_flagged,
    }
    return dn, truth_raster, truth


def generate(ctx: SampleContext) -> dict[str, Any]:
    """Write every scene of the schedule; return the per-scene truth."""
    grid20 = ctx.grid("sentinel2_20m")
    grid10 = refine(grid20, 2)
    landscape = Landscape(ctx, grid10)
    scenes = []
    schedule = scene_schedule(ctx)
    mis_flag = _first_mis_flag(schedule)
    for index, (day, cloud_fraction) in enumerate(progress(schedule, desc="sample sentinel2", unit="scene")):
        form = scene_form(index, day, mis_flag)
        dn, truth_raster, truth = _scene(ctx, landscape, grid20, day, cloud_fraction, form)
        satellite = satellite_on(day) if ctx.size.name == "glofnet" else None
        names = SceneNames(day, index, truth["processing_baseline"], satellite)
        item_id = names.item_id(form.name)
        folder = f"sentinel2/{item_id}"
        files = band_files(form.name, names)
        for key, values in dn.items():
            grid = grid20 if key == SCL_KEY or next(b for b in BANDS if b.key == key).gsd == 20 else grid10
            write_cog(ctx.path(f"{folder}/{files[key]}"), values, grid, nodata=0)
        truth_path = f"truth/sentinel2/{item_id}.tif"
        write_cog(ctx.path(truth_path), truth_raster, grid10, nodata=None)
        cloud = round(100 * truth["target_cloud_fraction"], 4)
        document = item_document(form, names, {10: grid10, 20: grid20}, cloud)
        write_json(ctx.path(f"{folder}/{item_id}.json"), document)
        scenes.append({"id": item_id, "truth_raster": truth_path, **truth})
    return {
        "grid_10m": grid10.to_dict(),
        "truth_raster_bits": {"masked": TRUTH_MASKED, "water": TRUTH_WATER, "snow_ice": TRUTH_SNOW_ICE},
        "basin_area_km2": round(landscape.basin_pixels * landscape.pixel_area_km2, 6),
        "scenes": scenes,
    }


def sample_items(root: Path) -> list[Path]:
    """The item JSON files of a sample's (or a SOURCE's) sentinel2/ directory."""
    return sorted(root.glob("sentinel2/*/*.json"))
