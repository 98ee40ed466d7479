"""The events collection mirrors catalog/events.toml, one labelled item per event."""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest

from stactools_glofnet.core.config import CatalogContent


@pytest.fixture(scope="module")
def events(built_catalog: Path) -> pystac.Collection:
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    collection = root.get_child("glofnet-events")
    assert isinstance(collection, pystac.Collection)
    return collection


def test_one_item_per_event(events: pystac.Collection, content: CatalogContent) -> None:
    items = {item.id: item for item in events.get_items(recursive=True)}
    assert sorted(items) == sorted(e.id for e in content.events.event)


def test_items_carry_dates_geometry_labels_and_sources(
    events: pystac.Collection, content: CatalogContent
) -> None:
    items = {item.id: item for item in events.get_items(recursive=True)}
    for event in content.events.event:
        item = items[event.id]
        props = item.properties
        assert props["start_datetime"] == f"{event.start}T00:00:00Z"
        assert props["end_datetime"] == f"{event.end}T23:59:59Z"
        expected_day = event.drainage_date if event.drains_lake else event.start
        assert item.datetime is not None and item.datetime.date() == expected_day
        ring = content.geometry.glacier.polygon if event.kind == "surge" else content.geometry.lake.polygon
        assert item.geometry == {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}
        assert props["label:type"] == "vector" and props["label:properties"] == ["kind"]
        via = sorted(link.href for link in item.links if link.rel == "via")
        assert via == sorted(s.url for s in event.sources)
        if any(s.doi for s in event.sources):
            assert props["sci:doi"] == "10.5281/zenodo.7271188"


def test_label_assets_hold_the_event_facts(events: pystac.Collection, content: CatalogContent) -> None:
    items = {item.id: item for item in events.get_items(recursive=True)}
    for event in content.events.event:
        asset = items[event.id].assets["labels"]
        assert asset.media_type == "application/geo+json" and "labels" in (asset.roles or [])
        feature = json.loads(Path(asset.get_absolute_href() or "").read_text())["features"][0]
        assert feature["properties"]["kind"] == event.kind
        assert feature["properties"]["peak_discharge_m3_per_s"] == event.peak_discharge_m3_per_s
        assert feature["properties"]["lake_area_km2"] == event.lake_area_km2


def test_collection_metadata(events: pystac.Collection, content: CatalogContent) -> None:
    interval = events.extent.temporal.intervals[0]
    assert interval[0] is not None and interval[0].date() == min(e.start for e in content.events.event)
    assert interval[1] is not None and interval[1].date() == max(e.end for e in content.events.event)
    assert events.license == content.dataset.license.spdx
    names = [p.name for p in events.providers or []]
    assert "HMAGLOFDB (High Mountain Asia GLOF database)" in names and "stactools-glofnet" in names
    assert "European Space Agency / Copernicus" not in names
    assert events.item_assets["labels"].media_type == "application/geo+json"
    assert {link.rel for link in events.links} >= {"license", "cite-as", "item"}
    # A dozen events: linked directly, so STAC Browser lists them and get_items() returns them all.
    assert not list(events.get_children())
    assert {item.id for item in events.get_items()} == {e.id for e in content.events.event}
