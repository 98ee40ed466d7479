"""Every Zarr cube the catalog publishes: one CF grid mapping, staged layer by layer, rechunked.

Cubes are Zarr v2 (consolidated), the format GDAL, xarray and zarr all read. Each carries the
grid mapping as a ``spatial_ref`` coordinate with pyproj's CF attributes plus ``crs_wkt``,
``spatial_ref`` (WKT) and GDAL's ``GeoTransform``, and every gridded variable names it in
``grid_mapping``; so ``xr.open_zarr(href).rio.crs`` and GDAL both find the CRS without help.
:class:`CubeWriter` appends one layer (a date, an image pair) at a time to raw staging files and
then writes the final cube sorted and rechunked for time-series reads: memory holds one block of
layers (at most 64 MiB) while appending, nothing per layer staged, and one read of at most 16 MiB
per thread while writing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import dask.array as da
import numpy as np
import xarray as xr
from numpy.typing import NDArray
from pyproj import CRS as ProjCRS

from stactools_glofnet.core.allocator import give_back_freed_memory
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid

GRID_MAPPING: Final = "spatial_ref"
BLOCK_LAYERS: Final = 64
BLOCK_BYTES: Final = 64 * 2**20
"""Layers buffered before one append to the staging store: at most this many, or this many bytes."""
READ_BYTES: Final = 16 * 2**20
"""Staged values read at once while writing the final cube (at least one of its chunks)."""
SPATIAL_DIMS: Final = ("y", "x")
FIXED_SIZE_KINDS: Final = "biufcmMSU"
"""numpy dtype kinds whose values are their bytes (no Python objects), so they can be staged raw."""


def grid_mapping(grid: Grid) -> xr.DataArray:
    """The CF grid-mapping variable of ``grid`` (a scalar whose attributes describe the CRS)."""
    crs = ProjCRS.from_wkt(grid.crs.to_wkt())
    wkt = crs.to_wkt()
    t = grid.transform
    attrs: dict[str, Any] = {**crs.to_cf(), "crs_wkt": wkt, "spatial_ref": wkt}
    attrs["GeoTransform"] = " ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
    return xr.DataArray(0, attrs=attrs)


def georeference(dataset: xr.Dataset, grid: Grid) -> xr.Dataset:
    """``dataset`` on ``grid`` with CF x/y coordinates and the grid mapping every gridded variable names."""
    dataset = dataset.assign_coords(
        {"x": grid.x_centres(), "y": grid.y_centres(), GRID_MAPPING: grid_mapping(grid)}
    )
    dataset["x"].attrs = {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}
    dataset["y"].attrs = {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}
    for name, variable in dataset.data_vars.items():
        if set(SPATIAL_DIMS) <= set(variable.dims):
            dataset[name].attrs["grid_mapping"] = GRID_MAPPING
    return dataset


class _StagedLayers:
    """One variable's staged layers (a raw file of ``(layers, y, x)`` values), read in ``order``.

    ``dask.array.from_array`` slices it a chunk at a time: each read takes the chunk's layers in
    sorted order and only its rows, so memory holds one chunk, never the whole variable. The
    rows are read with ``pread`` into the chunk's own array, not through a map of the file: a
    map's pages (and the pages around each one the kernel maps with it) count in the process's
    resident set while it is open, and the threads writing the cube each held one, so the peak
    grew with the number of layers (measured: 183 MiB of file pages at 3106 ITS_LIVE layers).
    """

    def __init__(
        self, path: Path, dtype: np.dtype[Any], shape: tuple[int, int, int], order: NDArray[np.intp]
    ):
        self.path, self.dtype, self.order = path, dtype, order
        self.shape = (len(order), shape[1], shape[2])
        self.ndim = 3

    def __getitem__(self, key: tuple[slice, slice, slice]) -> NDArray[Any]:
        time, rows, columns = key
        first, stop, step = rows.indices(self.shape[1])
        if step != 1:
            raise ValueError(f"staged rows are read as one run, not with a step of {step}")
        width = self.shape[2]
        row_bytes = width * self.dtype.itemsize
        layer_bytes = self.shape[1] * row_bytes
        positions = self.order[time]
        values: NDArray[Any] = np.empty((len(positions), max(0, stop - first), width), self.dtype)
        with self.path.open("rb", buffering=0) as staged:
            for read_into, position in zip(values, positions, strict=True):
                offset = int(position) * layer_bytes + first * row_bytes
                if os.preadv(staged.fileno(), [read_into], offset) != read_into.nbytes:
                    raise GlofnetError(self.path, f"staged layer {position} is cut short")
        return values[:, :, columns]


@dataclass(frozen=True)
class Layer:
    """One time step (or a few) of a cube, as plain arrays: what a job sends back for it.

    ``gridded``: each gridded variable's values, shaped (time, y, x) on the writer's grid.
    ``along_time``: each per-time variable's values, shaped (time,); the one named as the
    writer's time dimension is the time coordinate.
    """

    gridded: Mapping[str, NDArray[Any]]
    along_time: Mapping[str, NDArray[Any]]


class CubeWriter:
    """Builds one (time, y, x) cube from layers appended one at a time.

    Every variable is staged as raw values on disk (one file each, appended a block at a time):
    the gridded ones and the per-time ones too (an ITS_LIVE pair's granule id is 1,020 bytes as
    ``<U255``), so the writer holds nothing per layer staged. ``layer_encoding`` gives the
    per-time variables' encodings in the cube (time units, dtype). Every layer has the variables
    of the first, of its dtypes (per-time values may be of any dtype that casts safely to it).
    """

    def __init__(
        self, final: Path, grid: Grid, time: str, *, layer_encoding: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Prepare to write the cube at ``final`` (staged beside it) on ``grid`` along ``time``."""
        self.final, self.grid, self.time = final, grid, time
        self.staging = final.with_name(final.stem + "-staging")
        self.encoding = {name: dict(encoding) for name, encoding in layer_encoding.items()}
        self.count = 0
        self.pending: list[Layer] = []
        self.pending_bytes = 0
        self.along_time: dict[str, np.dtype[Any]] = {}
        """Each per-time variable's dtype (the first layer's)."""
        self.gridded: dict[str, np.dtype[Any]] = {}

    def append(self, layer: Layer) -> None:
        """Add one layer.

        Layers are staged a block at a time (:data:`BLOCK_LAYERS` or :data:`BLOCK_BYTES`,
        whichever comes first): each staging file is opened, and freed memory given back, once
        per block, not once per layer.
        """
        self._check(layer)
        self.pending.append(layer)
        self.pending_bytes += sum(values.nbytes for values in layer.gridded.values())
        self.count += len(layer.along_time[self.time])
        if len(self.pending) >= BLOCK_LAYERS or self.pending_bytes >= BLOCK_BYTES:
            self._flush()

    def _check(self, layer: Layer) -> None:
        """The layer has the first layer's variables, of its dtypes, on the grid."""
        if not self.gridded and not self.along_time:
            if self.time not in layer.along_time:
                raise GlofnetError(self.final, f"a layer has no {self.time} values")
            for name, values in layer.along_time.items():
                if values.dtype.kind not in FIXED_SIZE_KINDS:
                    raise GlofnetError(self.final, f"{name}: values of dtype {values.dtype} cannot be staged")
            self.gridded = {name: values.dtype for name, values in layer.gridded.items()}
            self.along_time = {name: values.dtype for name, values in layer.along_time.items()}
        if layer.gridded.keys() != self.gridded.keys() or layer.along_time.keys() != self.along_time.keys():
            found = sorted([*layer.gridded, *layer.along_time])
            raise GlofnetError(self.final, f"a layer has variables {found}, not those of the first layer")
        shape = (len(layer.along_time[self.time]), self.grid.height, self.grid.width)
        for name, values in layer.gridded.items():
            if values.dtype != self.gridded[name]:
                first = self.gridded[name]
                raise GlofnetError(self.final, f"{name}: layers of dtype {first} and {values.dtype}")
            if values.shape != shape:
                raise GlofnetError(self.final, f"{name}: a layer of shape {values.shape}, not {shape}")
        for name, values in layer.along_time.items():
            if not np.can_cast(values.dtype, self.along_time[name], casting="safe"):
                first = self.along_time[name]
                raise GlofnetError(self.final, f"{name}: layers of dtype {first} and {values.dtype}")
            if values.shape != shape[:1]:
                raise GlofnetError(self.final, f"{name}: a layer of shape {values.shape}, not {shape[:1]}")

    def _flush(self) -> None:
        if not self.pending:
            return
        (self.staging / "along-time").mkdir(parents=True, exist_ok=True)
        for name in self.gridded:
            with (self.staging / f"{name}.raw").open("ab") as staged:
                for layer in self.pending:
                    staged.write(np.ascontiguousarray(layer.gridded[name]).data)  # in (time, y, x) order
        for name, dtype in self.along_time.items():
            with self._along_time_file(name).open("ab") as staged:
                for layer in self.pending:
                    staged.write(layer.along_time[name].astype(dtype, copy=False).tobytes())
        self.pending, self.pending_bytes = [], 0
        give_back_freed_memory()  # the block's layers, before the next ones arrive

    def _along_time_file(self, name: str) -> Path:
        return self.staging / "along-time" / f"{name}.raw"

    def _staged_along_time(self, name: str) -> NDArray[Any]:
        path = self._along_time_file(name)
        values: NDArray[Any] = np.fromfile(path, dtype=self.along_time[name])
        if len(values) != self.count:
            raise GlofnetError(path, f"{len(values)} staged values for {self.count} layers")
        return values

    def _sorted_layers(self, sort_by: Sequence[str]) -> tuple[xr.Dataset, NDArray[np.intp]]:
        """The per-time variables in sorted order, and each sorted layer's position as staged."""
        values = {name: self._staged_along_time(name) for name in self.along_time}
        position = "__position__"
        layers = xr.Dataset(
            {
                **{name: (self.time, column) for name, column in values.items() if name != self.time},
                position: (self.time, np.arange(self.count)),
            },
            coords={self.time: values[self.time]},
        )
        if sort_by:
            layers = layers.sortby(list(sort_by))
        order = np.asarray(layers[position].values, dtype=np.intp)
        return layers.drop_vars(position), order

    def finish(
        self,
        *,
        chunks: Mapping[str, int | None],
        variable_attrs: Mapping[str, Mapping[str, Any]],
        attrs: Mapping[str, Any],
        sort_by: Sequence[str] = (),
        derive: Callable[[xr.Dataset], xr.Dataset] | None = None,
    ) -> xr.Dataset:
        """Sort, add derived variables, rechunk (``None``: the whole dimension), georeference, write.

        Returns the written cube, opened lazily.
        """
        if not self.count:
            raise GlofnetError(self.final, "no layers to write")
        self._flush()
        layers, order = self._sorted_layers(sort_by)
        shape = (len(order), self.grid.height, self.grid.width)
        sizes = {
            dim: min(length, chunks[dim] or length)
            for dim, length in zip((self.time, *SPATIAL_DIMS), shape, strict=True)
        }
        cube = layers.chunk({self.time: sizes[self.time]})
        for name, dtype in self.gridded.items():
            staged = _StagedLayers(self.staging / f"{name}.raw", dtype, shape, order)
            cube[name] = (
                (self.time, *SPATIAL_DIMS),
                da.from_array(  # type: ignore[no-untyped-call]
                    staged, chunks=_read_chunks(sizes, self.time, shape, dtype), lock=False, asarray=False
                ),
            )
        if derive is not None:
            cube = derive(cube)
        for name, values in variable_attrs.items():
            cube[name].attrs = dict(values)
        for name, layer_encoding in self.encoding.items():
            if name in cube.variables:
                cube[name].encoding = dict(layer_encoding)
        cube = georeference(cube, self.grid)
        cube[self.time].attrs = {"standard_name": "time", **cube[self.time].attrs}
        cube.attrs = {"Conventions": "CF-1.8", **attrs}
        encoding: dict[str, dict[str, Any]] = {}
        for key, array in cube.data_vars.items():
            if _is_gridded(array, self.time):
                encoding[str(key)] = {"chunks": tuple(sizes[str(dim)] for dim in array.dims)}
        cube.to_zarr(self.final, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
        shutil.rmtree(self.staging, ignore_errors=True)
        written: xr.Dataset = xr.open_zarr(self.final, consolidated=True)
        return written


def _is_gridded(array: xr.DataArray, time: str) -> bool:
    return time in array.dims and set(SPATIAL_DIMS) <= set(array.dims)


def _read_chunks(
    sizes: Mapping[str, int], time: str, shape: tuple[int, int, int], dtype: np.dtype[Any]
) -> tuple[int, int, int]:
    """Chunks to read staged values in: the cube's time chunk, whole rows of its chunks, at most
    :data:`READ_BYTES` (a whole number of the cube's row chunks, so each read fills whole chunks)."""
    row_bytes = sizes[time] * sizes["y"] * shape[2] * dtype.itemsize
    rows = sizes["y"] * max(1, READ_BYTES // max(1, row_bytes))
    return (sizes[time], min(rows, shape[1]), shape[2])
