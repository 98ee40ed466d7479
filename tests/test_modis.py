"""The MODIS wing against the sample's planted truth, the real granule, and xarray reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
import xarray as xr
from click.testing import CliRunner, Result
from rasterio.warp import transform
from stactools.cli.cli import cli

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.grids import tile_windows
from stactools_glofnet.modis.names import parse
from stactools_glofnet.modis.read import read_geotiffs, read_hdf4
from stactools_glofnet.modis.sample import production_stamp

REAL = "MOD11A1.A2021227.h11v05.061.2021228105320.hdf"


@pytest.fixture(scope="module")
def collection(built_catalog: Path) -> pystac.Collection:
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    child = root.get_child("glofnet-modis-lst")
    assert isinstance(child, pystac.Collection)
    return child


def cog_set(small_sample: Path, date: str, tile: str) -> dict[str, Path]:
    """The sample's Planetary Computer COGs of one tile-day (its current production), by SDS."""
    day = pd.Timestamp(date).date()
    paths: dict[str, Path] = {}
    for path in (small_sample / "modis").rglob(f"MOD11A1.A{day:%Y%j}.{tile}.061.*_*.tif"):
        name = parse(path)
        if name is not None and name.sds is not None and name.production == production_stamp(day):
            paths[name.sds] = path
    return paths


@pytest.fixture(scope="module")
def truth(small_sample: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((small_sample / "truth.json").read_text())["modis"]
    return result


def test_sample_hdf4_has_the_structure_of_the_real_granule(small_sample: Path, shared_dir: Path) -> None:
    real = read_hdf4(shared_dir / "real-data" / "modis" / REAL)
    sample = read_hdf4(sorted((small_sample / "modis").rglob("*.hdf"))[0])
    for name in ("LST_Day_1km", "LST_Night_1km", "QC_Day", "QC_Night"):
        assert sample.bands[name].dtype == real.bands[name].dtype and sample.bands[name].shape == (1200, 1200)
    assert sample.grid.crs == real.grid.crs
    assert sample.grid.transform.a == pytest.approx(real.grid.transform.a)


def test_trend_is_recovered(collection: pystac.Collection, truth: dict[str, Any]) -> None:
    trend = json.loads(Path(collection.assets["lst_trend"].get_absolute_href() or "").read_text())
    assert trend["trend_k_per_decade"] == pytest.approx(truth["trend_k_per_decade"], abs=0.1)
    low, high = trend["trend_ci95_k_per_decade"]
    assert low <= truth["trend_k_per_decade"] <= high
    assert trend["mann_kendall"]["trend"] == "increasing" and trend["mann_kendall"]["p"] < 0.05
    assert len(trend["seasonal_cycle_k"]) == 12


def test_coverage_equals_the_planted_gaps(collection: pystac.Collection, truth: dict[str, Any]) -> None:
    series = pd.read_parquet(collection.assets["lst_daily"].get_absolute_href())
    by_day = series.set_index(pd.to_datetime(series["date"]).dt.date.astype(str))
    for day in truth["days"]:
        assert by_day.loc[day["date"], "aoi_coverage_day"] == pytest.approx(
            day["aoi_valid_fraction_day"], abs=1e-6
        )
    missing = by_day.loc[truth["missing_tile_day"]]
    assert missing["tiles"] == "h24v05"


def test_mosaic_has_no_seam(small_sample: Path, content: CatalogContent, truth: dict[str, Any]) -> None:
    clear = [
        d["date"] for d in truth["days"] if d["cloud_fraction"] == 0.0 and d["date"] not in truth["hdf4_days"]
    ]
    steps_across, steps_within = [], []
    for date in clear[:10]:
        tiles = {}
        for tile in ("h23v05", "h24v05"):
            paths = cog_set(small_sample, date, tile)
            tiles[tile] = read_geotiffs(paths).bands["LST_Day_1km"].astype(float) * 0.02
        west, east = tiles["h23v05"], tiles["h24v05"]
        both = (west[:, -1] > 0) & (east[:, 0] > 0)
        steps_across.append(np.abs(east[both, 0] - west[both, -1]).mean())
        steps_within.append(np.abs(np.diff(east[:, :5], axis=1)).mean())
    assert np.mean(steps_across) < 2 * np.mean(steps_within)


def test_cube_opens_from_its_asset_and_equals_dn_times_scale(
    collection: pystac.Collection, small_sample: Path, content: CatalogContent, truth: dict[str, Any]
) -> None:
    asset = collection.assets["lst_cube"]
    cube = xr.open_dataset(asset.get_absolute_href() or "", **asset.extra_fields["xarray:open_kwargs"])
    assert cube["LST_Day"].attrs["units"] == "K" and set(asset.extra_fields["cube:dimensions"]) == {
        "time",
        "x",
        "y",
    }
    day = next(
        d for d in truth["days"] if 0 < d["cloud_fraction"] < 1 and d["date"] not in truth["hdf4_days"]
    )
    values = cube["LST_Day"].sel(time=day["date"]).values
    xs, ys = np.meshgrid(cube["x"].values, cube["y"].values)
    spec = content.processing.grids["modis"]
    sx, sy = transform("EPSG:32643", spec.crs, xs.ravel().tolist(), ys.ravel().tolist())
    checked = 0
    for window in tile_windows(spec, content.geometry.aoi.bbox):
        tile = read_geotiffs(cog_set(small_sample, day["date"], window.tile))
        rows, cols = rasterio.transform.rowcol(tile.grid.transform, sx, sy)
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < tile.grid.height) & (cols >= 0) & (cols < tile.grid.width)
        dn = tile.bands["LST_Day_1km"][rows[inside], cols[inside]]
        qc = tile.bands["QC_Day"][rows[inside], cols[inside]]
        got = values.ravel()[inside]
        good = (dn > 0) & (qc == 0)
        exact = np.isclose(got[good], dn[good] * 0.02, rtol=1e-6)
        assert exact.mean() > 0.95
        # The rest sit within float rounding of a pixel edge, where GDAL picks the neighbour:
        # their values are still exactly a neighbouring source pixel's DN x 0.02.
        lst = tile.bands["LST_Day_1km"].astype(np.float64) * 0.02
        for r, c, v in zip(
            rows[inside][good][~exact], cols[inside][good][~exact], got[good][~exact], strict=True
        ):
            neighbours = lst[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2]
            assert np.isnan(v) or np.isclose(neighbours, v, rtol=1e-6).any(), (r, c, v)
        assert np.isnan(got[dn == 0]).mean() > 0.95
        checked += int(good.sum())
    assert checked > 100


def test_yearly_items_cover_the_record(collection: pystac.Collection) -> None:
    items = sorted(collection.get_items(recursive=True), key=lambda i: i.id)
    assert [i.id for i in items] == [f"glofnet-modis-lst-{y}" for y in range(2018, 2023)]
    for item in items:
        assert set(item.assets) == {"lst_day_mean", "lst_night_mean", "thumbnail"}
        asset = collection.assets["lst_cube"]
        start, end = item.common_metadata.start_datetime, item.common_metadata.end_datetime
        assert start is not None and end is not None and item.datetime is not None
        assert start <= item.datetime <= end and item.datetime.year == int(item.id[-4:])
        cube = xr.open_dataset(asset.get_absolute_href() or "", **asset.extra_fields["xarray:open_kwargs"])
        year = cube.sel(time=slice(start.date().isoformat(), end.date().isoformat()))
        assert year.sizes["time"] == item.properties["glofnet:days"]
        assert set(pd.to_datetime(year["time"].values).year) == {int(item.id[-4:])}


# ---------------------------------------------------------------------------- bad input
def _source(small_sample: Path, tmp_path: Path, days: int = 3) -> Path:
    root = tmp_path / "source" / "modis"
    files = sorted((small_sample / "modis").rglob("*.tif"))[: 8 * days]
    for path in files:
        target = root / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return root


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["glofnet", *args])


def _rewrite(path: Path, **changes: Any) -> None:
    with rasterio.open(path) as dataset:
        data, profile, scales = dataset.read(1), dataset.profile, dataset.scales
    profile.update(changes.get("profile", {}))
    path.unlink()
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data, 1)
        dataset.scales = changes.get("scales", scales)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"scales": (0.01,)}, "with scale 0.01, not raw uint16 DN with scale 0.02"),
        ({"profile": {"crs": "EPSG:4326"}}, "not in the MODIS sinusoidal projection"),
    ],
)
def test_bad_geotiff_is_one_line(
    small_sample: Path, tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    source = _source(small_sample, tmp_path)
    victim = sorted(source.rglob("*LST_Day_1km.tif"))[1]
    _rewrite(victim, **change)
    dest = tmp_path / "dest"
    result = _run("create-collection", "modis", str(source.parent), str(dest), "--strict")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(victim) in lines[0] and words in lines[0], result.output
    assert not dest.exists()


def test_truncated_hdf4_granule_is_one_line(small_sample: Path, tmp_path: Path) -> None:
    source = _source(small_sample, tmp_path)
    granule = sorted((small_sample / "modis").rglob("*.hdf"))[0]
    victim = source / granule.parent.name / granule.name
    victim.write_bytes(granule.read_bytes()[:5000])
    dest = tmp_path / "dest"
    result = _run("create-collection", "modis", str(source.parent), str(dest), "--strict")
    assert (
        result.exit_code == 1
        and str(victim) in result.output
        and len(result.output.strip().splitlines()) == 1
    )


def test_trunk_mean_does_not_jump_with_the_clear_pixels() -> None:
    from stactools_glofnet.modis.collection import trunk_series

    relief = np.array([[260.0, 270.0], [265.0, 275.0]])  # fixed offsets across the trunk
    days = np.stack([relief + 0.1 * d for d in range(4)])
    days[1, 0, :] = np.nan  # the cold row is cloudy on day 1
    days[2] = np.nan  # day 2 is overcast
    lst = xr.DataArray(days, dims=("time", "y", "x"))
    means, coverage = trunk_series(lst, np.ones((2, 2), dtype=bool), 0.25)
    np.testing.assert_allclose(means[[0, 1, 3]], [267.5 + 0.0, 267.5 + 0.1, 267.5 + 0.3], atol=0.05)
    assert np.isnan(means[2]) and coverage.tolist() == [1.0, 0.5, 0.0, 1.0]


def test_every_cube_pixel_has_data_on_some_day(collection: pystac.Collection) -> None:
    asset = collection.assets["lst_cube"]
    cube = xr.open_dataset(asset.get_absolute_href() or "", **asset.extra_fields["xarray:open_kwargs"])
    assert bool(cube["LST_Day"].notnull().any(dim="time").all())  # the source covers the whole grid


def test_days_are_sent_in_date_order_blocks_and_let_go_as_each_block_is_made(
    small_sample: Path, content: CatalogContent
) -> None:
    """Every discovered tile-day once, in date order, DAYS_PER_JOB to a block; a day's sources
    leave the stage's table when its block is made, so the stage does not hold them to its end."""
    from stactools_glofnet.modis.collection import DAYS_PER_JOB, _blocks_taken_out
    from stactools_glofnet.modis.discover import discover

    days = discover(small_sample / "modis", content).days
    expected = list(days.items())
    assert len(expected) > 2 * DAYS_PER_JOB
    blocks, left = [], []
    for block in _blocks_taken_out(days):
        blocks.append(block)
        left.append(len(days))
    assert [day for block in blocks for day in block] == expected
    assert [len(block) for block in blocks[:-1]] == [DAYS_PER_JOB] * (len(blocks) - 1)
    assert left == [len(expected) - sum(len(b) for b in blocks[: n + 1]) for n in range(len(blocks))]
    assert not days
