"""Synthetic ITS_LIVE v2 image pairs over Shisper, written as real granules and datacubes are.

Pairs of Landsat, Sentinel-1 and Sentinel-2 (names and ``img_pair_info`` per family:
:mod:`.sample_forms`). Pairs before CUBE_FROM are granule files
``itslive/<img1>_X_<img2>_G0120V02_P<valid>.nc`` (NetCDF4 through h5netcdf) with int16 vx, vy, v,
v_error (fill -32767; radar pairs also vr, va, M11, M12), uint16 chip sizes, the uint8
interp_mask, and the string scalars ``mapping`` and ``img_pair_info`` carrying their attributes;
later pairs are the layers of an ITS_LIVE v2 datacube ``itslive/ITS_LIVE_vel_EPSG32643_...zarr``
whose grid reaches beyond the AOI, so it is read as a subset. Speeds follow the shared time
line (seasonal cycle, 2018-2019 surge) averaged over each pair's dates, on a glacier trunk that
fades to stable ground; noise shrinks with the date separation. Planted flaws: holes, interpolated
pixels (biased), wild outliers, and bad granules (too few valid pixels, huge errors, separations
beyond the accepted range, a footprint outside the AOI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from rasterio.warp import transform, transform_bounds

from stactools_glofnet.core.grids import Grid, aoi_grid
from stactools_glofnet.core.progress import progress
from stactools_glofnet.itslive.names import FILL_INT16
from stactools_glofnet.itslive.sample_forms import (
    CUBE_NAME,
    DatacubeWriter,
    image_id,
    pair_info,
    radar_variables,
    satellite_attribute,
    write_datacube,
)
from stactools_glofnet.sample.framework import SampleContext, last_fraction

CUBE_FROM = dt.date(2021, 1, 1)  # pairs from this day on are datacube layers, earlier ones granule files
CUBE_MARGIN_PX = 8
CUBE_BLOCK_LAYERS = 128  # layers per Zarr chunk along time in the glofnet size's cube (about 120 MB)
FLOW_DIRECTION = (-0.2, -0.98)  # unit vector of ice flow (x east, y north): south, slightly west
MARGIN_M = 300.0
GROUPS = {
    "sentinel-2": (5, 10, 15, 20, 25, 30, 40, 45),
    "landsat": (16, 32, 48),
    "sentinel-1": (12, 24),
}
FLAWS = ("sparse", "noisy", "long", "very_long", "outside")
FLAW_SEPARATION_DAYS = {"long": 180, "very_long": 365}  # beyond every group's accepted range


@dataclass(frozen=True)
class Family:
    """One sensor family's images over Shisper: a primary satellite and the one that doubles it."""

    first: dt.date
    """The primary's first image."""
    repeat_days: int
    """The primary's repeat; the second satellite images half-way between (same orbit track)."""
    satellites: tuple[str, str]
    """(primary, second): mission codes as in the image ids."""
    second_from: dt.date
    second_until: dt.date | None
    max_separation_days: int
    """Every image is paired with the later images of the family up to this separation."""


# The glofnet size's pairs: the real acquisition cadences over the Karakoram, paired the way
# ITS_LIVE v2 forms them (every image with the later images of its family up to a maximum
# separation; a family's two satellites pair with each other). Landsat: Landsat 8 every 16 days
# from 2013-04, Landsat 9 8 days after it from 2021-11, so one image every 8 days; pairs up to 96
# days. Sentinel-1: S1A every 12 days from 2014-10, S1B 6 days after it from 2016-09 until its
# failure in 2021-12; pairs up to 48 days. Sentinel-2: S2A every 10 days from 2015-07, S2B 5 days
# after it from 2017-03 (the lattice of sentinel2.sample); pairs up to 60 days, not ITS_LIVE's 96:
# 60 is the top of the separation the build accepts for Sentinel-2 (processing.toml
# itslive.date_dt_days), and it keeps the total near 13 000 pairs (96 would give 17 200).
ARCHIVE_FAMILIES: dict[str, Family] = {
    "landsat": Family(dt.date(2013, 4, 11), 16, ("LC08", "LC09"), dt.date(2021, 11, 1), None, 96),
    "sentinel-1": Family(
        dt.date(2014, 10, 3), 12, ("S1A", "S1B"), dt.date(2016, 9, 26), dt.date(2021, 12, 23), 48
    ),
    "sentinel-2": Family(dt.date(2015, 7, 4), 10, ("S2A", "S2B"), dt.date(2017, 3, 28), None, 60),
}


def family_images(family: Family, end: dt.date) -> list[tuple[dt.date, str]]:
    """(day, satellite) of every image of ``family`` up to ``end``."""
    half = family.repeat_days // 2
    images = []
    day = family.first
    while day <= end:
        if (day - family.first).days % family.repeat_days == 0:
            images.append((day, family.satellites[0]))
        elif family.second_from <= day and (family.second_until is None or day <= family.second_until):
            images.append((day, family.satellites[1]))
        day += dt.timedelta(days=half)
    return images


def family_pairs(group: str, end: dt.date) -> list[dict[str, Any]]:
    """Every pair of ``group``'s images up to ``end``, in the order of their first image."""
    family = ARCHIVE_FAMILIES[group]
    images = family_images(family, end)
    pairs = []
    for k, (first, satellite1) in enumerate(images):
        for second, satellite2 in images[k + 1 :]:
            separation = (second - first).days
            if separation > family.max_separation_days:
                break
            pairs.append(
                {
                    "group": group,
                    "start": first,
                    "dt": separation,
                    "flaw": None,
                    "satellites": (satellite1, satellite2),
                }
            )
    return pairs


def _plant_flaws(rng: np.random.Generator, pairs: list[dict[str, Any]]) -> None:
    flaws = FLAWS[: len(pairs)]
    chosen = rng.choice(len(pairs), size=len(flaws), replace=False)
    for flaw, k in zip(flaws, sorted(int(c) for c in chosen), strict=True):
        pairs[k]["flaw"] = flaw
        if flaw in FLAW_SEPARATION_DAYS:
            pairs[k]["dt"] = FLAW_SEPARATION_DAYS[flaw]


def archive_schedule(ctx: SampleContext) -> list[dict[str, Any]]:
    """The glofnet size's granules: the last fraction of every family's pairs, flaws planted."""
    pairs: list[dict[str, Any]] = []
    for group in ARCHIVE_FAMILIES:
        kept = last_fraction(family_pairs(group, ctx.size.end), lambda p: p["start"], ctx.size.fraction)
        pairs += [pair for pair in kept if pair["start"] >= ctx.size.start]
    pairs.sort(key=lambda p: (p["start"], p["dt"], p["group"]))
    _plant_flaws(ctx.rng("itslive.schedule"), pairs)
    return pairs


def schedule(ctx: SampleContext) -> list[dict[str, Any]]:
    """Every granule to write: group, first date, separation, and any planted flaw."""
    if ctx.size.name == "glofnet":
        return archive_schedule(ctx)
    rng = ctx.rng("itslive.schedule")
    step = 25 if ctx.size.name == "small" else 8
    pairs: list[dict[str, Any]] = []
    day = ctx.size.start
    index = 0
    while day <= ctx.size.end - dt.timedelta(days=50):
        groups = ["landsat"]
        if day >= dt.date(2015, 6, 1):
            groups.append("sentinel-1")
        if day >= dt.date(2017, 3, 1):
            groups.append("sentinel-2")
        group = groups[index % len(groups)]
        pairs.append({"group": group, "start": day, "dt": int(rng.choice(GROUPS[group])), "flaw": None})
        day += dt.timedelta(days=step)
        index += 1
    _plant_flaws(rng, pairs)
    return pairs


def _trunk(grid: Grid, ctx: SampleContext) -> NDArray[np.float32]:
    """Relative speed of the surface: plug flow on the trunk (1, falling to 0.5 at its margins)."""
    west, south, east, north = transform_bounds("EPSG:4326", grid.crs, *ctx.content.geometry.trunk.bbox)
    xs = grid.transform.c + (np.arange(grid.width) + 0.5) * grid.transform.a
    ys = grid.transform.f + (np.arange(grid.height) + 0.5) * grid.transform.e
    inside = ((xs[None, :] > west) & (xs[None, :] < east)) & ((ys[:, None] > south) & (ys[:, None] < north))
    margin = np.minimum.outer(np.minimum(ys - south, north - ys), np.minimum(xs - west, east - xs))
    plug = 0.5 + 0.5 * np.clip(margin / MARGIN_M, 0, 1)
    result: NDArray[np.float32] = np.where(inside, plug, 0.0).astype(np.float32)
    return result


def _encode(values: NDArray[np.float32]) -> NDArray[np.int16]:
    encoded = np.where(np.isnan(values), FILL_INT16, np.clip(np.round(values), -32766, 32767))
    result: NDArray[np.int16] = encoded.astype(np.int16)
    return result


def _granule(
    ctx: SampleContext, grid: Grid, trunk: NDArray[np.float32], pair: dict[str, Any], index: int
) -> tuple[str, xr.Dataset, dict[str, Any]]:
    rng = ctx.rng(f"itslive.granule.{index}")
    start: dt.date = pair["start"]
    end = start + dt.timedelta(days=pair["dt"])
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    speed = float(ctx.timeline.glacier_speed_m_per_yr(days).mean())
    sigma = 5.0 + 100.0 / pair["dt"]
    if pair["flaw"] == "noisy":
        sigma = 400.0
    shape = grid.shape
    v_true = trunk * speed
    vx = v_true * FLOW_DIRECTION[0] + rng.normal(0, sigma, shape).astype(np.float32)
    vy = v_true * FLOW_DIRECTION[1] + rng.normal(0, sigma, shape).astype(np.float32)
    interp = rng.random(shape) < 0.03
    vx[interp] *= 1.6
    vy[interp] *= 1.6
    outliers = rng.random(shape) < 0.005
    vx[outliers] += 3000.0
    holes = rng.random(shape) < (0.97 if pair["flaw"] == "sparse" else 0.05)
    vx[holes] = np.nan
    vy[holes] = np.nan
    v = np.hypot(vx, vy)
    v_error = np.where(holes, np.nan, np.float32(sigma)).astype(np.float32)
    valid_percentage = int(np.floor(100 * (1 - holes.mean())))

    group = pair["group"]
    if "satellites" in pair:  # the glofnet size: each image's satellite follows from its date
        satellite1, satellite2 = pair["satellites"]
        id1, id2 = image_id(group, start, index, satellite1), image_id(group, end, index, satellite2)
    else:  # Sentinel pairs mix the A and B satellites; a Landsat pair keeps its mission.
        id1, id2 = image_id(group, start, index), image_id(group, end, index + (group != "landsat"))
    name = f"{id1}_X_{id2}_G0120V02_P{valid_percentage:03d}"
    x_offset = 300_000.0 if pair["flaw"] == "outside" else 0.0
    xs = grid.transform.c + x_offset + (np.arange(grid.width) + 0.5) * grid.transform.a
    ys = grid.transform.f + (np.arange(grid.height) + 0.5) * grid.transform.e
    # Sentinel-2 acquisition times come from whole-second STAC datetimes (hyp3-autorift).
    micro = (0, 0) if group == "sentinel-2" else (24000, 515000)
    t1 = dt.datetime(start.year, start.month, start.day, 5, 36, 49, micro[0])
    t2 = dt.datetime(end.year, end.month, end.day, 5, 36, 51, micro[1])
    lon, lat = transform(grid.crs, "EPSG:4326", [float(xs.mean())], [float(ys.mean())])
    radar = group == "sentinel-1"
    info = pair_info(group, (id1, id2), (t1, t2), (float(lon[0]), float(lat[0])), float(valid_percentage))
    velocity_attrs = {"units": "meter/year", "grid_mapping": "mapping"}
    error_attrs = {
        "error": sigma,
        "error_modeled": sigma,
        "error_slow": sigma,
        "error_stationary": sigma,
        "stable_shift": 0.0,
        "stable_shift_flag": 1,
        "stable_shift_slow": 0.0,
        "stable_shift_stationary": 0.0,
        "stable_count_slow": 1000,
        "stable_count_stationary": 1000,
    }
    crs_wkt = grid.crs.to_wkt()
    ds = xr.Dataset(
        {
            "img_pair_info": ((), "", info),
            "mapping": (
                (),
                "",
                {
                    "grid_mapping_name": "universal_transverse_mercator",
                    "utm_zone_number": 43.0,
                    "spatial_epsg": 32643,
                    "crs_wkt": crs_wkt,
                    "spatial_ref": crs_wkt,
                    "proj4text": grid.crs.to_proj4(),
                    # As in real v2 granules: the origin given is the first pixel *centre*.
                    "GeoTransform": f"{xs[0]} {grid.transform.a} 0.0 {ys[0]} 0.0 {grid.transform.e}",
                },
            ),
            "vx": (
                ("y", "x"),
                _encode(vx),
                {**velocity_attrs, "standard_name": "land_ice_surface_x_velocity", **error_attrs},
            ),
            "vy": (
                ("y", "x"),
                _encode(vy),
                {**velocity_attrs, "standard_name": "land_ice_surface_y_velocity", **error_attrs},
            ),
            "v": (("y", "x"), _encode(v), {**velocity_attrs, "standard_name": "land_ice_surface_velocity"}),
            "v_error": (("y", "x"), _encode(v_error), {**velocity_attrs, "standard_name": "velocity_error"}),
            "chip_size_width": (
                ("y", "x"),
                np.where(holes, 0, 240).astype(np.uint16),
                {"units": "m", "grid_mapping": "mapping"},
            ),
            "chip_size_height": (
                ("y", "x"),
                np.where(holes, 0, 240).astype(np.uint16),
                {"units": "m", "grid_mapping": "mapping"},
            ),
            "interp_mask": (
                ("y", "x"),
                interp.astype(np.uint8),
                {
                    "standard_name": "interpolated_value_mask",
                    "flag_values": np.array([0, 1], dtype=np.uint8),
                    "flag_meanings": "measured interpolated",
                    "grid_mapping": "mapping",
                },
            ),
        },
        coords={
            "x": ("x", xs, {"standard_name": "projection_x_coordinate", "units": "m"}),
            "y": ("y", ys, {"standard_name": "projection_y_coordinate", "units": "m"}),
        },
        attrs={
            "GDAL_AREA_OR_POINT": "Area",
            "Conventions": "CF-1.8",
            "date_created": f"{end + dt.timedelta(days=3):%d-%b-%Y} 00:00:00",
            "title": "autoRIFT surface velocities",
            "autoRIFT_software_version": "1.5.0",
            "scene_pair_type": "radar" if radar else "optical",
            "satellite": satellite_attribute(info),
            "motion_detection_method": "feature",
            "motion_coordinates": "radar, map" if radar else "map",
            "source": "Synthetic GLOFNet sample in the layout of NASA MEaSUREs ITS_LIVE v2 granules",
            "references": "https://its-live.jpl.nasa.gov/",
        },
    )
    if radar:
        look = (float(np.cos(np.radians(10.0))), float(np.sin(np.radians(10.0))))
        for variable, value in radar_variables(ds["vx"].values, ds["vy"].values, _encode, look).items():
            ds[variable] = value
    glacier = trunk > 0
    truth = {
        "granule": f"itslive/{name}.nc",
        "group": group,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "flaw": pair["flaw"],
        "pair_mean_speed_m_per_yr": round(speed, 3),
        "trunk_mean_speed_m_per_yr": round(float(v_true[glacier].mean()), 3),
        "noise_sigma_m_per_yr": round(sigma, 3),
    }
    return name, ds, truth


def _encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    encoding: dict[str, dict[str, Any]] = {}
    compression = {"zlib": True, "complevel": 2, "shuffle": True}
    for name in ("vx", "vy", "v", "v_error", "vr", "va"):
        if name in ds:
            encoding[name] = {"_FillValue": np.int16(FILL_INT16), **compression}
    for name in ("M11", "M12"):
        if name in ds:
            encoding[name] = {"_FillValue": np.float32(FILL_INT16), **compression}
    for name in ("chip_size_width", "chip_size_height", "interp_mask"):
        encoding[name] = {"_FillValue": ds[name].dtype.type(0), **compression}
    for name in ("x", "y"):
        encoding[name] = {"_FillValue": None}
    return encoding


def granule_grid(ctx: SampleContext) -> Grid:
    """The grid granules are written on: the glacier (small sample) or the AOI (full)."""
    spec = ctx.content.processing.grids["itslive"]
    area = (
        ctx.content.geometry.aoi.bbox if ctx.size.lake_margin_m is None else ctx.content.geometry.glacier.bbox
    )
    return aoi_grid(spec, area)


def cube_grid(ctx: SampleContext) -> Grid:
    """The datacube's grid: the AOI and CUBE_MARGIN_PX more on every side, so it is read as a subset."""
    grid = aoi_grid(ctx.content.processing.grids["itslive"], ctx.content.geometry.aoi.bbox)
    t = grid.transform
    corner = Affine(t.a, 0.0, t.c - CUBE_MARGIN_PX * t.a, 0.0, t.e, t.f - CUBE_MARGIN_PX * t.e)
    return Grid(grid.crs, corner, grid.width + 2 * CUBE_MARGIN_PX, grid.height + 2 * CUBE_MARGIN_PX)


def pairs(ctx: SampleContext) -> Iterator[tuple[str, xr.Dataset, dict[str, Any]]]:
    """Every image pair of the schedule as (granule name, granule dataset, truth)."""
    grid = granule_grid(ctx)
    trunk = _trunk(grid, ctx)
    for index, pair in enumerate(progress(schedule(ctx), desc="sample itslive", unit="granule")):
        yield _granule(ctx, grid, trunk, pair, index)


def write_granule(path: Path, ds: xr.Dataset) -> None:
    """A granule file as hyp3-autorift writes it (NetCDF4, int16 with fill, zlib level 2)."""
    ds.to_netcdf(path, engine="h5netcdf", encoding=_encoding(ds))


def generate(ctx: SampleContext) -> dict[str, Any]:
    """Write the schedule's pairs: granule files before CUBE_FROM, a datacube from then on."""
    granules = []
    layers: list[tuple[str, xr.Dataset]] = []
    cube = ctx.dest / "itslive" / CUBE_NAME
    # The glofnet size's thousands of layers are written a block at a time (one granule and one
    # block in memory); the smaller sizes' cube is written at once, in one chunk along time.
    writer = (
        DatacubeWriter(cube, cube_grid(ctx), cube_grid(ctx).crs.to_wkt(), CUBE_BLOCK_LAYERS)
        if ctx.size.name == "glofnet"
        else None
    )
    for name, ds, truth in pairs(ctx):
        in_cube = dt.date.fromisoformat(truth["start"]) >= CUBE_FROM and truth["flaw"] != "outside"
        if in_cube and writer is not None:
            writer.add(name, ds)
        elif in_cube:
            layers.append((name, ds))
        else:
            write_granule(ctx.path(f"itslive/{name}.nc"), ds)
        granules.append({**truth, "form": "datacube" if in_cube else "granule"})
    if writer is not None:
        writer.close()
    elif layers:
        write_datacube(cube, layers, cube_grid(ctx), cube_grid(ctx).crs.to_wkt())
    if cube.is_dir():
        for member in sorted(p for p in cube.rglob("*") if p.is_file()):
            ctx.path(str(member.relative_to(ctx.dest)))
    p = ctx.timeline.p
    return {
        "grid": granule_grid(ctx).to_dict(),
        "cube": {"name": CUBE_NAME, "grid": cube_grid(ctx).to_dict(), "from": CUBE_FROM.isoformat()},
        "flow_direction": list(FLOW_DIRECTION),
        "trunk_margin_m": MARGIN_M,
        "seasonal_amplitude": p.seasonal_speed_amplitude,
        "seasonal_peak_doy": p.seasonal_speed_peak_doy,
        "base_speed_m_per_yr": p.base_speed_m_per_yr,
        "granules": granules,
    }
