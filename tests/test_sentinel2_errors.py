"""Bad Sentinel-2 input: one line naming the file, exit 1, nothing written; overcast is skipped."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner, Result
from stactools.cli.cli import cli

from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.raster import write_cog

SCENE = "S2A_43SDA_20210420_0_L2A"


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["glofnet", *args])


@pytest.fixture
def source(tmp_path: Path, small_sample: Path) -> Path:
    """A SOURCE with two real-layout scenes and no sample manifest (so files can be edited)."""
    root = tmp_path / "source"
    for scene in (SCENE, "S2B_43SDA_20220510_0_L2A"):
        shutil.copytree(small_sample / "sentinel2" / scene, root / "sentinel2" / scene)
    return root


def _rewrite(path: Path, change: Callable[[np.ndarray, Grid], tuple[np.ndarray, Grid]]) -> None:
    with rasterio.open(path) as dataset:
        data = dataset.read(1)
        grid = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
        nodata = dataset.nodata
    data, grid = change(data, grid)
    path.unlink()
    write_cog(path, data, grid, nodata=nodata)


def _another_crs(data: np.ndarray, grid: Grid) -> tuple[np.ndarray, Grid]:
    return data, Grid(rasterio.crs.CRS.from_epsg(32644), grid.transform, grid.width, grid.height)


def _fewer_rows(data: np.ndarray, grid: Grid) -> tuple[np.ndarray, Grid]:
    return data[: grid.height // 2], Grid(grid.crs, grid.transform, grid.width, grid.height // 2)


def _far_east(data: np.ndarray, grid: Grid) -> tuple[np.ndarray, Grid]:
    t = grid.transform
    return data, Grid(grid.crs, Affine(t.a, 0, t.c + 200_000, 0, t.e, t.f), grid.width, grid.height)


def _assert_one_line_error(result: Result, path: Path, words: str, dest: Path) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert str(path) in lines[0] and words in lines[0], lines[0]
    assert not dest.exists()


def test_missing_band_asset(source: Path, tmp_path: Path) -> None:
    item = source / "sentinel2" / SCENE / f"{SCENE}.json"
    document = json.loads(item.read_text())
    del document["assets"]["nir"]
    item.write_text(json.dumps(document))
    dest = tmp_path / "dest"
    _assert_one_line_error(
        _run("create-collection", "sentinel2", str(source), str(dest), "--strict"), item, "'nir'", dest
    )


@pytest.mark.parametrize(
    ("band", "change", "words"),
    [("B03.tif", _another_crs, "EPSG:32644"), ("SCL.tif", _fewer_rows, "covers")],
)
def test_band_file_that_disagrees_with_its_scene(
    source: Path,
    tmp_path: Path,
    band: str,
    change: Callable[[np.ndarray, Grid], tuple[np.ndarray, Grid]],
    words: str,
) -> None:
    path = source / "sentinel2" / SCENE / band
    _rewrite(path, change)
    dest = tmp_path / "dest"
    _assert_one_line_error(
        _run("create-collection", "sentinel2", str(source), str(dest), "--strict"), path, words, dest
    )


def test_truncated_cog(source: Path, tmp_path: Path) -> None:
    path = source / "sentinel2" / SCENE / "B04.tif"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "dest"
    _assert_one_line_error(
        _run("create-collection", "sentinel2", str(source), str(dest), "--strict"), path, "unreadable", dest
    )


def test_scene_outside_the_aoi(source: Path, tmp_path: Path) -> None:
    folder = source / "sentinel2" / SCENE
    for band in folder.glob("*.tif"):
        _rewrite(band, _far_east)
    item = folder / f"{SCENE}.json"
    dest = tmp_path / "dest"
    _assert_one_line_error(
        _run("create-collection", "sentinel2", str(source), str(dest), "--strict"),
        item,
        "outside the AOI",
        dest,
    )


def test_overcast_scene_is_skipped_not_an_error(small_sample: Path, tmp_path: Path) -> None:
    overcast = "S2A_43SDA_20200715_0_L2A"
    item = small_sample / "sentinel2" / overcast / f"{overcast}.json"
    dest = tmp_path / "item"
    result = _run("create-item", "sentinel2", str(item), str(dest))
    assert result.exit_code == 0, result.output
    assert "skipped: 100 % of the AOI is cloud" in result.output
    assert not dest.exists()


def test_create_item_builds_one_valid_scene(small_sample: Path, tmp_path: Path, schema_dir: Path) -> None:
    import pystac

    from stactools_glofnet.core.schemas import offline_first_validation

    item_path = small_sample / "sentinel2" / SCENE / f"{SCENE}.json"
    dest = tmp_path / "item"
    result = _run("create-item", "sentinel2", str(item_path), str(dest))
    assert result.exit_code == 0, result.output
    item = pystac.Item.from_file(str(dest / f"{SCENE}.json"))
    with offline_first_validation([schema_dir]):
        item.validate()
    assert all((dest / Path(asset.href).name).is_file() for asset in item.assets.values())


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d["properties"].update({"proj:epsg": "abc"}), "proj:epsg"),
        (lambda d: d["properties"].update({"earthsearch:boa_offset_applied": "false"}), "true or false"),
        (lambda d: d["properties"].update({"s2:processing_baseline": "four"}), "s2:processing_baseline"),
        (lambda d: d["assets"]["green"].update({"raster:bands": {"scale": 1}}), "malformed raster:bands"),
        (lambda d: d["properties"].update({"datetime": "2021-04-20T05:50:10"}), "time zone"),
    ],
)
def test_malformed_item_fields(
    source: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], words: str
) -> None:
    item = source / "sentinel2" / SCENE / f"{SCENE}.json"
    document = json.loads(item.read_text())
    edit(document)
    item.write_text(json.dumps(document))
    dest = tmp_path / "dest"
    _assert_one_line_error(
        _run("create-collection", "sentinel2", str(source), str(dest), "--strict"), item, words, dest
    )


def test_create_item_will_not_overwrite_another_directory(small_sample: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep")
    item = small_sample / "sentinel2" / SCENE / f"{SCENE}.json"
    result = _run("create-item", "sentinel2", str(item), str(dest))
    assert result.exit_code == 1 and "choose a new or empty directory" in result.output
    assert (dest / "notes.txt").read_text() == "keep"
