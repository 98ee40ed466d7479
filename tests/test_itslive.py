"""The ITS_LIVE wing against the sample's planted truth, the real granules, and xarray reads."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pystac
import pytest
import xarray as xr
from click.testing import CliRunner, Result
from rio_cogeo.cogeo import cog_validate
from stactools.cli.cli import cli

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.wing import BuildOptions, WingInputs
from stactools_glofnet.itslive.process import Skipped, filter_granule, local_median
from stactools_glofnet.itslive.read import read_granule
from stactools_glofnet.sample.framework import SIZES, make_timeline

REAL_V2 = (
    "LT05_L1GS_219121_19841206_20200918_02_T2_X_LT05_L1GS_226120_19850124_20200918_02_T2_G0120V02_P000.nc"
)
REAL_V1 = (
    "LE07_L1GT_001113_20121118_20161127_01_T2_X_LE07_L1GT_232113_20121104_20161127_01_T2_G0240V01_P059.nc"
)


@pytest.mark.parametrize("seed", range(6))
def test_local_median_is_numpy_s_nanmedian_of_each_window(seed: int) -> None:
    """Odd and even counts of finite values, ties, all-NaN windows and edges: the same float32
    values as ``np.nanmedian`` over the padded windows."""
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 60, 2)
    values = rng.normal(500, 300, (height, width)).astype(np.float32)
    if seed % 2:
        values = (np.round(values / 50) * 50).astype(np.float32)  # many ties
    values[rng.random(values.shape) < (0.1, 0.5, 0.9)[seed % 3]] = np.nan
    padded = np.pad(values, 2, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN windows
        expected = np.nanmedian(windows, axis=(-2, -1)).astype(np.float32)
    got = local_median(values, 5)
    assert got.dtype == np.float32 and np.array_equal(got, expected, equal_nan=True)
    assert np.isnan(got).sum() == (~np.isfinite(windows).any(axis=(-2, -1))).sum()


@pytest.fixture(scope="module")
def collection(built_catalog: Path) -> pystac.Collection:
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    child = root.get_child("glofnet-itslive")
    assert isinstance(child, pystac.Collection)
    return child


@pytest.fixture(scope="module")
def series(collection: pystac.Collection) -> pd.DataFrame:
    return pd.read_parquet(collection.assets["velocity_daily"].get_absolute_href())


def _granules(small_sample: Path) -> list[Path]:
    return sorted((small_sample / "itslive").glob("*.nc"))


# ------------------------------------------------------------------------------ reader
def test_sample_granule_has_the_structure_of_the_real_v2_granule(
    small_sample: Path, shared_dir: Path
) -> None:
    real = xr.open_dataset(
        shared_dir / "real-data" / "itslive" / REAL_V2, engine="h5netcdf", mask_and_scale=False
    )
    sample = xr.open_dataset(_granules(small_sample)[0], engine="h5netcdf", mask_and_scale=False)
    for name in ("vx", "vy", "v", "v_error", "chip_size_width", "chip_size_height", "interp_mask", "x", "y"):
        assert sample[name].dtype == real[name].dtype, name
        assert sample[name].dims == real[name].dims, name
        assert sample[name].attrs.get("_FillValue") == real[name].attrs.get("_FillValue"), name
        assert sample[name].attrs.get("grid_mapping") == real[name].attrs.get("grid_mapping"), name
    for name in ("mapping", "img_pair_info"):
        assert sample[name].dims == () and sample[name].dtype.kind == real[name].dtype.kind == "U"
    real_info, sample_info = real["img_pair_info"].attrs, sample["img_pair_info"].attrs
    for key in (
        "id_img1",
        "id_img2",
        "acquisition_date_img1",
        "acquisition_date_img2",
        "date_center",
        "date_dt",
        "mission_img1",
        "satellite_img1",
        "sensor_img1",
        "roi_valid_percentage",
    ):
        assert key in real_info and key in sample_info, key
    for key in ("grid_mapping_name", "spatial_epsg", "crs_wkt", "GeoTransform"):
        assert key in real["mapping"].attrs and key in sample["mapping"].attrs, key
    assert {"Conventions", "title", "autoRIFT_software_version", "scene_pair_type"} <= set(sample.attrs)
    assert sample.attrs["Conventions"] == real.attrs["Conventions"] == "CF-1.8"


def test_real_v2_granule_is_read_and_skipped_for_having_no_valid_pixels(
    shared_dir: Path, content: CatalogContent
) -> None:
    granule = read_granule(shared_dir / "real-data" / "itslive" / REAL_V2)
    assert granule.crs.to_epsg() == 3031
    assert granule.acquired[0] == dt.datetime(1984, 12, 6, 12, 52, 19, 377000, tzinfo=dt.UTC)
    assert granule.acquired[1].date() == dt.date(1985, 1, 24)
    assert granule.centre.date() == dt.date(1984, 12, 31)
    assert granule.date_dt_days == pytest.approx(49.03, abs=0.01)
    assert granule.group == "landsat" and granule.platforms == ("landsat-5", "landsat-5")
    assert granule.grid.shape == (1879, 2016)
    # x/y are pixel centres: the corner is half a pixel before the GeoTransform's "origin".
    assert (granule.grid.transform.c, granule.grid.transform.f) == (-849967.5, -457072.5)
    result = filter_granule(granule, content)
    assert isinstance(result, Skipped) and "no valid velocity pixels" in result.reason


def test_real_v1_granule_is_refused_in_one_line(shared_dir: Path) -> None:
    with pytest.raises(GlofnetError, match="version 1 granules are not supported") as caught:
        read_granule(shared_dir / "real-data" / "itslive" / REAL_V1)
    assert "\n" not in str(caught.value)


# ----------------------------------------------------------------------------- outputs
def test_every_cog_is_valid_and_items_span_their_pair(collection: pystac.Collection) -> None:
    items = list(collection.get_items(recursive=True))
    assert len(items) >= 40
    for item in items:
        start, end = item.common_metadata.start_datetime, item.common_metadata.end_datetime
        assert start and end and item.datetime and start < item.datetime < end
        assert len(item.properties["glofnet:platforms"]) == 2
        for key in ("v", "vx", "vy", "v_error"):
            valid, errors, _ = cog_validate(item.assets[key].get_absolute_href() or "")
            assert valid, (item.id, key, errors)


def test_cube_opens_from_its_asset_and_equals_the_filtered_granules(
    collection: pystac.Collection, small_sample: Path, content: CatalogContent
) -> None:
    asset = collection.assets["velocity_cube"]
    cube = xr.open_dataset(asset.get_absolute_href() or "", **asset.extra_fields["xarray:open_kwargs"])
    assert set(asset.extra_fields["cube:dimensions"]) == {"mid_date", "x", "y"}
    assert cube["v"].dims == ("mid_date", "y", "x") and cube["v"].attrs["units"] == "m/yr"
    assert bool((np.diff(cube["mid_date"].values) >= np.timedelta64(0)).all())
    rng = np.random.default_rng(1)
    checked = 0
    for path in _granules(small_sample)[::4]:
        result = filter_granule(read_granule(path), content)
        if isinstance(result, Skipped):
            continue
        index = list(cube["granule_id"].values).index(result.granule.id)
        rows, cols = rng.integers(0, cube.sizes["y"], 300), rng.integers(0, cube.sizes["x"], 300)
        for name in ("v", "vx", "v_error"):
            np.testing.assert_array_equal(
                cube[name].values[index, rows, cols], result.velocity[name][rows, cols]
            )
        checked += 1
    assert checked >= 5


def test_seasonal_amplitude_and_phase_are_recovered(series: pd.DataFrame, small_sample: Path) -> None:
    truth = json.loads((small_sample / "truth.json").read_text())["itslive"]
    days = pd.to_datetime(series["date"])
    quiet = (series["flag"] == "measured") & (days >= "2020-03-01")
    doy = days[quiet].dt.day_of_year.to_numpy(dtype=float)
    speed = series.loc[quiet, "glacier_mean_m_per_yr"].to_numpy()
    angle = 2 * np.pi * doy / 365.25
    design = np.column_stack([np.ones_like(angle), np.cos(angle), np.sin(angle)])
    (mean, a, b), *_ = np.linalg.lstsq(design, speed, rcond=None)
    amplitude = np.hypot(a, b) / mean
    phase = (np.degrees(np.arctan2(b, a)) % 360) * 365.25 / 360
    assert amplitude == pytest.approx(truth["seasonal_amplitude"], rel=0.15)
    assert abs(phase - truth["seasonal_peak_doy"]) <= 15


def test_surge_window_is_recovered(series: pd.DataFrame, content: CatalogContent) -> None:
    days = pd.to_datetime(series["date"])
    speed = series["glacier_mean_m_per_yr"]
    quiet = speed[days >= "2020-03-01"].median()
    surging = days[speed > 3 * quiet]
    timeline = make_timeline(content, SIZES["small"], 20190622)
    planted_days = timeline.days()
    planted = timeline.glacier_speed_m_per_yr(planted_days)
    planted_quiet = np.median(planted[planted_days >= np.datetime64("2020-03-01")])
    planted_last = pd.Timestamp(planted_days[planted > 3 * planted_quiet].max())
    assert abs((surging.max() - planted_last).days) <= 30
    assert surging.min() <= pd.Timestamp("2018-12-01")  # surging from the start of the span
    assert speed[(days >= "2018-04-01") & (days <= "2019-08-01")].max() / 365.25 > 10  # m/day at the peaks


def test_interpolation_never_bridges_a_gap_longer_than_the_maximum(
    series: pd.DataFrame, content: CatalogContent
) -> None:
    max_gap = content.processing.harmonized.max_gap_days["itslive"]
    runs = (series["flag"] != "interpolated").cumsum()[series["flag"] == "interpolated"]
    assert runs.value_counts().max() < max_gap
    assert (series["flag"] == "missing").any()
    assert series.loc[series["flag"] == "missing", "glacier_mean_m_per_yr"].isna().all()


def test_bad_granules_are_skipped_with_their_reason(
    collection: pystac.Collection, small_sample: Path
) -> None:
    truth = json.loads((small_sample / "truth.json").read_text())["itslive"]["granules"]
    flawed = {Path(g["granule"]).stem: g["flaw"] for g in truth if g["flaw"]}
    skipped = {entry["id"]: entry["reason"] for entry in collection.extra_fields["glofnet:skipped"]}
    assert set(skipped) == set(flawed)
    expected = {
        "sparse": "glacier pixels valid",
        "noisy": "glacier pixels valid",
        "long": "date separation",
        "very_long": "date separation",
        "outside": "outside the AOI",
    }
    for granule, flaw in flawed.items():
        assert expected[flaw] in skipped[granule]


# ---------------------------------------------------------------------------- bad input
def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["glofnet", *args])


def _edit(path: Path, change: Any) -> None:
    with xr.open_dataset(path, engine="h5netcdf", mask_and_scale=False) as ds:
        edited = change(ds.load())
    path.unlink()
    edited.to_netcdf(path, engine="h5netcdf")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("text", "not a NetCDF4 granule"),
        (lambda ds: ds.drop_vars("v"), "'v' is missing"),
        (lambda ds: ds.drop_vars("mapping"), "'mapping' is missing"),
        (lambda ds: ds.assign(mapping=ds["mapping"].assign_attrs(spatial_epsg=99999)), "not a known EPSG"),
        (
            lambda ds: ds.assign(
                img_pair_info=ds["img_pair_info"].assign_attrs(acquisition_date_img1="June 1st")
            ),
            "is not a date",
        ),
        (lambda ds: ds.isel(y=slice(None, None, -1)), "north-up"),
        (lambda ds: ds.assign(v=ds["v"].transpose("x", "y")), "expected ('y', 'x')"),
        (
            lambda ds: ds.assign(img_pair_info=ds["img_pair_info"].assign_attrs(id_img2="XYZ")),
            "unknown sensor",
        ),
    ],
)
def test_bad_granule_is_one_line_naming_the_file(
    small_sample: Path, tmp_path: Path, change: Any, words: str
) -> None:
    source = tmp_path / "source" / "itslive"
    source.mkdir(parents=True)
    for path in _granules(small_sample)[:3]:
        shutil.copy(path, source / path.name)
    victim = sorted(source.glob("*.nc"))[1]
    if change == "text":
        victim.write_text("this is not NetCDF")
    else:
        _edit(victim, change)
    dest = tmp_path / "dest"
    result = _run("create-collection", "itslive", str(source.parent), str(dest), "--strict")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(victim) in lines[0] and words in lines[0], result.output
    assert not dest.exists()
    result = _run("create-collection", "itslive", str(source.parent), str(dest))  # without --strict
    assert result.exit_code == 0, result.output
    (skipped,) = pystac.Collection.from_file(str(dest / "collection.json")).extra_fields["glofnet:skipped"]
    assert skipped["id"] == victim.stem and words in skipped["reason"] and skipped["kind"] == "input"


def test_real_granule_beside_sample_ones_is_recorded_as_skipped(
    small_sample: Path, shared_dir: Path, tmp_path: Path, schema_dir: Path
) -> None:
    source = tmp_path / "source" / "itslive"
    source.mkdir(parents=True)
    for path in _granules(small_sample)[:4]:
        shutil.copy(path, source / path.name)
    shutil.copy(shared_dir / "real-data" / "itslive" / REAL_V2, source / REAL_V2)
    dest = tmp_path / "dest"
    result = _run(
        "create-collection", "itslive", str(source.parent), str(dest), "--schema-dir", str(schema_dir)
    )
    assert result.exit_code == 0, result.output
    collection = json.loads((dest / "collection.json").read_text())
    reasons = {entry["id"]: entry["reason"] for entry in collection["glofnet:skipped"]}
    assert "no valid velocity pixels" in reasons[Path(REAL_V2).stem]


# ------------------------------------------------------------------ families and the datacube
def _sample_context(content: CatalogContent, dest: Path) -> Any:
    from stactools_glofnet.sample.framework import SampleContext
    from stactools_glofnet.sample.names import DEFAULT_SEED

    size = SIZES["small"]
    return SampleContext(dest, size, DEFAULT_SEED, content, make_timeline(content, size, DEFAULT_SEED))


def test_each_family_has_the_pair_info_hyp3_autorift_writes(small_sample: Path, shared_dir: Path) -> None:
    real = xr.open_dataset(shared_dir / "real-data" / "itslive" / REAL_V2, engine="h5netcdf")
    real_keys = set(real["img_pair_info"].attrs)
    seen: dict[str, set[str]] = {}
    for path in _granules(small_sample):
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            info = ds["img_pair_info"].attrs
            family = info["id_img1"][:4] if info["mission_img1"] == "L" else info["id_img1"][:2]
            seen.setdefault(family, set(info))
            radar = ds.attrs["scene_pair_type"] == "radar"
            assert {"vr", "va", "M11", "M12"} <= set(ds.variables) if radar else "vr" not in ds
            assert ds.attrs["satellite"].startswith(("Landsat ", "Sentinel-1", "Sentinel-2"))
        granule = read_granule(path)  # whole-second Sentinel-2 dates end in "." and still parse
        assert granule.acquired[0] < granule.acquired[1]
    assert {"S1", "S2", "LE07", "LC08"} <= set(seen)
    for family, keys in seen.items():
        if family.startswith("L"):
            assert keys == real_keys, family  # the real Landsat granule is the template
    assert {"absolute_orbit_number_img1", "flight_direction_img1", "product_unique_ID_img1"} <= seen["S1"]
    assert "correction_level_img1" in seen["S2"] and "path_img1" not in seen["S2"]


def test_granules_and_a_datacube_subset_give_the_same_daily_series(
    tmp_path: Path, content: CatalogContent
) -> None:
    from affine import Affine

    from stactools_glofnet.core.grids import Grid
    from stactools_glofnet.itslive.collection import create_collection
    from stactools_glofnet.itslive.cube import open_cube
    from stactools_glofnet.itslive.process import target_grid
    from stactools_glofnet.itslive.sample import cube_grid, pairs, write_granule
    from stactools_glofnet.itslive.sample_forms import CUBE_NAME, write_datacube

    ctx = _sample_context(content, tmp_path / "unused")
    granules, cube = tmp_path / "granules" / "itslive", tmp_path / "cube" / "itslive"
    granules.mkdir(parents=True)
    cube.mkdir(parents=True)
    layers = []
    for index, (name, ds, truth) in enumerate(pairs(ctx)):
        if index % 4 and truth["flaw"] is None:
            continue  # every fourth pair (the families take turns) and every flawed one: quicker
        if truth["flaw"] != "outside":  # a granule from elsewhere is in no cube of this area
            write_granule(granules / f"{name}.nc", ds)
            layers.append((name, ds))
    # A cube reaching 60 pixels beyond the AOI on every side, so only a window of it is read.
    base = cube_grid(ctx)
    t, margin = base.transform, 60
    wide = Grid(
        base.crs,
        Affine(t.a, 0, t.c - margin * t.a, 0, t.e, t.f - margin * t.e),
        base.width + 2 * margin,
        base.height + 2 * margin,
    )
    write_datacube(cube / CUBE_NAME, layers, wide, wide.crs.to_wkt())
    window = open_cube(cube / CUBE_NAME, target_grid(content), content.processing.itslive.outlier_window)
    assert window is not None
    assert (
        window.rows.stop - window.rows.start < wide.height
        and window.cols.stop - window.cols.start < wide.width
    )
    built = {}
    for label, source in (("granules", granules), ("cube", cube)):
        collection = create_collection(
            WingInputs(source_dir=source), tmp_path / f"build-{label}", BuildOptions(content=content)
        )
        series = pd.read_parquet(collection.assets["velocity_daily"].get_absolute_href())
        items = {item.id: item for item in collection.get_items(recursive=True)}
        built[label] = (series, items, collection.extra_fields["glofnet:skipped"])
    pd.testing.assert_frame_equal(built["granules"][0], built["cube"][0])
    assert set(built["granules"][1]) == set(built["cube"][1])
    assert sorted(built["granules"][2], key=str) == sorted(built["cube"][2], key=str)
    groups = {item.properties["glofnet:sensor_group"] for item in built["cube"][1].values()}
    assert groups == {"landsat", "sentinel-1", "sentinel-2"}
    for item_id, item in built["cube"][1].items():
        other = built["granules"][1][item_id]
        assert item.datetime == other.datetime
        for key in ("glofnet:glacier_mean_m_per_yr", "glofnet:glacier_p90_m_per_yr", "glofnet:platforms"):
            assert item.properties[key] == other.properties[key], (item_id, key)
        # Every rule removes the same pixels; only no_data differs: it counts the source pixels in
        # the window read, and the cube's window holds fill beyond the granule's footprint.
        removed, other_removed = item.properties["glofnet:qc_removed"], other.properties["glofnet:qc_removed"]
        assert {k: v for k, v in removed.items() if k != "no_data"} == {
            k: v for k, v in other_removed.items() if k != "no_data"
        }


def test_sample_pairs_after_the_cube_date_are_read_from_the_datacube(
    collection: pystac.Collection, small_sample: Path
) -> None:
    truth = json.loads((small_sample / "truth.json").read_text())["itslive"]
    in_cube = {Path(g["granule"]).stem for g in truth["granules"] if g["form"] == "datacube"}
    assert in_cube and (small_sample / "itslive" / truth["cube"]["name"]).is_dir()
    items = {item.id for item in collection.get_items(recursive=True)}
    skipped = {entry["id"] for entry in collection.extra_fields["glofnet:skipped"]}
    assert in_cube <= items | skipped and in_cube & items


@pytest.mark.parametrize(
    ("image", "group", "platform_name"),
    [
        ("LT04_L1TP_149035_19890601_20200916_02_T1", "landsat", "landsat-4"),
        ("LT05_L1GS_219121_19841206_20200918_02_T2", "landsat", "landsat-5"),
        ("LE07_L1TP_149035_20120601_20200908_02_T1", "landsat", "landsat-7"),
        ("LO08_L1TP_149035_20130601_20200912_02_T1", "landsat", "landsat-8"),
        ("LC09_L1TP_149035_20220601_20220605_02_T1", "landsat", "landsat-9"),
        ("S1B_IW_SLC__1SSV_20190601T005522_20190601T005549_016481_01F05A_1C2E", "sentinel-1", "sentinel-1b"),
        ("S2B_MSIL1C_20190601T053649_N0500_R005_T43SDA_20190601T074512", "sentinel-2", "sentinel-2b"),
    ],
)
def test_every_family_name_gives_its_group_and_platform(image: str, group: str, platform_name: str) -> None:
    from stactools_glofnet.itslive.names import image_ids, platform, sensor_group

    assert (sensor_group(image), platform(image)) == (group, platform_name)
    assert image_ids(f"{image}_X_{image}_G0120V02_P042") == (image, image)


def test_a_datacube_layer_reaches_its_job_without_pixels_and_reads_its_own(
    small_sample: Path, content: CatalogContent, tmp_path: Path
) -> None:
    """Jobs carry a layer's metadata, where its pixels are staged and a digest, never pixels: the
    driver and its scheduler hold nothing per pair sent. The layer a job reads is the cube's own
    (read here with xarray alone), and the same cube staged again gives the same digests."""
    import pickle

    from stactools_glofnet.core.wing import Skips
    from stactools_glofnet.itslive.discover import CubeLayer, discover, load

    found = discover(small_sample / "itslive", content)
    (window,) = found.cubes
    cube = xr.open_zarr(window.path, mask_and_scale=True, decode_timedelta=False)
    runs = []
    for run in ("first", "again"):
        runs.append(
            [
                pair
                for pair in found.granules(Skips("itslive", False), small_sample / "itslive", tmp_path / run)
                if isinstance(pair, CubeLayer)
            ]
        )
    layers = runs[0]
    assert len(layers) == window.layers > 1
    assert [layer.digest for layer in runs[1]] == [layer.digest for layer in layers]
    assert len({layer.digest for layer in layers}) == len(layers)
    for layer in layers[:: max(1, len(layers) // 12)]:
        assert not layer.granule.velocity and len(pickle.dumps(layer)) < 16 * 1024
        granule = load(layer)
        assert granule.id == str(cube["granule_url"].values[layer.index]).rsplit("/", 1)[-1][:-3]
        assert granule.path == layer.source == window.path
        for name in ("v", "vx", "vy", "v_error"):
            truth = cube[name].isel(mid_date=layer.index, y=window.rows, x=window.cols).values
            np.testing.assert_array_equal(granule.velocity[name], truth.astype(np.float32))
        mask = cube["interp_mask"].isel(mid_date=layer.index, y=window.rows, x=window.cols).values
        np.testing.assert_array_equal(granule.interpolated, np.nan_to_num(mask) == 1)


def test_a_pair_read_twice_is_read_once_and_its_other_form_listed(
    small_sample: Path, content: CatalogContent, tmp_path: Path
) -> None:
    """A datacube layer whose pair is also a granule file, or a layer of an earlier datacube, is
    skipped and names what reads it: the file's name, or the other datacube."""
    from stactools_glofnet.core.wing import Skips
    from stactools_glofnet.itslive.discover import CubeLayer, discover

    (store,) = [p for p in (small_sample / "itslive").iterdir() if p.suffix == ".zarr"]
    source = tmp_path / "itslive"
    source.mkdir()
    (source / "a.zarr").symlink_to(store)
    (source / "b.zarr").symlink_to(store)  # the same layers again, under a later name
    ids = [str(url).rsplit("/", 1)[-1][:-3] for url in xr.open_zarr(store)["granule_url"].values]
    (source / f"{ids[1]}.nc").write_bytes(b"")  # named as the pair; not read until its job
    skips = Skips("itslive", False)
    pairs = list(discover(source, content).granules(skips, source, tmp_path / "scratch"))
    assert pairs[0] == str(source / f"{ids[1]}.nc")
    layers = [pair for pair in pairs[1:] if isinstance(pair, CubeLayer)]
    assert len(pairs) == 1 + len(layers) and [layer.granule.id for layer in layers] == ids[:1] + ids[2:]
    assert {layer.source for layer in layers} == {source / "a.zarr"}
    reasons = {(record["id"], record["reason"]) for record in skips.records}
    assert (ids[1], f"duplicate pair: the layer of a.zarr is also {ids[1]}.nc, which is read") in reasons
    assert (ids[1], f"duplicate pair: the layer of b.zarr is also {ids[1]}.nc, which is read") in reasons
    for index in (0, 2, len(ids) - 1):
        also = "duplicate pair: the layer of b.zarr is also a layer of a.zarr, which is read"
        assert (ids[index], also) in reasons
    assert len(skips.records) == len(reasons) == 1 + len(ids)  # a.zarr's layer of the file, all of b.zarr's


def test_no_scratch_layer_is_left_in_the_collection(collection: pystac.Collection) -> None:
    folder = Path(collection.get_self_href() or "").parent
    assert not [p for p in folder.rglob("*") if p.name.startswith(".layers-") or p.suffix == ".pickle"]


def test_a_datacube_with_an_unreadable_chunk_is_one_line_naming_it(
    small_sample: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source" / "itslive"
    shutil.copytree(small_sample / "itslive", source)
    (cube,) = source.glob("*.zarr")
    for chunk in (cube / "v").iterdir():
        if not chunk.name.startswith("."):
            chunk.write_bytes(b"not a compressed chunk")
    dest = tmp_path / "dest"
    result = _run("create-collection", "itslive", str(source.parent), str(dest), "--workers", "0")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(cube) in lines[0] and "is unreadable" in lines[0], result.output
    assert not dest.exists()


def test_discovery_classifies_each_entry_once_and_names_what_it_does_not_read(
    small_sample: Path, content: CatalogContent, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Granule files (as their paths), datacubes and stray entries in name order; hidden files,
    ``acquire``'s manifest and a collection built inside SOURCE are passed over; a directory
    named like a granule is a stray entry, not a granule."""
    from stactools_glofnet.core.constants import ACQUIRE_MANIFEST
    from stactools_glofnet.core.output import MARKER, marker_text
    from stactools_glofnet.itslive.discover import discover, pair_id

    source = tmp_path / "itslive"
    shutil.copytree(small_sample / "itslive", source)
    granules = sorted(p for p in source.iterdir() if p.suffix == ".nc")
    (store,) = source.glob("*.zarr")
    (source / ".hidden.nc").write_bytes(b"")
    (source / ACQUIRE_MANIFEST).write_text("{}")
    (source / "notes.txt").write_text("stray")
    (source / "folder.nc").mkdir()
    built = source / "built"  # an output of this tool: its marker says so
    built.mkdir()
    (built / MARKER).write_text(marker_text("collection"))
    (built / "x.nc").write_bytes(b"")
    with caplog.at_level("WARNING", logger="stactools_glofnet.itslive.discover"):
        found = discover(source, content)
    assert found.files == [str(p) for p in granules] and len(granules) > 1
    assert all(isinstance(path, str) for path in found.files)
    assert [pair_id(path) for path in found.files] == [p.stem for p in granules]
    assert [cube.path for cube in found.cubes] == [store]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        f"{source}: 2 entries are neither granules (*.nc) nor datacubes (*.zarr) and are not read:"
        " folder.nc, notes.txt"
    )
