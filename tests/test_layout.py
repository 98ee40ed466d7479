"""Item layout: direct links where they fit (get_items, STAC Browser), partitions under 1 MiB beyond."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pystac
import pytest

from stactools_glofnet.core.files import dumps_json
from stactools_glofnet.core.stac import DIRECT_LINKS_BUDGET, add_items
from stactools_glofnet.validation.lint import MAX_JSON_BYTES

DIRECT = ["glofnet-sentinel2", "glofnet-modis-lst", "glofnet-events", "glofnet-harmonized"]


@pytest.mark.parametrize("collection_id", DIRECT)
def test_get_items_returns_every_item_without_recursion(built_catalog: Path, collection_id: str) -> None:
    collection = pystac.Collection.from_file(str(built_catalog / collection_id / "collection.json"))
    direct = {item.id for item in collection.get_items()}
    everything = {item.id for item in collection.get_items(recursive=True)}
    assert direct and direct == everything
    assert not list(collection.get_children()), "no partition catalogs when the links fit"
    for link in collection.get_links("item"):
        assert link.title and link.title != Path(link.href).stem, "items are listed by their titles"
    for item in collection.get_items():
        assert item.get_parent() == collection and item.common_metadata.title


def _collection(tmp_path: Path) -> pystac.Collection:
    collection = pystac.Collection(
        id="glofnet-test",
        title="Test",
        description="Layout at GLOFNet's real size.",
        extent=pystac.Extent(
            pystac.SpatialExtent([[74.45, 36.27, 74.72, 36.5]]),
            pystac.TemporalExtent([[dt.datetime(1988, 1, 1, tzinfo=dt.UTC), None]]),
        ),
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    return collection


def _item(item_id: str, when: dt.datetime, title: str) -> pystac.Item:
    item = pystac.Item(item_id, None, None, when, {})
    item.common_metadata.title = title
    return item


def _json_sizes(collection: pystac.Collection, tmp_path: Path) -> dict[str, int]:
    collection.normalize_hrefs(str(tmp_path / collection.id))
    return {
        catalog.id: len(dumps_json(catalog.to_dict(include_self_link=False)).encode())
        for catalog, _, _ in collection.walk()
    }


def _itslive_pairs(count: int) -> list[pystac.Item]:
    """ITS_LIVE-like pairs (150-character ids), most since Sentinel-1/2 and Landsat 8 (2014 on)."""
    items = []
    start = dt.datetime(1988, 1, 1, tzinfo=dt.UTC)
    for n in range(count):
        dense = n >= count // 10
        offset = (
            dt.timedelta(days=26 * 365 + (n - count // 10) * 11 * 365 / (count - count // 10))
            if dense
            else dt.timedelta(days=n * 26 * 365 / (count // 10))
        )
        when = start + offset
        image = f"S2A_MSIL1C_{when:%Y%m%dT%H%M%S}_N0500_R005_T43SDA_{n:015d}"
        items.append(
            _item(f"{image}_X_{image}_G0120V02_P095", when, f"ITS_LIVE sentinel-2 pair {when:%Y-%m-%d}")
        )
    return items


def test_a_real_size_itslive_collection_is_partitioned_below_the_json_limit(tmp_path: Path) -> None:
    collection = _collection(tmp_path)
    items = _itslive_pairs(20_000)
    assert add_items(collection, items) == "month"  # ~1600 pairs a year since 2014: a year is too big
    sizes = _json_sizes(collection, tmp_path)
    assert max(sizes.values()) < MAX_JSON_BYTES, max(sizes.values())
    assert sizes[collection.id] < 128 * 1024, "the collection holds partition links only"
    assert not list(collection.get_items())
    found = {item.id for item in collection.get_items(recursive=True)}
    assert found == {item.id for item in items}
    for item in items:
        assert item.get_collection() is collection


def test_a_real_size_sentinel2_collection_links_every_scene_directly(tmp_path: Path) -> None:
    collection = _collection(tmp_path)
    start = dt.datetime(2015, 7, 1, 5, 36, tzinfo=dt.UTC)
    items = []
    for n in range(2000):  # two satellites, every 2.5 days, 2015-2029: more than 43SDA will ever have
        when = start + dt.timedelta(days=2.5 * n)
        item_id = f"S2{'AB'[n % 2]}_43SDA_{when:%Y%m%d}_{n % 3}_L2A"
        items.append(_item(item_id, when, f"Sentinel-2 L2A {when:%Y-%m-%d %H:%M} UTC ({item_id})"))
    assert add_items(collection, items) == "direct"
    sizes = _json_sizes(collection, tmp_path)
    assert sizes[collection.id] < DIRECT_LINKS_BUDGET + 64 * 1024 < MAX_JSON_BYTES
    assert [i.id for i in collection.get_items()] == [i.id for i in items]


def test_a_year_that_fits_is_one_partition(tmp_path: Path) -> None:
    collection = _collection(tmp_path)
    items = _itslive_pairs(6000)
    assert add_items(collection, items) == "year"
    years = sorted(child.id for child in collection.get_children())
    assert years[0] == "glofnet-test-1988" and all(len(y) == len("glofnet-test-1988") for y in years)
    assert max(_json_sizes(collection, tmp_path).values()) < MAX_JSON_BYTES
