"""The cube writer: layers appended in any order come out sorted, rechunked, read a chunk at a time."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS

from stactools_glofnet.core import cube as cube_module
from stactools_glofnet.core.cube import CubeWriter, Layer
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.grids import Grid

GRID = Grid(CRS.from_epsg(32643), Affine(100.0, 0.0, 450000.0, 0.0, -100.0, 4040000.0), 37, 29)


def _values(day: int) -> NDArray[np.float32]:
    rows, columns = np.meshgrid(np.arange(GRID.height), np.arange(GRID.width), indexing="ij")
    values = (day * 10000 + rows * 100 + columns).astype(np.float32)
    values[day % GRID.height, :] = np.nan
    return values


def _layer(day: int, name: str) -> Layer:
    values = _values(day)
    return Layer(
        gridded={"v": values[None], "flag": (values[None] > 5e5).astype(np.uint8)},
        along_time={
            "t": np.array([np.datetime64("2020-01-01", "ns") + np.timedelta64(day, "D")]),
            "name": np.array([name], dtype="<U16"),
        },
    )


def test_layers_in_any_order_come_out_sorted_and_equal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cube_module, "BLOCK_LAYERS", 4)  # several staged blocks
    monkeypatch.setattr(cube_module, "READ_BYTES", 3 * 29 * 37 * 4)  # reads of a few rows
    reads: list[int] = []
    original = cube_module._StagedLayers.__getitem__

    def counting(self: Any, key: Any) -> Any:
        values = original(self, key)
        reads.append(values.nbytes)
        return values

    monkeypatch.setattr(cube_module._StagedLayers, "__getitem__", counting)
    days = list(np.random.default_rng(5).permutation(23))
    writer = CubeWriter(
        tmp_path / "cube.zarr",
        GRID,
        "t",
        layer_encoding={"t": {"units": "days since 2000-01-01", "dtype": "int32"}},
    )
    for day in days:
        writer.append(_layer(int(day), f"layer-{day:02d}"))
    written = writer.finish(
        chunks={"t": 8, "y": 4, "x": None},
        variable_attrs={"v": {"units": "m"}},
        attrs={"title": "test"},
        sort_by=["t"],
        derive=lambda cube: cube.assign(valid=cube["v"].notnull().astype(np.uint8)),
    )
    assert not (tmp_path / "cube-staging").exists()
    opened = xr.open_zarr(tmp_path / "cube.zarr")
    assert list(opened["name"].values) == [f"layer-{day:02d}" for day in range(23)]
    for day in range(23):
        expected = _values(day)
        np.testing.assert_array_equal(opened["v"].isel(t=day).values, expected)
        np.testing.assert_array_equal(opened["flag"].isel(t=day).values, expected > 5e5)
        np.testing.assert_array_equal(opened["valid"].isel(t=day).values, ~np.isnan(expected))
    assert opened["v"].encoding["chunks"] == (8, 4, 37)
    assert opened["t"].encoding["units"] == "days since 2000-01-01"
    assert opened["v"].attrs["units"] == "m" and opened.attrs["title"] == "test"
    assert opened.rio.crs == GRID.crs
    assert written["v"].shape == (23, 29, 37)
    # Staged values are read a time chunk and a few of the cube's row chunks at a time, never more
    # than one block's bytes (here 2 of the 8 row chunks: 8 layers x 8 rows x 37 columns).
    assert reads and max(reads) == 8 * 8 * 37 * 4 <= cube_module.READ_BYTES


def _writer(path: Path) -> CubeWriter:
    return CubeWriter(path / "cube.zarr", GRID, "t", layer_encoding={})


def _changed(**gridded: NDArray[Any]) -> Layer:
    layer = _layer(1, "b")
    return replace(layer, gridded={**layer.gridded, **gridded})


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (replace(_layer(1, "b"), along_time={"t": _layer(1, "b").along_time["t"]}), "not those of the first"),
        (_changed(flag=np.zeros((1, 29, 37), np.int16)), "flag: layers of dtype uint8 and int16"),
        (_changed(v=np.zeros((1, 37, 29), np.float32)), "v: a layer of shape (1, 37, 29), not (1, 29, 37)"),
        (
            replace(_layer(1, "b"), along_time={**_layer(1, "b").along_time, "name": np.array(["b", "c"])}),
            "name: a layer of shape (2,), not (1,)",
        ),
        (
            replace(_layer(1, "b"), along_time={**_layer(1, "b").along_time, "name": np.array(["b" * 17])}),
            "name: layers of dtype <U16 and <U17",
        ),
    ],
)
def test_a_layer_unlike_the_first_is_named(tmp_path: Path, layer: Layer, message: str) -> None:
    writer = _writer(tmp_path)
    writer.append(_layer(0, "a"))
    with pytest.raises(GlofnetError, match=re.escape(message)) as raised:
        writer.append(layer)
    assert str(tmp_path / "cube.zarr") in str(raised.value)


def test_a_cube_without_layers_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GlofnetError, match="no layers to write"):
        _writer(tmp_path).finish(chunks={"t": 8, "y": 4, "x": None}, variable_attrs={}, attrs={})
    assert not (tmp_path / "cube.zarr").exists()


def test_staged_values_cut_short_are_named(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    for day in range(3):
        writer.append(_layer(day, f"layer-{day}"))
    writer._flush()
    staged = tmp_path / "cube-staging" / "v.raw"
    staged.write_bytes(staged.read_bytes()[: -GRID.width * 4])  # the last layer's last row lost
    with pytest.raises(GlofnetError, match=r"staged layer 2 is cut short") as raised:
        writer.finish(chunks={"t": 8, "y": None, "x": None}, variable_attrs={}, attrs={})
    assert str(staged) in str(raised.value)


def test_per_time_values_are_staged_so_the_writer_holds_nothing_per_layer(tmp_path: Path) -> None:
    """An ITS_LIVE pair's granule id is 1,020 bytes as <U255: held in memory to the end, the
    writer would grow with the pairs; staged with the pixels it stays the size of one block."""
    import tracemalloc

    tiny = Grid(GRID.crs, GRID.transform, 2, 2)

    def layer(day: int) -> Layer:
        when = np.datetime64("2020-01-01T00:00:00", "ns") + np.timedelta64(day * 3600, "s")
        name = f"pair-{day:06d}-" + "x" * 200
        return Layer(
            gridded={"v": np.full((1, 2, 2), day, np.float32)},
            along_time={
                "t": np.array([when]),
                "name": np.array([name], dtype="<U255"),
                "short": np.array(["a"]),
            },
        )

    writer = CubeWriter(tmp_path / "cube.zarr", tiny, "t", layer_encoding={})
    days = np.random.default_rng(3).permutation(64 * 12)
    tracemalloc.start()
    try:
        for day in days[:64]:
            writer.append(layer(int(day)))
        before = tracemalloc.get_traced_memory()[0]
        for day in days[64:]:
            writer.append(layer(int(day)))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024  # 704 more layers: 720 KiB of names had they stayed in memory
    written = writer.finish(
        chunks={"t": 100, "y": None, "x": None}, variable_attrs={}, attrs={}, sort_by=["t"]
    )
    assert list(written["name"].values) == [f"pair-{day:06d}-" + "x" * 200 for day in range(64 * 12)]
    assert written["name"].dtype == np.dtype("<U255") and set(written["short"].values) == {"a"}
    np.testing.assert_array_equal(written["v"].values[:, 0, 0], np.arange(64 * 12, dtype=np.float32))


def test_per_time_values_that_cannot_be_staged_are_named(tmp_path: Path) -> None:
    layer = replace(_layer(0, "a"), along_time={**_layer(0, "a").along_time, "name": np.array(["a"], object)})
    with pytest.raises(GlofnetError, match="name: values of dtype object cannot be staged"):
        _writer(tmp_path).append(layer)


def test_staged_per_time_values_cut_short_are_named(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    for day in range(3):
        writer.append(_layer(day, f"layer-{day}"))
    writer._flush()
    staged = tmp_path / "cube-staging" / "along-time" / "name.raw"
    staged.write_bytes(staged.read_bytes()[:-64])  # the last layer's name (16 characters) lost
    with pytest.raises(GlofnetError, match="2 staged values for 3 layers") as raised:
        writer.finish(chunks={"t": 8, "y": None, "x": None}, variable_attrs={}, attrs={})
    assert str(staged) in str(raised.value)
