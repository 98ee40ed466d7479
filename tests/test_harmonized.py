"""The harmonized products and the glofnet extension, checked against the built sample catalog."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pystac
import pytest
import xarray as xr
import zarr
from pystac.extensions.datacube import DatacubeExtension

from stactools_glofnet.core.config import CatalogContent
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import PUBLISHED_SCHEMA, SCHEMA_PATH, SCHEMA_URI, GlofnetExtension
from stactools_glofnet.core.series import INTERPOLATED, MEASURED, MISSING, fill_gaps
from stactools_glofnet.harmonized.inputs import HarmonizationInputs
from stactools_glofnet.validate import validate_catalog
from tests.conftest import REPO


@pytest.fixture(scope="module")
def root(built_catalog: Path) -> pystac.Catalog:
    catalog = pystac.read_file(str(built_catalog / "catalog.json"))
    assert isinstance(catalog, pystac.Catalog)
    return catalog


@pytest.fixture(scope="module")
def harmonized(root: pystac.Catalog) -> pystac.Collection:
    collection = root.get_child("glofnet-harmonized")
    assert isinstance(collection, pystac.Collection)
    return collection


@pytest.fixture(scope="module")
def table(harmonized: pystac.Collection) -> pd.DataFrame:
    """The daily table, read from its STAC asset alone."""
    return pd.read_parquet(_href(harmonized.assets["table"]))


@pytest.fixture(scope="module")
def cube(harmonized: pystac.Collection) -> xr.Dataset:
    """The grid cube, opened from its STAC asset and xarray-assets kwargs alone."""
    asset = harmonized.assets["cube"]
    return xr.open_dataset(_href(asset), **asset.extra_fields["xarray:open_kwargs"])


def _href(asset: pystac.Asset) -> str:
    href = asset.get_absolute_href()
    assert href is not None
    return href


def _days(frame: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(frame["date"]))


# ------------------------------------------------------------------ the glofnet extension
def test_schema_is_draft07_versioned_prefixed_and_published(
    built_catalog: Path, root: pystac.Catalog
) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == SCHEMA_URI and "/v1.0.0/" in SCHEMA_URI
    fields = schema["definitions"]["fields"]["properties"]
    assert fields and all(name.startswith("glofnet:") for name in fields)
    assert (built_catalog / PUBLISHED_SCHEMA).read_bytes() == SCHEMA_PATH.read_bytes()
    described = [link for link in root.links if link.rel == "describedby"]
    assert len(described) == 1 and described[0].get_absolute_href() == str(built_catalog / PUBLISHED_SCHEMA)


def test_docs_describe_every_field() -> None:
    text = (REPO / "docs" / "extension.md").read_text()
    fields = json.loads(SCHEMA_PATH.read_text())["definitions"]["fields"]["properties"]
    missing = [name for name in fields if f"`{name}`" not in text]
    assert not missing, f"docs/extension.md does not describe {missing}"
    assert SCHEMA_URI in text


def test_every_collection_and_item_declares_and_fills_the_extension(root: pystac.Catalog) -> None:
    modalities = set()
    for collection in root.get_children():
        assert isinstance(collection, pystac.Collection)
        assert SCHEMA_URI in collection.stac_extensions, collection.id
        glofnet = GlofnetExtension.ext(collection)
        assert glofnet.modality is not None and glofnet.splits is not None
        modalities.add(glofnet.modality)
        for item in collection.get_items(recursive=True):
            assert SCHEMA_URI in item.stac_extensions, item.id
            assert GlofnetExtension.ext(item).modality == glofnet.modality, item.id
            assert "glofnet:split" in item.properties, item.id
    assert modalities == {"sentinel2", "itslive", "modis", "harmonized", "events"}


def test_no_glofnet_key_is_written_outside_the_extension_module() -> None:
    package = REPO / "stactools_glofnet"
    offenders = [
        path.relative_to(REPO).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"[\"']glofnet:\w+[\"']", path.read_text()) and path.name != "extension.py"
    ]
    assert not offenders


def _copy(source: Path, dest: Path) -> Path:
    """A copy of the session's built catalog: copied, not hard-linked, since a new link changes
    the ctime of its files while the other test process may be publishing them."""
    shutil.copytree(source, dest)
    return dest


def _rewrite(path: Path, change: Any) -> None:
    """Rewrite a JSON file as a new file."""
    data = json.loads(path.read_text())
    change(data)
    path.unlink()
    path.write_text(json.dumps(data, indent=2))


def test_a_broken_glofnet_field_fails_validation_with_a_clear_message(
    built_catalog: Path, tmp_path: Path, schema_dir: Path
) -> None:
    copy = _copy(built_catalog, tmp_path / "catalog")
    item_path = copy / "glofnet-harmonized" / "glofnet-harmonized-train" / "glofnet-harmonized-train.json"
    _rewrite(item_path, lambda d: d["properties"].__setitem__("glofnet:split", "training"))
    with pytest.raises(GlofnetError) as caught:
        validate_catalog(copy, [schema_dir])
    message = str(caught.value)
    assert str(item_path) in message
    assert "glofnet:split" in message and "'training'" in message and SCHEMA_URI in message
    assert "\n" not in message


def test_an_unknown_glofnet_field_fails_validation(
    built_catalog: Path, tmp_path: Path, schema_dir: Path
) -> None:
    copy = _copy(built_catalog, tmp_path / "catalog")
    collection_path = copy / "glofnet-harmonized" / "collection.json"
    _rewrite(collection_path, lambda d: d.__setitem__("glofnet:normalisation", {}))
    with pytest.raises(GlofnetError, match=r"glofnet:normalisation"):
        validate_catalog(copy, [schema_dir])


# ------------------------------------------------------------------ splits and leakage
def test_every_day_has_one_split_and_the_buffers_hold(table: pd.DataFrame, content: CatalogContent) -> None:
    days = _days(table)
    assert days.is_monotonic_increasing and days.is_unique
    assert (days[1:] - days[:-1] == pd.Timedelta(days=1)).all()
    splits = content.splits
    assert splits.buffer_days > splits.model_window_days
    for day, split in zip(days, table["split"], strict=True):
        expected = splits.split_of(day.date())
        assert (None if pd.isna(split) else split) == expected
    labelled = table.dropna(subset=["split"])
    by_split = {s: _days(rows) for s, rows in labelled.groupby("split")}
    for name, own in by_split.items():
        for other_name, other in by_split.items():
            if name != other_name:
                gaps = np.abs((own.values[:, None] - other.values[None, :]) / np.timedelta64(1, "D"))
                assert gaps.min() > splits.buffer_days, (name, other_name)


def test_no_scene_or_patch_lies_in_two_splits(root: pystac.Catalog, content: CatalogContent) -> None:
    sentinel2 = root.get_child("glofnet-sentinel2")
    assert isinstance(sentinel2, pystac.Collection)
    for item in sentinel2.get_items(recursive=True):
        assert item.datetime is not None
        assert GlofnetExtension.ext(item).split == content.splits.split_of(item.datetime.date())
    asset = sentinel2.assets["patches"]
    patches = xr.open_dataset(_href(asset), **asset.extra_fields["xarray:open_kwargs"])
    frame = pd.DataFrame(
        {name: patches[name].values for name in ("scene_id", "origin", "patch_id", "split", "augmentation")}
    )
    assert frame.groupby("scene_id")["split"].nunique().max() == 1
    assert frame.groupby("origin")["split"].nunique().max() == 1
    assert frame["patch_id"].is_unique
    assert set(frame.loc[frame["augmentation"] != "none", "split"]) <= {"train"}


def test_every_labelled_event_is_in_exactly_one_split(root: pystac.Catalog, content: CatalogContent) -> None:
    events = root.get_child("glofnet-events")
    assert isinstance(events, pystac.Collection)
    splits_seen = []
    for event in content.events.labelled:
        start, end = content.events.label_window(event)
        split = content.splits.split_of_interval(start, end)
        assert split is not None, event.id
        splits_seen.append(split)
        item = next(i for i in events.get_items(recursive=True) if i.id == event.id)
        assert GlofnetExtension.ext(item).split == split and GlofnetExtension.ext(item).label == "glof"
    assert set(splits_seen) == {"train", "validate", "test"}


def test_class_balance_is_reported_per_split(harmonized: pystac.Collection, table: pd.DataFrame) -> None:
    balance = GlofnetExtension.ext(harmonized).class_balance
    assert balance is not None
    for split in ("train", "validate", "test"):
        rows = table[(table["split"] == split).fillna(False).to_numpy()]
        assert balance[split] == {
            "glof": int(rows["label"].sum()),
            "no_glof": int((rows["label"] == 0).sum()),
        }
        assert balance[split]["glof"] > 0, f"the {split} split holds no GLOF day"
        item = next(i for i in harmonized.get_items() if GlofnetExtension.ext(i).split == split)
        assert GlofnetExtension.ext(item).class_balance == {split: balance[split]}


# ------------------------------------------------------------------ normalization
def test_table_statistics_equal_a_recomputation_on_train_alone(
    harmonized: pystac.Collection, table: pd.DataFrame
) -> None:
    normalization = GlofnetExtension.ext(harmonized).normalization
    assert normalization is not None and normalization["split"] == "train"
    train = table[(table["split"] == "train").fillna(False).to_numpy()]
    assert normalization["statistics"]
    for column, stats in normalization["statistics"].items():
        values = train[column].dropna()
        assert stats["count"] == len(values)
        assert stats["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert stats["std"] == pytest.approx(values.std(ddof=0), rel=1e-12)
        normalized = table[column + normalization["suffix"]]
        np.testing.assert_allclose(normalized, (table[column] - stats["mean"]) / stats["std"], rtol=1e-12)
        others = table[(table["split"] != "train").fillna(True).to_numpy()][column].dropna()
        if len(others) > 1 and others.mean() != values.mean():
            assert stats["mean"] != pytest.approx(pd.concat([values, others]).mean(), rel=1e-9)


def test_cube_statistics_equal_a_recomputation_on_train_days(
    harmonized: pystac.Collection, cube: xr.Dataset
) -> None:
    statistics = GlofnetExtension.ext(harmonized.assets["cube"]).normalization
    assert statistics is not None and statistics["split"] == "train"
    train = cube["split"].values == "train"
    for name, stats in statistics["statistics"].items():
        values = cube[name].values[train]
        values = values[np.isfinite(values)].astype(np.float64)
        assert stats["count"] == values.size
        assert stats["mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert stats["std"] == pytest.approx(values.std(), rel=1e-6)


def test_patch_statistics_equal_a_recomputation_on_train_patches(root: pystac.Catalog) -> None:
    sentinel2 = root.get_child("glofnet-sentinel2")
    assert isinstance(sentinel2, pystac.Collection)
    normalization = GlofnetExtension.ext(sentinel2).normalization
    assert normalization is not None and normalization["split"] == "train"
    asset = sentinel2.assets["patches"]
    patches = xr.open_dataset(_href(asset), **asset.extra_fields["xarray:open_kwargs"])
    train = (patches["split"].values == "train") & (patches["augmentation"].values == "none")
    for index, band in enumerate(patches["band"].values):
        values = patches["reflectance"].values[train, index].astype(np.float64)
        values = values[np.isfinite(values)]
        stats = normalization["statistics"][str(band)]
        assert stats["count"] == values.size
        assert stats["mean"] == pytest.approx(values.mean(), rel=1e-5)
        assert stats["std"] == pytest.approx(values.std(), rel=1e-4)


# ------------------------------------------------------------------ encodings and labels
def test_cyclical_encodings_lie_on_the_circle_with_the_recorded_period(
    harmonized: pystac.Collection, table: pd.DataFrame, cube: xr.Dataset
) -> None:
    encodings = GlofnetExtension.ext(harmonized).cyclical_encodings
    assert encodings is not None and {e["source"] for e in encodings} == {"day_of_year", "month"}
    days = _days(table)
    for encoding in encodings:
        sin, cos = table[encoding["columns"]["sin"]], table[encoding["columns"]["cos"]]
        np.testing.assert_allclose(sin**2 + cos**2, 1.0, atol=1e-12)
        value = days.day_of_year if encoding["source"] == "day_of_year" else days.month
        angle = np.mod(np.arctan2(sin, cos), 2 * math.pi)
        expected = np.mod(
            2 * math.pi * (np.asarray(value) - encoding["offset"]) / encoding["period"], 2 * math.pi
        )
        np.testing.assert_allclose(angle, expected, atol=1e-9)
        np.testing.assert_array_equal(cube[encoding["columns"]["sin"]].values, sin.to_numpy())
    assert encodings[0]["period"] == 365.25 and encodings[1]["period"] == 12


def test_labels_and_days_to_next_event_match_the_events(
    table: pd.DataFrame, content: CatalogContent, cube: xr.Dataset
) -> None:
    starts = [e.start for e in content.events.labelled]
    for day, label, days_to_next in zip(
        _days(table), table["label"], table["days_to_next_glof"], strict=True
    ):
        date = day.date()
        windows = [content.events.label_window(e) for e in content.events.labelled]
        assert label == int(any(a <= date <= b for a, b in windows))
        following = [s for s in starts if s >= date]
        assert (pd.isna(days_to_next) and not following) or days_to_next == (following[0] - date).days
    np.testing.assert_array_equal(cube["label"].values, table["label"].to_numpy())
    for event in content.events.labelled:
        row = table[_days(table) == pd.Timestamp(event.start)]
        if len(row):
            assert int(row["label"].iloc[0]) == 1 and int(row["days_to_next_glof"].iloc[0]) == 0


# ------------------------------------------------------------------ values from the inputs
def test_table_values_come_from_the_modality_outputs(root: pystac.Catalog, table: pd.DataFrame) -> None:
    indexed = table.set_index(_days(table))
    lakes = root.get_child("glofnet-sentinel2")
    assert isinstance(lakes, pystac.Collection)
    scenes = pd.read_parquet(_href(lakes.assets["lake_area"]))
    clear = scenes[scenes["quality"] == "clear"]
    assert len(clear) > 3
    for _, scene in clear.iterrows():
        day = pd.Timestamp(scene["datetime"]).tz_convert(None).normalize()
        if day in indexed.index:
            assert indexed.loc[day, "lake_area_km2_flag"] == "measured"
            assert indexed.loc[day, "lake_area_km2"] == pytest.approx(scene["lake_area_km2"])
    modis = root.get_child("glofnet-modis-lst")
    assert isinstance(modis, pystac.Collection)
    lst = pd.read_parquet(_href(modis.assets["lst_daily"])).set_index("date")
    lst.index = pd.DatetimeIndex(pd.to_datetime(lst.index))
    shared = indexed.index.intersection(lst.index)
    assert len(shared) > 100
    np.testing.assert_array_equal(
        indexed.loc[shared, "lst_day_k"].to_numpy(), lst.loc[shared, "lst_day_k"].to_numpy()
    )
    assert (indexed["lst_day_k_flag"] == "interpolated").any() and (
        indexed["lst_day_k_flag"] == "missing"
    ).any()


def test_cube_matches_its_sources_on_measured_days(root: pystac.Catalog, cube: xr.Dataset) -> None:
    modis = root.get_child("glofnet-modis-lst")
    itslive = root.get_child("glofnet-itslive")
    assert isinstance(modis, pystac.Collection) and isinstance(itslive, pystac.Collection)
    lst = xr.open_zarr(_href(modis.assets["lst_cube"]))
    velocity = xr.open_zarr(_href(itslive.assets["velocity_cube"]))
    rng = np.random.default_rng(6)
    measured_lst = np.argwhere(cube["lst_day_flag"].values == MEASURED)
    assert len(measured_lst) > 100
    for t, y, x in measured_lst[rng.choice(len(measured_lst), 50, replace=False)]:
        source = lst["LST_Day"].sel(
            time=cube["time"].values[t], x=cube["x"].values[x], y=cube["y"].values[y], method="nearest"
        )
        assert float(cube["lst_day"].values[t, y, x]) == pytest.approx(float(source), abs=0.011)
    measured = np.argwhere(cube["velocity_flag"].values == MEASURED)
    assert len(measured) > 100
    for t, y, x in measured[rng.choice(len(measured), 50, replace=False)]:
        day = pd.Timestamp(cube["time"].values[t])
        pairs = velocity["v"].sel(x=cube["x"].values[x], y=cube["y"].values[y])
        on_day = pairs.values[pd.DatetimeIndex(velocity["mid_date"].values).normalize() == day]
        assert float(cube["velocity"].values[t, y, x]) == pytest.approx(np.nanmean(on_day), abs=0.126)


def test_cube_flags_follow_the_declared_max_gap(harmonized: pystac.Collection, cube: xr.Dataset) -> None:
    interpolation = GlofnetExtension.ext(harmonized).interpolation
    assert interpolation is not None
    for name in ("velocity", "lst_day", "water_fraction"):
        max_gap = interpolation["max_gap_days"][name]
        flags = cube[f"{name}_flag"].values.reshape(cube.sizes["time"], -1)
        values = cube[name].values.reshape(cube.sizes["time"], -1)
        assert np.isfinite(values[flags != MISSING]).all() and np.isnan(values[flags == MISSING]).all()
        columns = np.flatnonzero((flags == INTERPOLATED).any(axis=0) & ((flags == MISSING).sum(axis=0) > 0))
        assert len(columns) > 0, name
        for column in columns[:: max(1, len(columns) // 20)]:
            measured_days = np.flatnonzero(flags[:, column] == MEASURED)
            for before, after in itertools.pairwise(measured_days):
                between = flags[before + 1 : after, column]
                expected = INTERPOLATED if after - before <= max_gap else MISSING
                assert (between == expected).all(), (name, column, before, after)


def test_fill_gaps_interpolates_linearly_up_to_the_maximum() -> None:
    days = np.arange(30, dtype=np.float64)
    values = days**2  # not linear: an interpolated value is the chord, not the curve
    values[:2] = np.nan  # leading gap: no measurement before, stays missing
    values[5:7] = np.nan  # measured 4 and 7: 3 days apart = max_gap, filled
    values[10:13] = np.nan  # measured 9 and 13: 4 days apart = max_gap + 1, missing
    values[-1] = np.nan  # trailing gap: stays missing
    stacked = np.stack([values, 2 * values], axis=1)[:, :, None]  # (time, 2, 1)
    filled, flags = fill_gaps(stacked, max_gap_days=3)
    assert filled.shape == flags.shape == stacked.shape
    chord = 16 + (np.array([5, 6]) - 4) * (49 - 16) / 3
    np.testing.assert_allclose(filled[5:7, 0, 0], chord, rtol=1e-6)
    np.testing.assert_allclose(filled[5:7, 1, 0], 2 * chord, rtol=1e-6)
    assert np.isnan(filled[[0, 1, 10, 11, 12, 29], 0, 0]).all()
    assert list(flags[[0, 4, 5, 6, 7, 10, 12, 29], 0, 0]) == [
        MISSING,
        MEASURED,
        INTERPOLATED,
        INTERPOLATED,
        MEASURED,
        MISSING,
        MISSING,
        MISSING,
    ]
    np.testing.assert_array_equal(filled[flags == MEASURED], stacked[flags == MEASURED].astype(np.float32))


@pytest.mark.parametrize("seed", range(4))
def test_fill_gaps_agrees_with_numpy_interp_on_every_cell(seed: int) -> None:
    """Sparse and dense measured days, gaps at the ends, columns never or always measured: each
    cell as ``np.interp`` over its measured days (float64, then float32), kept where the gap is
    at most the maximum."""
    rng = np.random.default_rng(seed)
    days, cells, max_gap = int(rng.integers(1, 400)), int(rng.integers(1, 50)), int(rng.integers(1, 40))
    values = rng.normal(300, 80, (days, cells))
    values[rng.random((days, cells)) > (0.03, 0.2, 0.6, 0.95)[seed]] = np.nan
    values[:, 0] = np.nan
    filled, flags = fill_gaps(values.reshape(days, cells, 1), max_gap)
    filled, flags = filled[:, :, 0], flags[:, :, 0]
    for cell in range(cells):
        known = np.flatnonzero(np.isfinite(values[:, cell]))
        expected = np.full(days, np.nan, dtype=np.float32)
        expected_flags = np.full(days, MISSING, dtype=np.uint8)
        expected[known], expected_flags[known] = values[known, cell], MEASURED
        for before, after in itertools.pairwise(known):
            if 1 < after - before <= max_gap:
                inside = np.arange(before + 1, after)
                expected[inside] = np.interp(inside, known, values[known, cell])
                expected_flags[inside] = INTERPOLATED
        np.testing.assert_array_equal(flags[:, cell], expected_flags)
        np.testing.assert_allclose(filled[:, cell], expected, rtol=1e-6)  # NaN where NaN


# ------------------------------------------------------------------ STAC round trips
def test_table_and_cube_assets_describe_their_files(
    harmonized: pystac.Collection, table: pd.DataFrame, cube: xr.Dataset
) -> None:
    columns = [c["name"] for c in harmonized.assets["table"].extra_fields["table:columns"]]
    assert columns == list(table.columns)
    assert harmonized.assets["table"].extra_fields["table:row_count"] == len(table)
    datacube = DatacubeExtension.ext(harmonized.assets["cube"])
    assert set(datacube.variables or {}) == set(cube.data_vars)
    assert set(datacube.dimensions) == set(cube.dims)
    processing = next(p for p in harmonized.providers or [] if "processing:lineage" in p.extra_fields)
    for source in ("glofnet-sentinel2", "glofnet-itslive", "glofnet-modis-lst"):
        assert source in processing.extra_fields["processing:lineage"]
    assert processing.extra_fields["processing:level"] == "L3"
    derived = {
        (link.get_absolute_href() or "").rsplit("/", 2)[-2]
        for link in harmonized.links
        if link.rel == "derived_from"
    }
    assert derived == {"glofnet-sentinel2", "glofnet-itslive", "glofnet-modis-lst"}
    assert harmonized.assets["figure"].media_type == "image/png"


def test_split_items_hold_their_rows_and_select_their_days(
    harmonized: pystac.Collection, table: pd.DataFrame, cube: xr.Dataset
) -> None:
    items = list(harmonized.get_items())
    assert sorted(GlofnetExtension.ext(i).split or "" for i in items) == ["test", "train", "validate"]
    for item in items:
        split = GlofnetExtension.ext(item).split
        rows = pd.read_parquet(_href(item.assets["table"]))
        assert (rows["split"] == split).all()
        assert (
            len(rows)
            == int((table["split"] == split).sum())
            == item.assets["table"].extra_fields["table:row_count"]
        )
        assert "cube" not in item.assets, "the cube is the collection's; the item's days are its interval"
        first = item.common_metadata.start_datetime
        last = item.common_metadata.end_datetime
        assert first is not None and last is not None and item.datetime is not None
        assert first <= item.datetime <= last
        selected = cube.sel(time=slice(first.date().isoformat(), last.date().isoformat()))
        assert set(selected["split"].values) == {split}
        assert first.date() == rows["date"].min() and last.date() == rows["date"].max()


# ------------------------------------------------------------------ dask.distributed engine
def test_a_dask_cluster_writes_the_same_cube(built_catalog: Path, standalone: dict[str, Path]) -> None:
    dest = standalone["harmonized"]  # built alone, on a dask scheduler with two worker processes
    serial = built_catalog / "glofnet-harmonized"

    def cube_files(root: Path) -> list[str]:
        store = root / "harmonized_cube.zarr"
        return sorted(p.relative_to(root).as_posix() for p in store.rglob("*") if p.is_file())

    assert cube_files(dest) == cube_files(serial)
    assert len(cube_files(serial)) > 20
    for relative in ["harmonized_daily.parquet", *cube_files(serial)]:
        assert (dest / relative).read_bytes() == (serial / relative).read_bytes(), relative
    collection = pystac.read_file(str(dest / "collection.json"))
    assert isinstance(collection, pystac.Collection)
    assert not [link for link in collection.links if link.rel == "derived_from"]


@pytest.mark.parametrize("days", [30, 1489, 9077, 40000])
def test_tiles_bound_the_values_a_job_holds(days: int) -> None:
    from stactools_glofnet.harmonized.cube import TILE_VALUES, tile_size

    side = tile_size(days)
    assert side % 8 == 0 and side >= 8
    if days * 64 <= TILE_VALUES:  # the smallest tile fits: the bound holds
        assert side * side * days <= TILE_VALUES
    else:  # longer records than 2^15 days get the smallest tile
        assert side == 8
    assert (side + 8) ** 2 * days > TILE_VALUES


def _cube_files(store: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(store).as_posix(): (p.read_bytes(), p.stat().st_ino)
        for p in sorted(store.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class _CubeInputs:
    """The built catalog's collections as the harmonized cube's inputs, and 480 of its days."""

    collections: dict[Any, pystac.Collection]
    inputs: HarmonizationInputs
    days: pd.DatetimeIndex


def _cube_inputs(built_catalog: Path) -> _CubeInputs:
    from stactools_glofnet.harmonized.inputs import harmonization_inputs

    catalog = pystac.read_file(str(built_catalog / "catalog.json"))
    assert isinstance(catalog, pystac.Catalog)
    catalog.make_all_asset_hrefs_absolute()
    collections = {
        GlofnetExtension.ext(c).modality: c
        for c in catalog.get_children()
        if isinstance(c, pystac.Collection)
    }
    inputs = harmonization_inputs(collections)  # type: ignore[arg-type]
    assert inputs is not None
    first = pd.Timestamp(next(iter(inputs.scenes())).day)
    frame = pd.read_parquet(_href(collections["harmonized"].assets["table"]))
    days = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
    days = days[(days >= first) & (days < first + pd.Timedelta(days=480))]
    return _CubeInputs(collections, inputs, days)


def _no_dask_graph(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a dask graph was computed")


def test_the_cube_s_jobs_read_their_windows_without_a_dask_graph(built_catalog: Path, tmp_path: Path) -> None:
    """A tile job reads its window of a source store straight from the store: a dask graph computed
    in a job on a cluster's worker goes to the whole cluster as tasks of its own, moving the
    window's chunks between the workers."""
    import dask

    from stactools_glofnet.core.config import load_content
    from stactools_glofnet.core.wing import BuildOptions
    from stactools_glofnet.harmonized.cube import grid_cube

    content = load_content()
    given = _cube_inputs(built_catalog)
    with dask.config.set(scheduler=_no_dask_graph):
        cube = grid_cube(content, given.inputs, given.days, tmp_path, BuildOptions(content=content))
    with xr.open_zarr(cube.path) as written:
        assert int(written["velocity"].count()) > 0 and int(written["lst_day"].count()) > 0


def test_a_changed_scene_recomputes_only_the_water_tiles_of_the_cube(
    built_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild after one Sentinel-2 scene changed: the velocity and LST chunks of every tile are
    the very files the last build wrote (kept, not recomputed), the water and clear fractions are
    made again, and the cube is the same bytes as one built from scratch (whose scenes go to the
    staging store a few at a time)."""
    from stactools_glofnet.core.config import load_content
    from stactools_glofnet.core.digests import InputDigests
    from stactools_glofnet.core.files import multihash_sha256
    from stactools_glofnet.core.memo import JobMemo
    from stactools_glofnet.core.wing import BuildOptions
    from stactools_glofnet.harmonized import cube as harmonized_cube
    from stactools_glofnet.harmonized.cube import GROUPS, grid_cube

    content = load_content()
    given = _cube_inputs(built_catalog)
    collections, inputs, days = given.collections, given.inputs, given.days
    scene = next(iter(inputs.scenes()))

    def build(name: str, memo: JobMemo) -> tuple[Path, int]:
        cube = grid_cube(content, inputs, days, tmp_path / name, BuildOptions(content=content, memo=memo))
        return cube.path, memo.reused

    def memo(name: str) -> JobMemo:
        return JobMemo(tmp_path / name, salt="test", digests=InputDigests(None))

    kept = memo("kept")
    first, _ = build("first", kept)
    before = _cube_files(first)

    # the scene reprocessed: the western half of its NDWI is now water wherever it was clear
    import rasterio

    item = next(i for i in collections["sentinel2"].get_items(recursive=True) if i.id == scene.id)
    ndwi = tmp_path / "NDWI.tif"
    shutil.copy(scene.ndwi, ndwi)
    with rasterio.open(ndwi, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dataset:
        data = dataset.read(1)
        west = np.arange(data.shape[1])[None, :] < data.shape[1] // 2
        dataset.write(np.where(west & np.isfinite(data), np.float32(0.9), data), 1)
    asset = next(a for a in item.assets.values() if a.get_absolute_href() == str(scene.ndwi))
    asset.href = str(ndwi)
    asset.extra_fields["file:checksum"] = multihash_sha256(ndwi)

    again, reused = build("again", kept)
    scenes = len(list(inputs.scenes()))
    assert scenes > 3
    monkeypatch.setattr(harmonized_cube, "STAGING_BATCH", 3)
    scratch, _ = build("scratch", memo("scratch"))
    after = _cube_files(again)
    assert {n: b for n, (b, _) in after.items()} == {n: b for n, (b, _) in _cube_files(scratch).items()}

    velocity = zarr.open_array(str(again / "velocity"), mode="r")
    tiles = math.prod(-(-n // c) for n, c in zip(velocity.shape[1:], velocity.chunks[1:], strict=True))
    assert tiles >= 4
    assert reused == (scenes - 1) + 2 * tiles  # every other scene, the velocity and LST of every tile
    for name in sorted(after):
        variable = name.split("/")[0]
        if name.rsplit("/", 1)[-1].startswith("."):
            continue  # the store's metadata, written by every build
        if variable.removesuffix("_flag") in (*GROUPS["velocity"], *GROUPS["lst"]):
            assert after[name][1] == before[name][1], f"{name} was recomputed"
        elif variable.removesuffix("_flag") in GROUPS["sentinel2"]:
            assert after[name][1] != before[name][1], f"{name} was not recomputed"
    assert any(after[n][0] != before[n][0] for n in after if n.startswith("water_fraction/"))
