"""Every command's output is right where it lands: standalone, moved, offline, opened by its readers."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pandas as pd
import pystac
import pytest
import rasterio
import xarray as xr
from PIL import Image

from stactools_glofnet.build import BuildSettings, create_catalog, create_item
from stactools_glofnet.core import contract
from stactools_glofnet.core.constants import COG, GEOJSON, PARQUET, PNG, ZARR
from stactools_glofnet.core.extension import GlofnetExtension
from stactools_glofnet.core.index import INDEX_FILE
from stactools_glofnet.core.memo import JOBS
from stactools_glofnet.core.output import memo_store
from stactools_glofnet.core.schemas import PACKAGE_SCHEMAS
from stactools_glofnet.validate import check_catalog
from tests.conftest import STANDALONE, DaskCluster


def _assets(root: Path) -> list[tuple[pystac.STACObject, str, pystac.Asset]]:
    top = pystac.read_file(str(root))
    assert isinstance(top, pystac.Catalog | pystac.Item)
    found: list[tuple[pystac.STACObject, str, pystac.Asset]] = []
    if isinstance(top, pystac.Item):
        return [(top, key, asset) for key, asset in top.assets.items()]
    for catalog, _, items in top.walk():
        owners: list[pystac.Collection | pystac.Item] = [*items]
        if isinstance(catalog, pystac.Collection):
            owners.insert(0, catalog)
        for owner in owners:
            found.extend((owner, key, asset) for key, asset in owner.assets.items())
    return found


def open_asset(asset: pystac.Asset) -> Any:
    """Open an asset the way its media type says, from its href alone; return something read."""
    href = asset.get_absolute_href()
    assert href is not None and Path(href).exists(), asset.href
    media = asset.media_type
    if media == COG:
        with rasterio.open(href) as dataset:
            return dataset.read(1, out_shape=(1, 8, 8))
    if media == ZARR:
        with xr.open_dataset(href, **asset.extra_fields["xarray:open_kwargs"]) as dataset:
            return dict(dataset.sizes)
    if media == PARQUET:
        return len(pd.read_parquet(href))
    if media == PNG:
        with Image.open(href) as image:
            image.verify()
            return image.size
    if media in (GEOJSON, "application/json", "application/schema+json"):
        return json.loads(Path(href).read_text())
    raise AssertionError(f"no reader for {media} ({href})")


def _collections(root: Path) -> dict[str, pystac.Collection]:
    catalog = pystac.read_file(str(root / "catalog.json"))
    assert isinstance(catalog, pystac.Catalog)
    children = [c for c in catalog.get_children() if isinstance(c, pystac.Collection)]
    return {str(GlofnetExtension.ext(c).modality): c for c in children}


def _href(asset: pystac.Asset) -> str:
    href = asset.get_absolute_href()
    assert href is not None
    return href


def _clean(report: Any) -> None:
    assert report.objects > 0
    assert not report.problems, "\n".join(p.line() for p in report.problems)


@pytest.mark.parametrize("modality", STANDALONE)
def test_each_collection_built_alone_is_valid_and_opens_after_a_move(
    standalone: dict[str, Path], modality: str
) -> None:
    root = standalone[modality]
    _clean(check_catalog(root))
    assets = _assets(root / "collection.json")
    assert assets
    for owner, key, asset in assets:
        assert not Path(asset.href).is_absolute(), (owner.id, key, asset.href)
        assert open_asset(asset) is not None


@pytest.mark.parametrize("modality", ["sentinel2", "itslive", "modis", "events"])
def test_a_collection_built_alone_from_another_source_path_has_the_same_files(
    standalone: dict[str, Path], built_catalog: Path, modality: str
) -> None:
    """Built alone on a dask cluster from the sample at another path, every data file equals the
    serial catalog's, byte for byte, and every item its item."""
    alone = standalone[modality]
    collection = _collections(built_catalog)[modality]
    inside = Path(_href(next(iter(collection.assets.values())))).parent if collection.assets else None
    root = inside or built_catalog / collection.id
    # STAC JSON and the item index hold links, which differ between a catalog and a lone collection.
    files = [
        p for p in alone.rglob("*") if p.is_file() and p.suffix not in (".json", "") and p.name != INDEX_FILE
    ]
    assert files
    for path in files:
        relative = path.relative_to(alone)
        assert path.read_bytes() == (root / relative).read_bytes(), relative
    items = [p for p in alone.rglob("*.json") if json.loads(p.read_text()).get("type") == "Feature"]
    assert items or modality == "events"
    for path in items:  # made on dask workers, the same as made in one process, links aside
        alone_item, catalog_item = (json.loads(p.read_text()) for p in (path, root / path.relative_to(alone)))
        assert {**alone_item, "links": []} == {**catalog_item, "links": []}, path.name


def test_create_item_output_is_valid_and_opens_after_a_move(small_sample: Path, tmp_path: Path) -> None:
    items = sorted((small_sample / "sentinel2").glob("*/*.json"))
    source = min(items, key=lambda p: json.loads(p.read_text())["properties"]["eo:cloud_cover"])
    line = create_item("sentinel2", source, tmp_path / "item")
    assert "item with" in line, line
    moved = Path(shutil.move(tmp_path / "item", tmp_path / "elsewhere"))
    item_file = next(moved.glob("*.json"))
    _clean(check_catalog(item_file))
    for _, _, asset in _assets(item_file):
        assert open_asset(asset) is not None


def test_the_catalog_builds_and_validates_with_only_the_package_schemas(built_catalog: Path) -> None:
    """``built_catalog`` was built with no schema directory and an empty cache; check it again so."""
    assert "GLOFNET_SCHEMA_DIR" not in os.environ
    with pytest.raises(Exception, match="allowed"):  # pytest-socket admits only 127.0.0.1 here
        socket.create_connection(("185.199.108.153", 443), timeout=1)
    _clean(check_catalog(built_catalog))
    declared: set[str] = set()
    for path in built_catalog.rglob("*.json"):
        document = json.loads(path.read_text())
        if isinstance(document, dict):
            declared.update(document.get("stac_extensions", []))
    for url in declared:
        assert (PACKAGE_SCHEMAS / url.split("://", 1)[1]).is_file(), url


@pytest.mark.parametrize(
    "cube",
    [
        "glofnet-itslive/velocity_cube.zarr",
        "glofnet-modis-lst/lst_cube.zarr",
        "glofnet-harmonized/harmonized_cube.zarr",
    ],
)
def test_every_cube_names_its_crs_the_cf_way(built_catalog: Path, cube: str) -> None:
    import rioxarray  # noqa: F401 - registers the .rio accessor

    with xr.open_zarr(built_catalog / cube) as dataset:
        assert dataset.rio.crs.to_epsg() == 32643
        x, y = dataset["x"].values, dataset["y"].values
        transform = dataset.rio.transform()
        assert transform.a == pytest.approx(x[1] - x[0]) and transform.c == pytest.approx(
            x[0] - transform.a / 2
        )
        assert transform.f == pytest.approx(y[0] - transform.e / 2)
        gridded = [v for v in dataset.data_vars.values() if {"y", "x"} <= set(v.dims)]
        assert gridded and all(v.attrs.get("grid_mapping") == "spatial_ref" for v in gridded)
        assert dataset["spatial_ref"].attrs["GeoTransform"].split()[1] == repr(float(transform.a))


def test_each_wing_publishes_what_the_harmonized_wing_reads(built_catalog: Path) -> None:
    by_modality = _collections(built_catalog)
    tables = {
        "sentinel2": [contract.LAKE_AREA],
        "itslive": [contract.VELOCITY_DAILY],
        "modis": [contract.LST_DAILY],
    }
    cubes = {"itslive": [contract.VELOCITY_CUBE], "modis": [contract.LST_CUBE]}
    for modality, outputs in tables.items():
        for table in outputs:
            asset = by_modality[modality].assets[table.key]
            columns = set(pd.read_parquet(asset.get_absolute_href()).columns)
            assert set(table.columns) <= columns, (modality, set(table.columns) - columns)
    for modality, cube_outputs in cubes.items():
        for cube in cube_outputs:
            asset = by_modality[modality].assets[cube.key]
            with xr.open_dataset(_href(asset), **asset.extra_fields["xarray:open_kwargs"]) as dataset:
                assert cube.time in dataset.dims and set(cube.variables) <= set(dataset.data_vars)
    sentinel2 = by_modality["sentinel2"]
    assert contract.WATER_THRESHOLD in (GlofnetExtension.ext(sentinel2).qc or {})
    item = next(sentinel2.get_items(recursive=True))
    assert {contract.NDWI, contract.CLOUD_MASK} <= set(item.assets)


# ------------------------------------------------------------------ any batch of inputs


def _recent(small_sample: Path, dest: Path, years: tuple[int, ...] = (2022,), cube: bool = True) -> Path:
    """A SOURCE of recent inputs only: the Sentinel-2 scenes of the last of ``years``, the ITS_LIVE
    pair files and MODIS days of ``years``, and (``cube``) the datacube of pairs from 2021 on."""
    from stactools_glofnet.itslive.read import read_granule

    for item_file in sorted((small_sample / "sentinel2").glob("*/*.json")):
        if json.loads(item_file.read_text())["properties"]["datetime"].startswith(str(years[-1])):
            shutil.copytree(item_file.parent, dest / "sentinel2" / item_file.parent.name)
    (dest / "itslive").mkdir(parents=True)
    for granule in sorted((small_sample / "itslive").glob("*.nc")):
        if all(when.year in years for when in read_granule(granule).acquired):
            shutil.copy(granule, dest / "itslive" / granule.name)
    for store in sorted((small_sample / "itslive").glob("*.zarr")) if cube else []:
        shutil.copytree(store, dest / "itslive" / store.name)  # recent pairs (2021 on): no train data
    for path in sorted((small_sample / "modis").rglob("MOD11A1.*")):
        if any(f".A{year}" in path.name for year in years):
            target = dest / "modis" / path.relative_to(small_sample / "modis")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return dest


@pytest.fixture(scope="module")
def recent_catalogs(
    tmp_path_factory: pytest.TempPathFactory,
    small_sample: Path,
    built_catalog: Path,
    dask_cluster: DaskCluster,
) -> dict[str, Path]:
    """Catalogs of a 2022-only SOURCE: without, and with, the published statistics as reference."""
    base = tmp_path_factory.mktemp("recent")
    source = _recent(small_sample, base / "source")
    on_cluster = BuildSettings(scheduler=dask_cluster.address)
    own = create_catalog(base / "own", source, settings=on_cluster).dest
    # the referenced build starts from the job results the first one kept: the statistics change
    # only the Sentinel-2 patches and the harmonized products, so only those are made again
    kept = memo_store(own) / JOBS
    shutil.copytree(kept, memo_store(base / "referenced") / JOBS, copy_function=os.link)
    report = create_catalog(
        base / "referenced",
        source,
        settings=BuildSettings(scheduler=dask_cluster.address, normalization_from=built_catalog),
    )
    # every job is reused (the scenes, their staging onto the cube grid, the cube's tiles): the
    # reference changes only what is computed from their results
    reused = [line for line in report.summary if line.startswith("reused")]
    assert len(reused) == 1
    whole = "itslive, modis, events taken whole"
    assert re.fullmatch(rf"reused from the last build: {whole}; (\d+) of \1 jobs", reused[0])
    referenced = report.dest
    return {"own": own, "referenced": referenced, "reference": built_catalog}


def test_a_variable_without_train_values_is_left_unnormalized_and_named(
    tmp_path: Path, small_sample: Path, dask_cluster: DaskCluster
) -> None:
    """Sentinel-2 scenes of 2022 only, the ITS_LIVE pair files and MODIS days of 2020 (train) and
    2022: the train days have speeds and temperatures but no lake, so the lake and water
    variables are not normalized (and said to be), the rest are, with train statistics."""
    source = _recent(small_sample, tmp_path / "source", years=(2020, 2022), cube=False)
    dest = create_catalog(
        tmp_path / "dest", source, settings=BuildSettings(scheduler=dask_cluster.address)
    ).dest
    harmonized = _collections(dest)["harmonized"]
    table = pd.read_parquet(harmonized.assets["table"].get_absolute_href())
    train = table["split"] == "train"
    assert train.any() and table.loc[train, "lake_area_km2"].isna().all()
    normalization = GlofnetExtension.ext(harmonized).normalization or {}
    assert normalization["method"] == "z-score"
    assert set(normalization["statistics"]) == {
        "glacier_mean_m_per_yr",
        "glacier_p90_m_per_yr",
        "lst_day_k",
        "lst_night_k",
    }
    assert "lake_area_km2: fewer than two distinct train values" in normalization["reason"]
    for column, stats in normalization["statistics"].items():
        values = table.loc[train, column].dropna()
        assert stats["count"] == len(values) and stats["mean"] == pytest.approx(values.mean())
        assert table[f"{column}_norm"].equals((table[column] - stats["mean"]) / stats["std"])
    assert "lake_area_km2_norm" not in table.columns
    cube = GlofnetExtension.ext(harmonized.assets["cube"]).normalization or {}
    assert cube["method"] == "z-score" and set(cube["statistics"]) == {"velocity", "lst_day", "lst_night"}
    assert "water_fraction" in cube["reason"] and "clear_fraction" in cube["reason"]
    _clean(check_catalog(dest))


def test_a_source_without_train_data_builds_every_modality_without_normalization(
    recent_catalogs: dict[str, Path],
) -> None:
    collections = _collections(recent_catalogs["own"])
    assert set(collections) == set(STANDALONE)
    for modality in ("sentinel2", "harmonized"):
        normalization = GlofnetExtension.ext(collections[modality]).normalization or {}
        assert normalization.get("method") == "none" and "no train-split data" in normalization["reason"]
    cube = collections["harmonized"].assets["cube"]
    assert (GlofnetExtension.ext(cube).normalization or {}).get("method") == "none"
    table = pd.read_parquet(collections["harmonized"].assets["table"].get_absolute_href())
    assert not [c for c in table.columns if c.endswith("_norm")]
    assert set(table["split"].dropna()) and "train" not in set(table["split"].dropna())
    patches = collections["sentinel2"].assets["patches"]
    with xr.open_dataset(_href(patches), **patches.extra_fields["xarray:open_kwargs"]) as store:
        assert "normalized" not in store and set(store["split"].values) == {"test"}
    trend = GlofnetExtension.ext(collections["modis"]).trend or {}
    assert trend.get("estimated") is False and "months" in trend["reason"]
    _clean(check_catalog(recent_catalogs["own"]))


def test_a_reference_supplies_the_train_statistics(recent_catalogs: dict[str, Path]) -> None:
    mine = _collections(recent_catalogs["referenced"])
    reference = _collections(recent_catalogs["reference"])
    for modality, key in (("sentinel2", None), ("harmonized", None), ("harmonized", "cube")):
        used = GlofnetExtension.ext(mine[modality].assets[key] if key else mine[modality]).normalization
        published = GlofnetExtension.ext(
            reference[modality].assets[key] if key else reference[modality]
        ).normalization
        assert used is not None and published is not None
        assert used["statistics"] == published["statistics"], (modality, key)
        assert used["reference"] == {
            "collection": reference[modality].id,
            "version": reference[modality].extra_fields["version"],
        }
    table = pd.read_parquet(mine["harmonized"].assets["table"].get_absolute_href())
    statistics = GlofnetExtension.ext(reference["harmonized"]).normalization["statistics"]  # type: ignore[index]
    stats = statistics["lake_area_km2"]
    expected = (table["lake_area_km2"] - stats["mean"]) / stats["std"]
    pd.testing.assert_series_equal(table["lake_area_km2_norm"], expected, check_names=False)
    patches = mine["sentinel2"].assets["patches"]
    with xr.open_dataset(_href(patches), **patches.extra_fields["xarray:open_kwargs"]) as store:
        band = str(store["band"].values[0])
        band_stats = GlofnetExtension.ext(reference["sentinel2"]).normalization["statistics"][band]  # type: ignore[index]
        assert float(store["mean"].values[0]) == pytest.approx(band_stats["mean"], rel=1e-6)
    _clean(check_catalog(recent_catalogs["referenced"]))
