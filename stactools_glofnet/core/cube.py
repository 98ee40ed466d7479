"""Every Zarr cube the catalog publishes: one CF grid mapping, staged layer by layer, rechunked.

Cubes are Zarr v2 (consolidated), the format GDAL, xarray and zarr all read. Each carries the
grid mapping as a ``spatial_ref`` coordinate with pyproj's CF attributes plus ``crs_wkt``,
``spatial_ref`` (WKT) and GDAL's ``GeoTransform``, and every gridded variable names it in
``grid_mapping``; so ``xr.open_zarr(href).rio.crs`` and GDAL both find the CRS without help.
:class:`CubeWriter` appends one layer (a date, an image pair) at a time to a staging store and
then writes the final cube sorted and rechunked for time-series reads: memory holds one block of
layers (at most 64 MiB) while appending and one chunk per task while rechunking.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import xarray as xr
from pyproj import CRS as ProjCRS

from stactools_glofnet.core.grids import Grid

GRID_MAPPING: Final = "spatial_ref"
BLOCK_LAYERS: Final = 64
BLOCK_BYTES: Final = 64 * 2**20
"""Layers buffered before one append to the staging store: at most this many, or this many bytes."""
SPATIAL_DIMS: Final = ("y", "x")


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


class CubeWriter:
    """Builds one (time, y, x) cube from layers appended one at a time.

    ``staging_encoding`` fixes how layers are stored while staging (time units, spatial blocks
    so that the rechunk reads one block of every date at a time, never whole layers).
    """

    def __init__(
        self, final: Path, grid: Grid, time: str, *, staging_encoding: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Prepare to write the cube at ``final`` (staged beside it) on ``grid`` along ``time``."""
        self.final, self.grid, self.time = final, grid, time
        self.staging = final.with_name(final.stem + "-staging.zarr")
        self.staging_encoding = {name: dict(value) for name, value in staging_encoding.items()}
        self.count = 0
        self.pending: list[xr.Dataset] = []
        self.pending_bytes = 0
        self.staged = 0

    def append(self, layer: xr.Dataset) -> None:
        """Add one layer (length 1 along the time dimension).

        Layers are written a block at a time (:data:`BLOCK_LAYERS` or :data:`BLOCK_BYTES`,
        whichever comes first): one Zarr append per layer would cost more than the layer's work.
        """
        self.pending.append(layer)
        self.pending_bytes += layer.nbytes
        self.count += 1
        if len(self.pending) >= BLOCK_LAYERS or self.pending_bytes >= BLOCK_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        block = self.pending[0] if len(self.pending) == 1 else xr.concat(self.pending, dim=self.time)
        if self.staged == 0:
            block.to_zarr(
                self.staging, mode="w", zarr_format=2, consolidated=False, encoding=self.staging_encoding
            )
        else:
            block.to_zarr(self.staging, append_dim=self.time, zarr_format=2, consolidated=False)
        self.staged += len(self.pending)
        self.pending, self.pending_bytes = [], 0

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
        self._flush()
        staged = xr.open_zarr(self.staging, consolidated=False)
        cube = staged.sortby(list(sort_by)) if sort_by else staged
        if derive is not None:
            cube = derive(cube)
        sizes = {dim: min(cube.sizes[dim], size) if size else cube.sizes[dim] for dim, size in chunks.items()}
        cube = cube.chunk(sizes)
        for name, values in variable_attrs.items():
            cube[name].attrs = dict(values)
        cube = georeference(cube.drop_vars(["x", "y"]), self.grid)
        cube[self.time].attrs = {"standard_name": "time", **cube[self.time].attrs}
        cube.attrs = {"Conventions": "CF-1.8", **attrs}
        encoding: dict[str, dict[str, Any]] = {}
        for variable in cube.variables.values():
            variable.encoding.pop("chunks", None)
            variable.encoding.pop("preferred_chunks", None)
        for key, array in cube.data_vars.items():
            if self.time in array.dims and set(SPATIAL_DIMS) <= set(array.dims):
                encoding[str(key)] = {"chunks": tuple(sizes[str(dim)] for dim in array.dims)}
        cube.to_zarr(self.final, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
        shutil.rmtree(self.staging, ignore_errors=True)
        written: xr.Dataset = xr.open_zarr(self.final, consolidated=True)
        return written
