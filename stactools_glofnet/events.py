"""The ``glofnet-events`` collection: one labelled item per documented event at Shisper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.file import FileExtension
from pystac.extensions.label import LabelClasses, LabelExtension, LabelTask, LabelType
from pystac.extensions.scientific import ScientificExtension

from stactools_glofnet.core.assets import file_asset
from stactools_glofnet.core.config import CatalogContent, Event, Position
from stactools_glofnet.core.constants import GEOJSON, LABELS_ASSET
from stactools_glofnet.core.extension import GlofnetExtension, class_balance
from stactools_glofnet.core.files import write_json
from stactools_glofnet.core.preview import add_thumbnail, outline_thumbnail
from stactools_glofnet.core.stac import add_items, day_end, day_start, new_collection
from stactools_glofnet.core.wing import BuildOptions, WingInputs

EVENT_KINDS = ["dam-formation", "glof", "surge"]
KIND_COLOURS = {"dam-formation": "tab:orange", "glof": "tab:blue", "surge": "tab:cyan"}
LABEL_PROPERTY = "kind"
LABEL_DESCRIPTION = (
    "Documented event at Shisper Glacier; the GeoJSON label carries its kind, confidence, "
    "peak discharge and lake area where known."
)
LINEAGE = (
    "Events transcribed by hand from HMAGLOFDB v1.1.0, ICIMOD reports, Bhambri et al. (2020) and "
    "the IceWatch/GLOFNet label dates into catalog/events.toml; geometries from catalog/geometry.toml."
)


def _labels_definition() -> pystac.ItemAssetDefinition:
    return pystac.ItemAssetDefinition.create(
        title="Event label (GeoJSON)",
        description="The event's geometry with its kind, confidence, discharge and lake area.",
        media_type=GEOJSON,
        roles=["labels", "labels-vector", "data"],
    )


def _geometry(content: CatalogContent, event: Event) -> list[Position]:
    if event.kind == "surge":
        return content.geometry.glacier.polygon
    return content.geometry.lake.polygon


def _label_feature(event: Event, ring: list[Position]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "id": event.id,
        "kind": event.kind,
        "confidence": event.confidence,
        "start": event.start.isoformat(),
        "end": event.end.isoformat(),
        "drains_lake": event.drains_lake,
        "peak_discharge_m3_per_s": event.peak_discharge_m3_per_s,
        "lake_area_km2": event.lake_area_km2,
        "peak_speed_m_per_day": event.peak_speed_m_per_day,
        "sources": [source.model_dump(exclude_none=True) for source in event.sources],
    }
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": event.id,
                "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
                "properties": properties,
            }
        ],
    }


def create_event_item(content: CatalogContent, event: Event) -> pystac.Item:
    """The STAC item of one event (its label asset is written by :func:`write_event_assets`)."""
    ring = _geometry(content, event)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    when = event.drainage_date if event.drains_lake else event.start
    item = pystac.Item(
        id=event.id,
        geometry={"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        bbox=[min(lons), min(lats), max(lons), max(lats)],
        datetime=day_start(when),
        properties={},
        start_datetime=day_start(event.start),
        end_datetime=day_end(event.end),
    )
    item.common_metadata.title = event.title
    item.common_metadata.description = event.description
    item.properties["keywords"] = [event.kind, event.confidence]
    label = LabelExtension.ext(item, add_if_missing=True)
    label.apply(
        label_description=LABEL_DESCRIPTION,
        label_type=LabelType.VECTOR,
        label_properties=[LABEL_PROPERTY],
        label_classes=[LabelClasses.create(classes=EVENT_KINDS, name=LABEL_PROPERTY)],
        label_tasks=[LabelTask.CLASSIFICATION],
        label_methods=["manual"],
    )
    doi_sources = [s for s in event.sources if s.doi]
    if doi_sources:
        ScientificExtension.ext(item, add_if_missing=True).apply(
            doi=doi_sources[0].doi, citation=doi_sources[0].title
        )
    for source in event.sources:
        item.add_link(pystac.Link("via", source.url, media_type="text/html", title=source.title))
    FileExtension.add_to(item)
    glofnet = GlofnetExtension.ext(item, add_if_missing=True)
    glofnet.modality = "events"
    glofnet.split = content.splits.split_of_interval(*content.events.label_window(event))
    glofnet.label = "glof" if event in content.events.labelled else "no_glof"
    return item


def create_collection(_inputs: WingInputs, workdir: Path, options: BuildOptions) -> pystac.Collection:
    """The events' front door: one item per event in catalog/events.toml (no SOURCE input).

    Label files are written under ``workdir``; the build moves them beside their items.
    """
    content = options.content
    events = sorted(content.events.event, key=lambda e: (e.start, e.id))
    items = []
    for event in events:
        item = create_event_item(content, event)
        path = workdir / event.id / f"{event.id}.geojson"
        write_json(path, _label_feature(event, _geometry(content, event)))
        item.add_asset(LABELS_ASSET, file_asset(_labels_definition(), path))
        thumbnail = workdir / event.id / "thumbnail.png"
        outline_thumbnail([(_geometry(content, event), KIND_COLOURS[event.kind])], event.title, thumbnail)
        add_thumbnail(
            item, thumbnail, "Event outline", f"The {event.kind} outline over lon/lat (no basemap)."
        )
        items.append(item)
    lons = [v for item in items for v in (item.bbox or [])[0::2]]
    lats = [v for item in items for v in (item.bbox or [])[1::2]]
    collection = new_collection(
        content,
        "events",
        bbox=[min(lons), min(lats), max(lons), max(lats)],
        interval=(day_start(events[0].start), day_end(max(e.end for e in events))),
        lineage=LINEAGE,
    )
    collection.item_assets = {LABELS_ASSET: _labels_definition()}
    FileExtension.add_to(collection)
    summaries = LabelExtension.summaries(collection, add_if_missing=True)
    summaries.label_type = [LabelType.VECTOR]
    summaries.label_properties = [LABEL_PROPERTY]
    summaries.label_classes = [LabelClasses.create(classes=EVENT_KINDS, name=LABEL_PROPERTY)]
    summaries.label_tasks = [LabelTask.CLASSIFICATION]
    summaries.label_methods = ["manual"]
    GlofnetExtension.ext(collection).class_balance = class_balance(
        [(GlofnetExtension.ext(i).split, GlofnetExtension.ext(i).label == "glof") for i in items]
    )
    outline_thumbnail(
        [
            (content.geometry.glacier.polygon, KIND_COLOURS["surge"]),
            (content.geometry.lake.polygon, KIND_COLOURS["glof"]),
        ],
        "Shisper Glacier and its ice-dammed lake",
        workdir / "thumbnail.png",
    )
    add_thumbnail(
        collection,
        workdir / "thumbnail.png",
        "Glacier and lake outlines",
        "Shisper Glacier (surges) and the lake basin (outbursts, damming) over lon/lat, no basemap.",
    )
    add_items(collection, items)
    return collection
