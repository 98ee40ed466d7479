"""The stac-geoparquet item index of every collection: same items as the JSON, searchable offline."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pystac
import pytest
from stac_geoparquet.arrow import stac_table_to_items

from stactools_glofnet.core.constants import INDEX_ASSET, PARQUET

COLLECTIONS = [
    "glofnet-sentinel2",
    "glofnet-itslive",
    "glofnet-modis-lst",
    "glofnet-harmonized",
    "glofnet-events",
]
TIMES = ("datetime", "start_datetime", "end_datetime", "created", "updated")


def _index(built_catalog: Path, collection_id: str) -> tuple[pystac.Collection, Path]:
    collection = pystac.Collection.from_file(str(built_catalog / collection_id / "collection.json"))
    asset = collection.assets[INDEX_ASSET]
    assert asset.media_type == PARQUET and "stac-items" in (asset.roles or [])
    return collection, Path(asset.get_absolute_href() or "")


def _same(json_value: Any, parquet_value: Any) -> bool:
    if isinstance(json_value, dict):
        return isinstance(parquet_value, dict) and all(
            _same(v, parquet_value.get(k)) for k, v in json_value.items()
        )
    if isinstance(json_value, list):
        return (
            isinstance(parquet_value, list)
            and len(json_value) == len(parquet_value)
            and all(_same(a, b) for a, b in zip(json_value, parquet_value, strict=True))
        )
    return bool(json_value == parquet_value)


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_the_index_reads_back_to_the_items(built_catalog: Path, collection_id: str) -> None:
    collection, path = _index(built_catalog, collection_id)
    expected = {item.id: item for item in collection.get_items(recursive=True)}
    records = {record["id"]: record for record in stac_table_to_items(pq.read_table(path))}
    assert set(records) == set(expected)
    for item_id, item in expected.items():
        record = records[item_id]
        assert record["collection"] == collection.id
        assert record["geometry"] == item.geometry and record["bbox"] == item.bbox
        for key, value in item.properties.items():
            if key in TIMES:
                assert pystac.utils.str_to_datetime(
                    record["properties"][key]
                ) == pystac.utils.str_to_datetime(value), key
            else:
                assert _same(value, record["properties"].get(key)), (item_id, key)
        assert set(record["assets"]) == set(item.assets)
        canonical = next(link for link in record["links"] if link["rel"] == "canonical")
        assert (path.parent / canonical["href"]).resolve() == Path(item.get_self_href() or "").resolve()
        for key, asset in record["assets"].items():
            assert (path.parent / asset["href"]).resolve() == Path(item.assets[key].get_absolute_href() or "")


def test_pyarrow_filters_the_index_by_bbox_datetime_and_properties(built_catalog: Path) -> None:
    collection, path = _index(built_catalog, "glofnet-sentinel2")
    items = list(collection.get_items(recursive=True))
    start, end = dt.datetime(2019, 1, 1, tzinfo=dt.UTC), dt.datetime(2021, 12, 31, tzinfo=dt.UTC)
    expected = sorted(
        i.id
        for i in items
        if i.datetime is not None
        and start <= i.datetime <= end
        and i.properties["eo:cloud_cover"] < 20
        and i.properties["glofnet:split"] == "train"
    )
    assert expected, "the sample has clear train scenes in 2019-2021"
    assert len(expected) < len(items)
    table = pq.read_table(
        path,
        filters=(pc.field("datetime") >= start)
        & (pc.field("datetime") <= end)
        & (pc.field("eo:cloud_cover") < 20)
        & (pc.field("glofnet:split") == "train")
        & (pc.field("bbox", "xmin") <= 74.58)
        & (pc.field("bbox", "xmax") >= 74.56),
        columns=["id"],
    )
    assert sorted(table.column("id").to_pylist()) == expected


def test_pyarrow_finds_the_itslive_pairs_of_the_surge(built_catalog: Path) -> None:
    collection, path = _index(built_catalog, "glofnet-itslive")
    items = list(collection.get_items(recursive=True))
    expected = sorted(i.id for i in items if i.properties["glofnet:glacier_mean_m_per_yr"] > 1000)
    assert 0 < len(expected) < len(items)
    table = pq.read_table(path, filters=pc.field("glofnet:glacier_mean_m_per_yr") > 1000, columns=["id"])
    assert sorted(table.column("id").to_pylist()) == expected
