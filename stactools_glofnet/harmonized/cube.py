"""The harmonized grid cube: velocity, LST and Sentinel-2 water on one grid and one daily axis.

The grid is ``processing.target.grid`` over ``harmonized.extent``, within the ITS_LIVE grid.
Each source is brought onto it with the resampling declared in ``[harmonized.resampling]``
(rasterio), then filled along time per pixel up to the modality's maximum gap. Work goes tile by
tile (all days of a few thousand pixels at a time, on the build's engine) and Sentinel-2 scenes
are staged one at a time (appended to the staging store :data:`STAGING_BATCH` at a time, in
chunks of that many scenes on one tile: a tile job reads its own pixels only). Memory does not
grow with the number of scenes beyond one tile's time series.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import dask.array as da
import numcodecs
import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
import xarray as xr
import zarr
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from toolz import partition_all

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.contract import LST_CUBE, VELOCITY_CUBE
from stactools_glofnet.core.cube import georeference
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension
from stactools_glofnet.core.files import sha256_file
from stactools_glofnet.core.grids import Grid, aoi_grid
from stactools_glofnet.core.memo import Fingerprint, run_jobs
from stactools_glofnet.core.normalization import choose, from_train
from stactools_glofnet.core.raster import intersect, nearest_source_index, reproject_onto
from stactools_glofnet.core.series import FLAG_MEANINGS, fill_gaps
from stactools_glofnet.core.wing import BuildOptions
from stactools_glofnet.harmonized.encodings import cyclical_encodings, labels
from stactools_glofnet.harmonized.inputs import HarmonizationInputs, Scene

TILE_VALUES = 2**21
"""Values (days x pixels) one tile holds per variable: bounds a tile job's memory (~16 MB each)."""
COMPRESSOR = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
TIME_CHUNK = 4096
STAGING_BATCH = 64
"""Staged scenes held before they are appended to the staging store (64 of a 128 x 110 grid: 7 MB),
and the staging store's chunk along the scenes."""
VARIABLES: dict[str, tuple[str, str]] = {
    "velocity": ("m/yr", "Glacier surface speed, daily mean of the image pairs centred on the day"),
    "lst_day": ("K", "Daytime land-surface temperature (nearest MODIS pixel)"),
    "lst_night": ("K", "Night-time land-surface temperature (nearest MODIS pixel)"),
    "water_fraction": ("1", "Fraction of the clear 10 m pixels of the cell that are water (NDWI)"),
    "clear_fraction": ("1", "Fraction of the cell's 10 m pixels that are clear; not interpolated"),
}
PACKING: dict[str, dict[str, Any]] = {
    # CF packing close to how the sources store them: ITS_LIVE speeds are integers (m/yr), MODIS
    # LST is DN x 0.02 K. A step of 1/4 m/yr is far below ITS_LIVE's error and leaves room for
    # 16383 m/yr (45 m/day, twice Shisper's surge peak); LST keeps its native step.
    "velocity": {"dtype": "uint16", "scale_factor": 0.25, "_FillValue": 65535},
    "lst_day": {"dtype": "uint16", "scale_factor": 0.02, "_FillValue": 0},
    "lst_night": {"dtype": "uint16", "scale_factor": 0.02, "_FillValue": 0},
}
FILLED: dict[str, Literal["sentinel2", "itslive", "modis"]] = {
    "velocity": "itslive",
    "lst_day": "modis",
    "lst_night": "modis",
    "water_fraction": "sentinel2",
}
"""The variables filled along time, with the modality whose ``max_gap_days`` applies."""


@dataclass(frozen=True)
class GridCube:
    """The written cube, its grid and the metadata describing it."""

    path: Path
    grid: Grid
    times: pd.DatetimeIndex
    normalization: dict[str, Any]
    encodings: list[dict[str, Any]]


def declared_grid_of(collection: Any) -> Grid:
    """The grid a modality collection declares in ``glofnet:grid``."""
    declared = GlofnetExtension.ext(collection).grid
    if not declared:
        raise GlofnetError(collection.id, "declares no glofnet:grid to harmonize onto")
    height, width = declared["shape"]
    return Grid(CRS.from_user_input(declared["crs"]), Affine(*declared["transform"]), width, height)


def _day_positions(times: Any, days: pd.DatetimeIndex) -> NDArray[np.int64]:
    """Position of each time's UTC day on the daily axis (-1 outside it)."""
    stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(times))).normalize()
    positions = days.get_indexer(stamps)
    return np.asarray(positions, dtype=np.int64)


def _daily_mean(values: NDArray[Any], positions: NDArray[np.int64], count: int) -> NDArray[np.float64]:
    """Mean per day of ``values`` (records first) placed by ``positions``; NaN on empty days."""
    keep = positions >= 0
    values, positions = values[keep].astype(np.float64), positions[keep]
    finite = np.isfinite(values)
    sums = np.zeros((count, *values.shape[1:]))
    counts = np.zeros((count, *values.shape[1:]))
    np.add.at(sums, positions, np.where(finite, values, 0.0))
    np.add.at(counts, positions, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


@dataclass(frozen=True)
class _SceneJob:
    """One Sentinel-2 scene to bring onto the cube's grid (picklable)."""

    scene: Scene
    grid: Grid
    threshold: float
    resampling: tuple[str, str]
    """The resampling of the water and of the clear fraction."""

    def values(self) -> tuple[str, ...]:
        """What the staged scene depends on besides its two files."""
        return (f"threshold={self.threshold!r}", *self.resampling, _grid_text(self.grid))


@dataclass(frozen=True)
class _StagedScene:
    """A scene's water and clear fractions on the cube's grid."""

    water: NDArray[np.float32]
    clear: NDArray[np.float32]


def _grid_text(grid: Grid) -> str:
    return f"{grid.crs.to_wkt()} {tuple(grid.transform)} {grid.width}x{grid.height}"


def _stage_scene(job: _SceneJob) -> _StagedScene:
    """The scene's water and clear fractions of its 10 m pixels, averaged onto ``job.grid``."""
    scene = job.scene
    try:
        with rasterio.open(scene.ndwi) as ndwi_file, rasterio.open(scene.cloud_mask) as mask_file:
            ndwi = ndwi_file.read(1)
            masked = mask_file.read(1) == 1
            source = Grid(ndwi_file.crs, ndwi_file.transform, ndwi_file.width, ndwi_file.height)
    except rasterio.errors.RasterioError as error:
        raise GlofnetError(scene.ndwi.parent, f"cannot read scene {scene.id} ({error})") from None
    clear = ~masked & np.isfinite(ndwi)
    water = np.where(clear, (ndwi > job.threshold).astype(np.float32), np.nan).astype(np.float32)
    water_resampling, clear_resampling = job.resampling
    return _StagedScene(
        water=reproject_onto(water, source, job.grid, water_resampling, src_nodata=np.nan),
        clear=reproject_onto(clear.astype(np.float32), source, job.grid, clear_resampling, src_nodata=None),
    )


def _scene_fingerprint(job: _SceneJob) -> Fingerprint:
    """The scene's two files by their published checksums (or, lacking those, by their bytes)."""
    if all(job.scene.checksums):
        return Fingerprint((), (*job.scene.checksums, *job.values()))
    return Fingerprint((job.scene.ndwi.absolute(), job.scene.cloud_mask.absolute()), job.values())


def _stage_scenes(
    content: CatalogContent,
    inputs: HarmonizationInputs,
    grid: Grid,
    staging: Path,
    tile: int,
    options: BuildOptions,
) -> tuple[list[str], str]:
    """Stage each Sentinel-2 scene on ``grid`` into a Zarr store, one at a time, in date order,
    chunked by the cube's ``tile`` in space.

    Returns the scenes' days and a digest of everything the staged store depends on.
    """
    resampling = content.processing.harmonized.resampling
    threshold = inputs.water_threshold()
    jobs = [
        _SceneJob(scene, grid, threshold, (resampling.water_fraction, resampling.clear_fraction))
        for scene in inputs.scenes()
    ]
    if not jobs:
        raise GlofnetError(inputs.collections["sentinel2"].id, "has no scenes to harmonize")
    identity = hashlib.sha256()
    for job in jobs:
        identity.update(repr((job.scene.day, _scene_fingerprint(job))).encode())
    staged = run_jobs(options, _stage_scene, jobs, _scene_fingerprint, staging.parent)
    for number, batch in enumerate(partition_all(STAGING_BATCH, staged)):
        _append_scenes(staging, batch, tile, first=number == 0)
    return [job.scene.day.isoformat() for job in jobs], identity.hexdigest()


def _append_scenes(staging: Path, scenes: Sequence[_StagedScene], tile: int, *, first: bool) -> None:
    """Append staged scenes to the staging store, or start it with them.

    A chunk holds :data:`STAGING_BATCH` scenes of one ``tile`` x ``tile`` tile: every batch but the
    last fills whole chunks, and a tile job reads only its tile's chunks (with one chunk per scene
    over the whole grid, each of the cube's tiles read every scene's whole grid again)."""
    frame = xr.Dataset(
        {
            "water_fraction": (("scene", "y", "x"), np.stack([scene.water for scene in scenes])),
            "clear_fraction": (("scene", "y", "x"), np.stack([scene.clear for scene in scenes])),
        }
    )
    if first:
        chunks = {"chunks": (STAGING_BATCH, tile, tile)}
        encoding = {"water_fraction": chunks, "clear_fraction": chunks}
        frame.to_zarr(staging, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
    else:
        frame.to_zarr(staging, append_dim="scene", zarr_format=2, consolidated=False)


def tile_size(days: int) -> int:
    """The side of a square tile (a multiple of 8 pixels) whose days x pixels fit ``TILE_VALUES``."""
    return max(8, int(np.sqrt(TILE_VALUES / max(days, 1))) // 8 * 8)


def _template(
    grid: Grid, days: pd.DatetimeIndex, content: CatalogContent
) -> tuple[xr.Dataset, list[dict[str, Any]]]:
    """The cube's variables as lazy placeholders plus its eager per-day coordinates and labels."""
    shape = (len(days), grid.height, grid.width)
    tile = tile_size(len(days))
    chunks = (min(TIME_CHUNK, len(days)), tile, tile)
    data: dict[str, Any] = {}
    for name in VARIABLES:
        data[name] = (
            ("time", "y", "x"),
            da.zeros(shape, dtype=np.float32, chunks=chunks) + np.float32(np.nan),
        )
    for name in FILLED:
        data[f"{name}_flag"] = (("time", "y", "x"), da.zeros(shape, dtype=np.uint8, chunks=chunks))
    encodings, declared = cyclical_encodings(content, days)
    per_day = labels(content, days)
    for column in encodings.columns:
        data[column] = ("time", encodings[column].to_numpy())
    data["label"] = ("time", per_day["label"].to_numpy())
    data["days_to_next_glof"] = (
        "time",
        per_day["days_to_next_glof"].to_numpy(dtype=np.float64, na_value=np.nan),
    )
    data["split"] = ("time", per_day["split"].fillna("").to_numpy(dtype="<U8"))
    dataset = xr.Dataset(
        {name: xr.Variable(dims, values) for name, (dims, values) in data.items()},
        coords={"time": days.values.astype("datetime64[ns]")},
    )
    for name, (unit, text) in VARIABLES.items():
        dataset[name].attrs = {"units": unit, "long_name": text}
    for name in FILLED:
        dataset[f"{name}_flag"].attrs = {
            "flag_values": list(FLAG_MEANINGS.values()),
            "flag_meanings": " ".join(FLAG_MEANINGS),
            "long_name": f"Whether {name} was measured, interpolated or is missing",
        }
    dataset["split"].attrs = {"long_name": "train, validate or test; empty inside a buffer"}
    dataset["days_to_next_glof"].attrs = {
        "long_name": "Days until the next labelled outburst; NaN after the last"
    }
    dataset = georeference(dataset, grid)
    dataset["time"].attrs = {"standard_name": "time"}
    dataset.attrs = {"Conventions": "CF-1.8", "title": "GLOFNet harmonized daily cube"}
    return dataset, declared


class _TrainStatistics:
    """Running count, sum and sum of squares of each variable's train values (no data retained)."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = {}

    def add(self, name: str, values: NDArray[Any]) -> None:
        chosen = values.astype(np.float64)
        chosen = chosen[np.isfinite(chosen)]
        self.merge({name: [chosen.size, float(chosen.sum()), float(np.square(chosen).sum())]})

    def merge(self, sums: dict[str, list[float]]) -> None:
        for name, values in sums.items():
            total = self.sums.setdefault(name, [0.0, 0.0, 0.0])
            for index, value in enumerate(values):
                total[index] += value

    def result(self) -> tuple[dict[str, dict[str, float | int]], dict[str, str]]:
        """Mean, population std and count per variable, and the variables that cannot be
        normalized (fewer than two distinct train values), each with why."""
        out: dict[str, dict[str, float | int]] = {}
        unusable: dict[str, str] = {}
        for name, (count, total, squares) in sorted(self.sums.items()):
            mean = total / count if count else 0.0
            std = float(np.sqrt(max(squares / count - mean * mean, 0.0))) if count else 0.0
            if count < 2 or std == 0:
                unusable[name] = "fewer than two distinct train values"
            else:
                out[name] = {"mean": mean, "std": std, "count": int(count)}
        return out, unusable


GROUPS: dict[str, tuple[str, ...]] = {
    "velocity": ("velocity",),
    "lst": ("lst_day", "lst_night"),
    "sentinel2": ("water_fraction", "clear_fraction"),
}
"""The variables made from one source: a tile job makes one group, so a changed source redoes only its own."""


def _check_packable(measured: dict[str, NDArray[np.float64]]) -> None:
    """Refuse values the packed integer encoding of a variable cannot hold."""
    for name, values in measured.items():
        packing = PACKING.get(name)
        if packing is None:
            continue
        limit = (np.iinfo(packing["dtype"]).max - 1) * packing["scale_factor"]
        if np.nanmax(values, initial=0.0) > limit or np.nanmin(values, initial=0.0) < 0:
            raise ValueError(f"{name} outside the packable range 0..{limit} ({VARIABLES[name][0]})")


@dataclass(frozen=True)
class _Shared:
    """What every tile job reads: store paths, day positions and gap limits (picklable)."""

    output: Path
    days: int
    chunks: tuple[int, int]
    """The cube's time and spatial chunk sizes (a tile is one spatial chunk)."""
    max_gap_days: dict[str, int]
    train: NDArray[np.bool_]
    velocity: Path
    velocity_offset: tuple[int, int]
    velocity_days: NDArray[np.int64]
    lst: Path
    lst_days: NDArray[np.int64]
    scenes: Path
    scene_days: NDArray[np.int64]
    identities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per group, what its tiles depend on besides the tile itself (digests of the source store,
    the day axis, the train days, the grid...): the tile jobs' memo keys."""


@dataclass(frozen=True)
class _Tile:
    """One group of variables on one tile: its rows and columns, and the LST pixel of each cell."""

    shared: _Shared
    group: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    lst_index: NDArray[np.int64]


@dataclass(frozen=True)
class _TileResult:
    """A tile job's train sums and the chunk files it wrote (relative to the store)."""

    sums: dict[str, list[float]]
    written: tuple[str, ...]


def _measure_velocity(job: _Tile) -> dict[str, NDArray[np.float64]]:
    shared = job.shared
    row0, col0 = shared.velocity_offset
    with xr.open_zarr(shared.velocity, consolidated=True, chunks=None) as velocity:
        speed = velocity[VELOCITY_CUBE.variables[0]][
            :, row0 + job.rows[0] : row0 + job.rows[1], col0 + job.cols[0] : col0 + job.cols[1]
        ]
        return {"velocity": _daily_mean(speed.values, shared.velocity_days, shared.days)}


def _measure_lst(job: _Tile) -> dict[str, NDArray[np.float64]]:
    shared = job.shared
    measured = {}
    with xr.open_zarr(shared.lst, consolidated=True, chunks=None) as lst:
        width = lst.sizes["x"]
        inside = job.lst_index >= 0
        rows_needed, cols_needed = np.divmod(job.lst_index[inside], width)
        for part, name in zip(("lst_day", "lst_night"), LST_CUBE.variables, strict=True):
            picked = np.full((lst.sizes[LST_CUBE.time], *job.lst_index.shape), np.nan, dtype=np.float32)
            if inside.any():
                window = lst[name][
                    :, rows_needed.min() : rows_needed.max() + 1, cols_needed.min() : cols_needed.max() + 1
                ].values
                picked[:, inside] = window[
                    :, rows_needed - rows_needed.min(), cols_needed - cols_needed.min()
                ]
            measured[part] = _daily_mean(picked, shared.lst_days, shared.days)
    return measured


def _measure_sentinel2(job: _Tile) -> dict[str, NDArray[np.float64]]:
    shared = job.shared
    rows, cols = slice(*job.rows), slice(*job.cols)
    with xr.open_zarr(shared.scenes, consolidated=False, chunks=None) as scenes:
        return {
            name: _daily_mean(scenes[name][:, rows, cols].values, shared.scene_days, shared.days)
            for name in GROUPS["sentinel2"]
        }


MEASURES = {"velocity": _measure_velocity, "lst": _measure_lst, "sentinel2": _measure_sentinel2}
"""Each group's window of all days on a tile, read straight from its store (``chunks=None``: no
dask graph, which on a worker would be sent to the whole cluster as tasks of its own)."""


def _chunk_files(job: _Tile, names: list[str]) -> tuple[str, ...]:
    """The chunk files of ``names`` on the job's tile that exist (all-fill chunks are not written)."""
    time_chunk, tile = job.shared.chunks
    row, col = job.rows[0] // tile, job.cols[0] // tile
    found = []
    for name in names:
        for block in range(-(-job.shared.days // time_chunk)):
            relative = f"{name}/{block}.{row}.{col}"
            if (job.shared.output / relative).is_file():
                found.append(relative)
    return tuple(found)


def _harmonize_tile(job: _Tile) -> _TileResult:
    """Bring one source onto one tile for all days, fill its gaps, write it; return train sums."""
    shared = job.shared
    measured = MEASURES[job.group](job)
    _check_packable(measured)
    tile: dict[str, Any] = {}
    statistics = _TrainStatistics()
    for name in GROUPS[job.group]:
        if name in FILLED:
            filled, flags = fill_gaps(measured[name], shared.max_gap_days[name])
            tile[f"{name}_flag"] = (("time", "y", "x"), flags)
        else:
            filled = measured[name].astype(np.float32)
        if name in PACKING:  # the statistics describe the values as stored
            step = PACKING[name]["scale_factor"]
            filled = (np.round(filled.astype(np.float64) / step) * step).astype(np.float32)
        tile[name] = (("time", "y", "x"), filled)
        statistics.add(name, filled[shared.train])
    xr.Dataset(tile).to_zarr(
        shared.output,
        region={"time": slice(0, shared.days), "y": slice(*job.rows), "x": slice(*job.cols)},
        zarr_format=2,
        consolidated=False,
    )
    return _TileResult(statistics.sums, _chunk_files(job, sorted(tile)))


def _tile_fingerprint(job: _Tile) -> Fingerprint:
    """A tile job's key: its group's inputs (as digests), the tile, and its LST pixels."""
    values = [job.group, f"rows={job.rows}", f"cols={job.cols}", *job.shared.identities[job.group]]
    if job.group == "lst":
        values.append(hashlib.sha256(job.lst_index.tobytes()).hexdigest())
    return Fingerprint((), tuple(values))


def _store_digest(path: Path) -> str:
    """SHA-256 over every file of a Zarr store, by relative path."""
    sha = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        sha.update(f"{file.relative_to(path).as_posix()} {sha256_file(file)}\n".encode())
    return sha.hexdigest()


def _array_digest(values: NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


def _identities(shared: _Shared, grid: Grid, first_day: str, scenes: str) -> dict[str, tuple[str, ...]]:
    """What each group's tiles depend on besides the tile (see :attr:`_Shared.identities`)."""
    common = (
        _grid_text(grid),
        f"days={first_day}+{shared.days}",
        f"chunks={shared.chunks}",
        _array_digest(shared.train),
    )
    gaps = {group: tuple(f"{n}={shared.max_gap_days.get(n)}" for n in GROUPS[group]) for group in GROUPS}
    return {
        "velocity": (
            *common,
            *gaps["velocity"],
            _store_digest(shared.velocity),
            f"offset={shared.velocity_offset}",
            _array_digest(shared.velocity_days),
        ),
        "lst": (*common, *gaps["lst"], _store_digest(shared.lst), _array_digest(shared.lst_days)),
        "sentinel2": (*common, *gaps["sentinel2"], scenes, _array_digest(shared.scene_days)),
    }


def _tiles(shared: _Shared, grid: Grid, lst_index: NDArray[np.int64]) -> Iterator[_Tile]:
    """Every group on every tile, a tile's groups together."""
    tile = shared.chunks[1]
    for row in range(0, grid.height, tile):
        for col in range(0, grid.width, tile):
            for group in GROUPS:
                yield _Tile(
                    shared,
                    group,
                    (row, min(row + tile, grid.height)),
                    (col, min(col + tile, grid.width)),
                    lst_index[row : row + tile, col : col + tile],
                )


def grid_cube(
    content: CatalogContent,
    inputs: HarmonizationInputs,
    days: pd.DatetimeIndex,
    workdir: Path,
    options: BuildOptions,
) -> GridCube:
    """Write the harmonized cube to ``workdir/harmonized_cube.zarr``, tile by tile on the build's engine.

    Each tile is written by one job per source group (:data:`GROUPS`); with the build's memo, a job
    whose inputs did not change takes the chunk files it wrote last time. Normalization statistics
    come from the train days, or from ``options.normalization`` when given.
    """
    params = content.processing.harmonized
    velocity_grid = declared_grid_of(inputs.collections["itslive"])
    area = getattr(content.geometry, params.extent)
    wanted = aoi_grid(content.processing.grids[content.processing.target.grid], area.bbox)
    grid = intersect(velocity_grid, wanted.bounds)
    if grid is None:
        raise GlofnetError(
            content.directory / "processing.toml",
            f"harmonized.extent {params.extent!r} misses the ITS_LIVE grid",
        )
    row0 = round((velocity_grid.transform.f - grid.transform.f) / -grid.transform.e)
    col0 = round((grid.transform.c - velocity_grid.transform.c) / grid.transform.a)
    target = content.processing.target.grid
    declared = GlofnetExtension.ext(inputs.collections["itslive"]).grid or {}
    if declared.get("name") != target:
        raise GlofnetError(
            content.directory / "processing.toml",
            f"target.grid {target!r} must be the grid of the ITS_LIVE cube ({declared.get('name')!r})",
        )
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "harmonized_cube.zarr"
    staged = workdir / "scenes-staging.zarr"
    scene_days, scenes = _stage_scenes(content, inputs, grid, staged, tile_size(len(days)), options)
    template, encodings = _template(grid, days, content)
    encoding = {
        name: {"compressors": (COMPRESSOR,), **PACKING.get(str(name), {})}
        for name in template.data_vars
        if template[name].ndim == 3
    }
    template.to_zarr(path, mode="w", zarr_format=2, consolidated=False, compute=False, encoding=encoding)

    velocity_path = inputs.asset_path("itslive", VELOCITY_CUBE.key)
    with xr.open_zarr(velocity_path, consolidated=True) as velocity:
        if (velocity.sizes["y"], velocity.sizes["x"]) != velocity_grid.shape:
            raise GlofnetError(
                velocity_path, f"velocity cube is not on its collection's glofnet:grid {velocity_grid.shape}"
            )
        velocity_days = _day_positions(velocity[VELOCITY_CUBE.time].values, days)
    lst_path = inputs.asset_path("modis", LST_CUBE.key)
    lst_grid = declared_grid_of(inputs.collections["modis"])
    with xr.open_zarr(lst_path, consolidated=True) as lst:
        if (lst.sizes["y"], lst.sizes["x"]) != lst_grid.shape:
            raise GlofnetError(lst_path, f"LST cube is not on its collection's glofnet:grid {lst_grid.shape}")
        lst_days = _day_positions(lst[LST_CUBE.time].values, days)
    shared = _Shared(
        output=path,
        days=len(days),
        chunks=(min(TIME_CHUNK, len(days)), tile_size(len(days))),
        max_gap_days={name: params.max_gap_days[modality] for name, modality in FILLED.items()},
        train=np.asarray(template["split"].values == "train"),
        velocity=velocity_path,
        velocity_offset=(row0, col0),
        velocity_days=velocity_days,
        lst=lst_path,
        lst_days=lst_days,
        scenes=staged,
        scene_days=np.asarray(days.get_indexer(pd.DatetimeIndex(scene_days)), dtype=np.int64),
    )
    if options.memo is not None:  # the tile jobs' keys; without a memo nothing reads them
        shared = replace(shared, identities=_identities(shared, grid, days[0].date().isoformat(), scenes))
    statistics = _TrainStatistics()
    try:
        jobs = _tiles(shared, grid, np.array(nearest_source_index(lst_grid, grid)))
        for result in run_jobs(options, _harmonize_tile, jobs, _tile_fingerprint, path):
            statistics.merge(result.sums)
        own = None
        if options.normalization is None and shared.train.any():
            own = from_train("harmonized cube", *statistics.result())
    except ValueError as error:
        raise GlofnetError(path, f"cannot write the cube: {error}") from None
    zarr.consolidate_metadata(str(path))
    shutil.rmtree(staged, ignore_errors=True)
    normalization = choose("harmonized", options.normalization, own, asset="cube")
    return GridCube(path=path, grid=grid, times=days, normalization=normalization, encodings=encodings)
