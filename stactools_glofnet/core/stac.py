"""STAC helpers every wing shares: collection skeletons, item layout, deterministic saving."""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.processing import ProcessingExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.scientific import Publication, ScientificExtension, doi_to_url
from pystac.extensions.version import VersionExtension
from pystac.stac_io import DefaultStacIO
from rasterio.warp import transform_geom

from stactools_glofnet import __version__
from stactools_glofnet.core.config import CatalogContent, Modality
from stactools_glofnet.core.constants import ROOT_CATALOG_ID, SOFTWARE_NAME
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension, split_definition
from stactools_glofnet.core.files import dumps_json
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.linked import LinkedItem, catalogs, held_items

Listed = pystac.Item | LinkedItem
"""An item a collection lists: held in memory, or written to a file (:mod:`.linked`)."""


class DeterministicStacIO(DefaultStacIO):
    """Writes STAC JSON with sorted keys and a fixed layout, so builds are byte-identical."""

    def json_dumps(self, json_dict: dict[str, Any], *args: Any, **kwargs: Any) -> str:
        """Serialize ``json_dict`` deterministically."""
        return dumps_json(json_dict)


def footprint(grid: Grid) -> tuple[dict[str, Any], list[float]]:
    """The WGS84 polygon and bbox of a grid's extent."""
    left, bottom, right, top = grid.bounds
    ring = [(left, bottom), (right, bottom), (right, top), (left, top), (left, bottom)]
    geometry: dict[str, Any] = transform_geom(
        grid.crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]}, precision=6
    )
    lons = [p[0] for p in geometry["coordinates"][0]]
    lats = [p[1] for p in geometry["coordinates"][0]]
    return geometry, [min(lons), min(lats), max(lons), max(lats)]


def stamp_projection(item: pystac.Item, grid: Grid) -> None:
    """Declare the projection extension on ``item`` with ``grid``'s CRS, shape, transform and bbox."""
    fields = grid.projection_fields()
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        code=fields["proj:code"],
        wkt2=fields.get("proj:wkt2"),
        shape=fields["proj:shape"],
        transform=fields["proj:transform"],
        bbox=fields["proj:bbox"],
    )


def build_datetime(content: CatalogContent) -> dt.datetime:
    """The fixed ``created``/``updated``/processing time: SOURCE_DATE_EPOCH or the release date."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
    return content.dataset.release_date


def day_start(day: dt.date) -> dt.datetime:
    """00:00:00 UTC of ``day``."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def day_end(day: dt.date) -> dt.datetime:
    """23:59:59 UTC of ``day``."""
    return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=dt.UTC)


def providers_for(
    content: CatalogContent, modality: Modality, processing: dict[str, Any] | None = None
) -> list[pystac.Provider]:
    """The providers listed for ``modality``; ``processing`` fields go on this software's entry."""
    return [
        pystac.Provider(
            name=p.name,
            description=p.description,
            roles=list(p.roles),  # type: ignore[arg-type]
            url=p.url,
            extra_fields=processing if p.name == SOFTWARE_NAME and processing else None,
        )
        for p in content.providers
        if p.applies_to(modality)
    ]


def root_catalog(content: CatalogContent) -> pystac.Catalog:
    """The GLOFNet root catalog, with links to the paper and the licence."""
    dataset = content.dataset
    catalog = pystac.Catalog(
        id=ROOT_CATALOG_ID,
        title=dataset.title,
        description=dataset.description,
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    _add_license_link(catalog, content)
    catalog.add_link(
        pystac.Link(
            "cite-as",
            f"https://doi.org/{dataset.citation.doi}",
            media_type="text/html",
            title="GLOFNet paper (DOI)",
        )
    )
    return catalog


def _add_license_link(obj: pystac.Catalog, content: CatalogContent) -> None:
    license = content.dataset.license
    obj.add_link(pystac.Link("license", license.url, media_type="text/html", title=license.title))


def new_collection(
    content: CatalogContent,
    modality: Modality,
    *,
    bbox: list[float],
    interval: tuple[dt.datetime | None, dt.datetime | None],
    lineage: str,
    level: str | None = None,
) -> pystac.Collection:
    """A collection with the shared metadata: texts, licence, providers, citation, version."""
    text = content.collection_text(modality)
    dataset = content.dataset
    collection = pystac.Collection(
        id=text.id,
        title=text.title,
        description=text.description,
        extent=pystac.Extent(
            pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[interval[0], interval[1]]])
        ),
        license=dataset.license.spdx,
        keywords=sorted(set(dataset.keywords) | set(text.keywords), key=str.lower),
        providers=providers_for(
            content,
            modality,
            ({"processing:level": level} if level else {})
            | {
                "processing:lineage": lineage,
                "processing:software": {SOFTWARE_NAME: __version__},
                "processing:datetime": pystac.utils.datetime_to_str(build_datetime(content)),
            },
        ),
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    _add_license_link(collection, content)
    terms = dataset.source_terms.get(modality)
    if terms is not None:
        collection.add_link(
            pystac.Link("license", terms.url, media_type="text/html", title=f"Source terms: {terms.title}")
        )
        collection.extra_fields["attribution"] = terms.attribution
    sci = ScientificExtension.ext(collection, add_if_missing=True)
    sci.apply(
        citation=dataset.citation.text,
        publications=[Publication(doi=p.doi, citation=p.citation) for p in dataset.publications],
    )
    # pystac adds one untitled cite-as link per publication; STAC best practice wants every link titled.
    titles = {doi_to_url(p.doi): p.citation for p in dataset.publications}
    for link in collection.links:
        if link.rel == "cite-as" and link.title is None and link.href in titles:
            link.title = titles[link.href]
    VersionExtension.ext(collection, add_if_missing=True).apply(version=dataset.version)
    ProcessingExtension.add_to(collection)
    glofnet = GlofnetExtension.ext(collection, add_if_missing=True)
    glofnet.modality = modality
    glofnet.splits = split_definition(content)
    return collection


DIRECT_LINKS_BUDGET = 512 * 1024
"""Bytes of item links a collection (or partition) may carry: half the 1 MiB JSON lint, so the
collection's own metadata and the geoparquet index asset always fit beside them."""


def link_sources(collection: pystac.Collection, sources: Iterable[pystac.Collection]) -> None:
    """Add a ``derived_from`` link to each collection ``collection`` was made from, before its items."""
    links = [
        pystac.Link("derived_from", source, media_type="application/json", title=source.title or source.id)
        for source in sources
    ]
    for link in links:
        link.set_owner(collection)
    rels = [link.rel for link in collection.links]
    at = rels.index("item") if "item" in rels else len(rels)
    collection.links[at:at] = links


def _title(item: Listed) -> str:
    if isinstance(item, LinkedItem):
        return item.title
    return item.common_metadata.title or item.id


def _link_bytes(item: Listed) -> int:
    """The size of ``item``'s link in its parent's JSON (as the deterministic writer indents it)."""
    link = {
        "href": f"./{item.id}/{item.id}.json",
        "rel": "item",
        "title": _title(item),
        "type": "application/geo+json",
    }
    return len(dumps_json(link)) + 6 * 4  # six lines, each indented four more spaces in a links list


def _when(item: Listed) -> dt.datetime:
    if isinstance(item, LinkedItem):
        return item.when
    when = item.datetime or item.common_metadata.start_datetime
    assert when is not None, f"item {item.id} has no datetime"
    return when


def _add(catalog: pystac.Catalog, item: Listed, collection: pystac.Collection) -> None:
    """Link ``item`` from ``catalog`` (``collection`` or one of its partitions)."""
    if isinstance(item, LinkedItem):
        catalog.add_link(item.link())
        return
    catalog.add_item(item, title=_title(item))
    if catalog is not collection:
        item.set_collection(collection)  # the partition is its parent, the collection its owner


PARTITIONS: tuple[tuple[str, Callable[[dt.datetime], str]], ...] = (
    ("year", lambda when: f"{when.year:04d}"),
    ("month", lambda when: f"{when.year:04d}-{when.month:02d}"),
)
"""Partition keys tried in turn when a collection's item links exceed the budget."""


def _partition(
    collection: pystac.Collection, ordered: list[Listed], sizes: dict[str, int]
) -> tuple[str, dict[str, list[Listed]]]:
    """The first partition (year, then month) whose every group's links fit the budget."""
    for name, key in PARTITIONS:
        groups: dict[str, list[Listed]] = defaultdict(list)
        for item in ordered:
            groups[key(_when(item))].append(item)
        if max(sum(sizes[i.id] for i in group) for group in groups.values()) <= DIRECT_LINKS_BUDGET:
            return name, groups
    raise GlofnetError(
        Path(collection.id), f"more items in one month than a {DIRECT_LINKS_BUDGET}-byte catalog holds"
    )


def add_items(collection: pystac.Collection, items: Iterable[Listed]) -> str:
    """Add ``items`` to ``collection``: linked directly when their links fit the budget, else partitioned.

    Direct links are what STAC Browser's collection page and pystac's ``get_items()`` read; a
    collection too large for that (ITS_LIVE at full size) gets one sub-catalog per year, or per
    month when a year's links alone would exceed the budget, so no JSON file passes the 1 MiB
    lint. The collection's stac-geoparquet index lists every item whatever the layout. Returns
    the layout used: ``direct``, ``year`` or ``month``. Items written to files
    (:class:`~.linked.LinkedItem`) are linked the same way, without being read.
    """
    ordered = sorted(items, key=lambda i: (_when(i), i.id))
    sizes = {item.id: _link_bytes(item) for item in ordered}
    if sum(sizes.values()) <= DIRECT_LINKS_BUDGET:
        for item in ordered:
            _add(collection, item, collection)
        return "direct"
    name, groups = _partition(collection, ordered, sizes)
    for value, group in sorted(groups.items()):
        partition = pystac.Catalog(
            id=f"{collection.id}-{value}",
            title=f"{collection.title} - {value}",
            description=f"Items of {collection.id} dated {value}.",
        )
        collection.add_child(partition, title=value)
        for item in group:
            _add(partition, item, collection)
    return name


def layout(root: pystac.Catalog, directory: Path) -> None:
    """Give every object held its final self href under ``directory`` (best-practice layout);
    linked items are placed with the asset files (:func:`~.assets.relocate_assets`)."""
    root.normalize_hrefs(str(directory), skip_unresolved=True)


def save(root: pystac.Catalog) -> None:
    """Write a laid-out catalog as a self-contained catalog with relative links and asset hrefs
    (linked items are already written: :func:`~.linked.place_linked_items`)."""
    for catalog in catalogs(root):  # not pystac's walk, which would read every linked item
        if isinstance(catalog, pystac.Collection):
            catalog.make_asset_hrefs_relative()
        for item in held_items(catalog, recursive=False):
            item.make_asset_hrefs_relative()
    root.save(pystac.CatalogType.SELF_CONTAINED, stac_io=DeterministicStacIO())
