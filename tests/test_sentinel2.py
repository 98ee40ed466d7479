"""The Sentinel-2 wing against the sample's planted truth, real Earth Search files and odc-stac."""

from __future__ import annotations

import datetime as dt
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
from PIL import Image
from rio_cogeo.cogeo import cog_validate

from stactools_glofnet.core.config import CatalogContent, SplitName
from stactools_glofnet.core.extension import GlofnetExtension, class_balance
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.linked import count_items, each_item, held_items
from stactools_glofnet.core.wing import BuildOptions, WingInputs
from stactools_glofnet.sentinel2 import patches as patch_store
from stactools_glofnet.sentinel2.collection import create_collection
from stactools_glofnet.sentinel2.patches import PATCH_ATTRIBUTES, PatchWriter, ScenePatches, glof_label
from stactools_glofnet.sentinel2.read import read_reflectance, read_scene
from tests.conftest import serve_directory


@pytest.fixture(scope="module")
def collection(built_catalog: Path) -> pystac.Collection:
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    child = root.get_child("glofnet-sentinel2")
    assert isinstance(child, pystac.Collection)
    return child


@pytest.fixture(scope="module")
def items(collection: pystac.Collection) -> list[pystac.Item]:
    return sorted(collection.get_items(recursive=True), key=lambda i: i.id)


@pytest.fixture(scope="module")
def truth(small_sample: Path) -> dict[str, dict[str, Any]]:
    scenes = json.loads((small_sample / "truth.json").read_text())["sentinel2"]["scenes"]
    return {scene["id"]: scene for scene in scenes}


def _read(href: str | None) -> tuple[np.ndarray[Any, Any], Grid]:
    assert href is not None
    with rasterio.open(href) as dataset:
        return dataset.read(1), Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)


def _truth_raster(small_sample: Path, scene: dict[str, Any]) -> tuple[np.ndarray[Any, Any], Grid]:
    return _read(str(small_sample / scene["truth_raster"]))


# ------------------------------------------------------------------------------- reader
def test_sample_and_real_scenes_share_structure(small_sample: Path, shared_dir: Path) -> None:
    real_dir = shared_dir / "real-data" / "sentinel2" / "S2A_29RKH_20200219_0_L2A_downsampled"
    real = read_scene(
        real_dir / "S2A_29RKH_20200219_0_L2A.json", lambda href: str(real_dir / Path(href).name)
    )
    sample = read_scene(sorted(small_sample.glob("sentinel2/*/*.json"))[0])
    for scene in (real, sample):
        assert {"blue", "green", "red", "nir", "swir16", "swir22", "scl"} <= set(scene.item.assets)
        assert scene.crs.is_projected and scene.crs.to_epsg() in range(32601, 32661)
        for key, dtype in (("green", "uint16"), ("swir16", "uint16"), ("scl", "uint8")):
            with rasterio.open(scene.asset(key).href) as dataset:
                assert dataset.dtypes[0] == dtype and dataset.nodata == 0
                assert dataset.crs == scene.crs
            declared = scene.item.assets[key].extra_fields["raster:bands"][0]
            assert declared["data_type"] == dtype and declared["nodata"] == 0
        assert scene.asset("green").scale == 0.0001
        assert scene.item.properties["s2:processing_baseline"]
        assert isinstance(scene.item.properties["earthsearch:boa_offset_applied"], bool)


def test_real_downsampled_scene_reads_on_its_own_grid(shared_dir: Path) -> None:
    real_dir = shared_dir / "real-data" / "sentinel2" / "S2A_29RKH_20200219_0_L2A_downsampled"
    scene = read_scene(
        real_dir / "S2A_29RKH_20200219_0_L2A.json", lambda href: str(real_dir / Path(href).name)
    )
    green = read_reflectance(scene, "green")
    swir = read_reflectance(scene, "swir16")
    assert green.shape == (1098, 1098) and swir.shape == (549, 549)
    for values in (green, swir):
        valid = values[~np.isnan(values)]
        assert valid.size > 0.9 * values.size and valid.min() >= 0 and valid.max() <= 1.5
    scl = read_reflectance(scene, "scl")
    assert set(np.unique(scl[~np.isnan(scl)]).astype(int)) <= {2, 5, 7, 8, 9, 10}


# ------------------------------------------------------------------------------ outputs
def test_every_cog_is_valid(collection: pystac.Collection, items: list[pystac.Item]) -> None:
    checked = 0
    for item in items:
        for asset in item.assets.values():
            if asset.media_type and "cloud-optimized" in asset.media_type:
                valid, errors, _ = cog_validate(asset.get_absolute_href() or "")
                assert valid, (item.id, errors)
                checked += 1
    assert checked == len(items) * 10  # 6 bands, SCL, cloud mask, NDWI, MNDWI (= NDSI, one file)


def test_items_carry_the_required_metadata(items: list[pystac.Item], content: CatalogContent) -> None:
    for item in items:
        props = item.properties
        assert props["proj:code"] == "EPSG:32643" and len(props["proj:shape"]) == 2
        assert props["platform"] in ("sentinel-2a", "sentinel-2b") and props["constellation"] == "sentinel-2"
        assert 0 <= props["eo:cloud_cover"] <= 100 * content.processing.sentinel2.max_aoi_cloud_fraction
        assert props["glofnet:masked_classes"] == [0, 1, 3, 8, 9, 10]
        # The sample's items have no URL; a local source path is not published as a link.
        assert not [link for link in item.links if link.rel == "derived_from"]
        for key, asset in item.assets.items():
            assert asset.extra_fields["file:size"] > 0 and asset.extra_fields["file:checksum"].startswith(
                "1220"
            )
            assert asset.roles, key
        with Image.open(item.assets["thumbnail"].get_absolute_href() or "") as thumbnail:
            assert thumbnail.format == "PNG" and max(thumbnail.size) <= 600


def test_odc_stac_loads_source_reflectance(items: list[pystac.Item], small_sample: Path) -> None:
    from odc.stac import load

    chosen = [
        item for item in items if item.properties["glofnet:lake_quality"] in ("clear", "partly_cloudy")
    ][:3]
    data = load(chosen, bands=["green", "swir16", "cloud_mask"], chunks={})
    data = data.compute()
    rng = np.random.default_rng(0)
    for k, item in enumerate(sorted(chosen, key=lambda i: i.datetime or 0)):
        source = read_scene(small_sample / "sentinel2" / item.id / f"{item.id}.json")
        with rasterio.open(source.asset("green").href) as raw:
            source_dn = raw.read(1)
            rows, cols = rng.integers(0, raw.height, 200), rng.integers(0, raw.width, 200)
            t = raw.transform
            xs, ys = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
        loaded_green = (
            data.green.isel(time=k).sel(x=xr.DataArray(xs), y=xr.DataArray(ys), method="nearest").values
        )
        mask = (
            data.cloud_mask.isel(time=k).sel(x=xr.DataArray(xs), y=xr.DataArray(ys), method="nearest").values
        )
        # The rule the item records (the radiometric check may have corrected the metadata's).
        offset = item.properties["glofnet:radiometry"]["offset"]
        expected = source_dn[rows, cols] * 0.0001 + offset
        clear = mask == 0
        assert clear.sum() > 50
        np.testing.assert_allclose(loaded_green[clear] * 0.0001 - 0.1, expected[clear], atol=1e-4)
        assert (loaded_green[~clear] == 0).all()
        swir_expected = read_reflectance(
            source, "swir16", _item_grid(item), rasterio.enums.Resampling.bilinear
        ) + np.float32(offset - source.asset("swir16").offset)
        swir = data.swir16.isel(time=k).values * 0.0001 - 0.1
        both = (data.cloud_mask.isel(time=k).values == 0) & ~np.isnan(swir_expected)
        np.testing.assert_allclose(swir[both], swir_expected[both], atol=1e-4)


def _item_grid(item: pystac.Item) -> Grid:
    from affine import Affine
    from rasterio.crs import CRS

    height, width = item.properties["proj:shape"]
    return Grid(
        CRS.from_user_input(item.properties["proj:code"]),
        Affine(*item.properties["proj:transform"]),
        width,
        height,
    )


def test_cloud_mask_matches_the_truth(
    items: list[pystac.Item], truth: dict[str, Any], small_sample: Path
) -> None:
    for item in items:
        mask, grid = _read(item.assets["cloud_mask"].get_absolute_href())
        planted, truth_grid = _truth_raster(small_sample, truth[item.id])
        assert grid.transform == truth_grid.transform and grid.shape == truth_grid.shape
        predicted, actual = mask == 1, (planted & 1) == 1
        union = (predicted | actual).sum()
        iou = 1.0 if union == 0 else (predicted & actual).sum() / union
        assert iou >= 0.95, (item.id, iou)


def test_lake_area_recovers_the_truth_and_ice_is_never_water(
    items: list[pystac.Item], truth: dict[str, Any], small_sample: Path
) -> None:
    clear = [item for item in items if item.properties["glofnet:lake_quality"] == "clear"]
    assert len(clear) >= 8
    for item in clear:
        planted = truth[item.id]["planted_lake_area_km2"]
        assert item.properties["glofnet:lake_area_km2"] == pytest.approx(planted, rel=0.05), item.id
        ndwi, _ = _read(item.assets["ndwi"].get_absolute_href())
        mndwi, _ = _read(item.assets["mndwi"].get_absolute_href())
        raster, _ = _truth_raster(small_sample, truth[item.id])
        ice = ((raster & 4) == 4) & ((raster & 1) == 0)
        assert not (ndwi[ice] > 0.2).any(), item.id
        assert (mndwi[ice] > 0.2).mean() > 0.9  # the trap: MNDWI alone would call the ice water


def test_every_drainage_shows_as_a_drop(collection: pystac.Collection, content: CatalogContent) -> None:
    table = pd.read_parquet(collection.assets["lake_area"].get_absolute_href())
    measured = table[table["lake_area_km2"].notna()]
    for event in content.events.drainages:
        day = pd.Timestamp(event.drainage_date, tz="UTC")
        before = measured[(measured["datetime"] < day) & (measured["datetime"] > day - pd.Timedelta(days=30))]
        after = measured[(measured["datetime"] >= day) & (measured["datetime"] < day + pd.Timedelta(days=30))]
        assert len(before) and len(after), event.id
        assert after["lake_area_km2"].iloc[0] < 0.3 * before["lake_area_km2"].iloc[-1], event.id


def test_the_wing_holds_no_item_and_describes_the_items_it_wrote(
    small_sample: Path, content: CatalogContent, tmp_path: Path
) -> None:
    source = tmp_path / "sentinel2"
    scenes = sorted(p for p in (small_sample / "sentinel2").iterdir() if (p / "B04.tif").is_file())
    for scene in scenes[:4]:
        shutil.copytree(scene, source / scene.name)
    collection = create_collection(WingInputs(source_dir=source), tmp_path / "work", BuildOptions(content))

    assert not list(held_items(collection)), "each item is written to its file when made, not kept"
    items = list(each_item(collection))
    assert len(items) == count_items(collection) >= 2
    times = sorted(i.datetime for i in items if i.datetime)
    assert collection.extent.temporal.intervals == [[times[0], times[-1]]]
    bboxes = np.array([i.bbox for i in items])
    assert collection.extent.spatial.bboxes == [[*bboxes[:, :2].min(axis=0), *bboxes[:, 2:].max(axis=0)]]
    clouds = [i.properties["eo:cloud_cover"] for i in items]
    cloud_range = collection.summaries.get_range("eo:cloud_cover")
    assert cloud_range is not None
    assert (cloud_range.minimum, cloud_range.maximum) == (min(clouds), max(clouds))
    assert collection.summaries.get_list("platform") == sorted({i.properties["platform"] for i in items})
    assert collection.summaries.get_list("proj:code") == sorted({i.properties["proj:code"] for i in items})
    days = [(GlofnetExtension.ext(i).split, GlofnetExtension.ext(i).label == "glof") for i in items]
    assert GlofnetExtension.ext(collection).class_balance == class_balance(days)
    clearest = min(items, key=lambda i: (i.properties["eo:cloud_cover"], i.id))
    thumbnail = collection.assets["thumbnail"]
    assert (thumbnail.description or "").startswith(f"{clearest.id}:")
    assert Path(thumbnail.href).read_bytes() == Path(clearest.assets["thumbnail"].href).read_bytes()


def test_overcast_scene_is_skipped_and_recorded(
    collection: pystac.Collection, items: list[pystac.Item]
) -> None:
    skipped = {entry["id"]: entry["reason"] for entry in collection.extra_fields["glofnet:skipped"]}
    assert "100 %" in skipped["S2A_43SDA_20200715_0_L2A"]
    assert "exceeds max_aoi_cloud_fraction" in skipped["S2A_43SDA_20210810_0_L2A"]
    assert not set(skipped) & {item.id for item in items}
    table = pd.read_parquet(collection.assets["lake_area"].get_absolute_href())
    assert set(table[table["status"] == "skipped"]["scene_id"]) == set(skipped)


# ------------------------------------------------------------------------------ patches
def test_patches_are_split_normalized_and_augmented_without_leakage(
    collection: pystac.Collection, content: CatalogContent
) -> None:
    patches = xr.open_zarr(collection.assets["patches"].get_absolute_href(), consolidated=True).load()
    assert patches.reflectance.shape[1:] == (6, 128, 128)
    splits_per_scene = pd.Series(patches.split.values).groupby(patches.scene_id.values).nunique()
    assert (splits_per_scene == 1).all()
    for scene_id, split, day in zip(
        patches.scene_id.values, patches.split.values, patches.datetime.values, strict=True
    ):
        assert content.splits.split_of(pd.Timestamp(day).date()) == split, scene_id
    assert set(patches.augmentation.values[patches.split.values != "train"]) == {"none"}
    assert (patches.augmentation.values[patches.split.values == "train"] != "none").any()
    train = (patches.split == "train") & (patches.augmentation == "none")
    values = patches.reflectance.where(train, drop=True)
    np.testing.assert_allclose(patches["mean"], values.mean(dim=("patch", "y", "x")), rtol=1e-5)
    np.testing.assert_allclose(patches["std"], values.std(dim=("patch", "y", "x")), rtol=1e-4)
    for patch, day in zip(patches.label.values, patches.datetime.values, strict=True):
        assert patch == glof_label(content, pd.Timestamp(day).date())
    counts = collection.extra_fields["glofnet:patch_counts"]
    for split in ("train", "validate", "test"):
        chosen = patches.split.values == split
        assert counts[split]["glof"] == int((patches.label.values[chosen] == 1).sum())
        assert counts[split]["no_glof"] == int((patches.label.values[chosen] == 0).sum())
        assert counts[split]["glof"] > 0


def _scene_patches(number: int, split: SplitName) -> ScenePatches:
    """Three windows of random pixels for scene ``number``."""
    rng = np.random.default_rng(number)
    records = [
        {
            "scene_id": f"S{number}",
            "window": window,
            "origin": f"S{number}_w{window}",
            "patch_id": f"S{number}_w{window}",
            "label": number % 2,
            "augmentation": "none",
            "data": rng.random((6, 128, 128), dtype=np.float32),
        }
        for window in range(3)
    ]
    return ScenePatches(dt.date(2019, 1, 1) + dt.timedelta(days=10 * number), split, records)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_patches_appended_in_batches_make_the_store_of_one_write(
    content: CatalogContent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pixels go to the store a batch at a time; the store is the same whatever the batch, with
    the patches in append order and each per-patch variable in one chunk."""
    splits: list[SplitName] = ["train", "train", "train", "train", "test", "test", "test"]
    scenes = [_scene_patches(number, split) for number, split in enumerate(splits)]

    def write(name: str, batch: int) -> dict[str, Any]:
        monkeypatch.setattr(patch_store, "BATCH_PATCHES", batch)
        writer = PatchWriter(tmp_path / name, content)
        for scene in scenes:
            writer.append(scene)
        return writer.finish()

    assert write("whole.zarr", 1000) == write("batched.zarr", 4)
    assert _files(tmp_path / "whole.zarr") == _files(tmp_path / "batched.zarr")
    records = [record for scene in scenes for record in scene.records]
    with xr.open_zarr(tmp_path / "batched.zarr", consolidated=True) as store:
        assert list(store.patch_id.values) == [record["patch_id"] for record in records]
        assert list(store.split.values) == [scene.split for scene in scenes for _ in scene.records]
        np.testing.assert_array_equal(store.reflectance.values, np.stack([r["data"] for r in records]))
        for name in PATCH_ATTRIBUTES:
            assert store[name].encoding["chunks"] == (len(records),), name


def test_glof_label_window(content: CatalogContent) -> None:
    window = content.events.glof_window_days
    assert glof_label(content, dt.date(2021, 5, 15) + dt.timedelta(days=window)) == 1
    assert glof_label(content, dt.date(2021, 5, 15) + dt.timedelta(days=window + 1)) == 0
    assert glof_label(content, dt.date(2020, 4, 15)) == 0  # the uncertain April 2020 report labels nothing


def test_scene_read_over_http_equals_local_read(small_sample: Path, tmp_path: Path) -> None:
    import shutil

    scene_id = "S2A_43SDA_20210420_0_L2A"
    served = tmp_path / "www" / scene_id
    shutil.copytree(small_sample / "sentinel2" / scene_id, served)
    with serve_directory(served.parent) as url:
        base = f"{url}/{scene_id}"
        document = json.loads((served / f"{scene_id}.json").read_text())
        for asset in document["assets"].values():
            asset["href"] = f"{base}/{Path(asset['href']).name}"
        (served / f"{scene_id}.json").write_text(json.dumps(document))
        remote = read_scene(f"{base}/{scene_id}.json")
        local = read_scene(small_sample / "sentinel2" / scene_id / f"{scene_id}.json")
        assert remote.asset("nir").href.startswith("http://127.0.0.1")
        np.testing.assert_array_equal(read_reflectance(remote, "nir"), read_reflectance(local, "nir"))


def test_published_dn_are_the_rounded_rescaled_reflectance_within_1_and_65535_and_0_for_nan() -> None:
    from stactools_glofnet.sentinel2.collection import OFFSET, SCALE, _to_dn

    rng = np.random.default_rng(5)
    values = rng.uniform(-0.3, 7.0, 4000).astype(np.float32)
    values[::7] = np.nan
    edges = [np.inf, -np.inf, -0.1, -0.2, 0.0, 1.0, 6.4535, 6.4536, 6.6, 1.23456]
    reflectance = np.concatenate([values, np.array(edges, dtype=np.float32)]).reshape(-1, 2)

    def expected(r: float) -> int:
        if np.isnan(r):
            return 0
        scaled = (float(r) - OFFSET) / SCALE
        return int(min(65535, max(1, round(scaled))) if np.isfinite(scaled) else (65535 if scaled > 0 else 1))

    dn = _to_dn(reflectance)
    assert dn.dtype == np.uint16 and dn.shape == reflectance.shape
    assert dn.ravel().tolist() == [expected(r) for r in reflectance.ravel()]
    assert {0, 1, 65535} <= set(dn.ravel().tolist())
