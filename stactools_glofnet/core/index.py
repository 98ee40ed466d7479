"""Item indexes: every collection publishes its items as one stac-geoparquet file, a collection asset.

With it, DuckDB, pyarrow, GeoPandas or rustac users search a collection offline (bbox, datetime,
any property) without walking the JSON, whatever the layout (direct links or partitions). Hrefs
inside the file (assets, the ``canonical`` link to the item JSON) are relative to the file, which
sits beside ``collection.json``; they resolve the same way on disk, over HTTP and on S3.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pystac
from stac_geoparquet.arrow import parse_stac_ndjson_to_arrow, to_parquet

from stactools_glofnet.core.assets import file_asset
from stactools_glofnet.core.constants import GEOJSON, INDEX_ASSET, PARQUET
from stactools_glofnet.core.hrefs import relative_href
from stactools_glofnet.core.linked import catalogs, is_linked, read_linked

INDEX_FILE = "items.parquet"
INDEX_CHUNK = 128
"""Index records turned into Arrow at a time: each is Python objects (its JSON) until then."""
ROW_GROUP = 1024
"""Rows of the index's row groups: the chunks, once Arrow, are gathered until there are this many.

A chunk's records in Python fill CPython's small-object heap, which keeps the arenas a few
survivors pin; at 1,024 records a chunk, the 0.25 sample's ITS_LIVE index left 20 MiB of the
build's process behind, at 128 about 9 (docs/benchmarks.md). Arrow's buffers come from the system
allocator and go back whole, and row groups of 128 rows made the file 74 % larger."""
STRUCTURAL_RELS = {"self", "root", "parent", "collection"}


def _sorted(value: Any) -> Any:
    """``value`` with the keys of every mapping in it sorted."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(element) for element in value]
    return value


def index_record(item: pystac.Item, directory: Path) -> dict[str, Any]:
    """``item`` as the index stores it: hrefs relative to ``directory``, a ``canonical`` link to its
    JSON, keys sorted as in that JSON (so the index is the same whether the item was held in
    memory or read from its file)."""
    record = item.to_dict(include_self_link=False, transform_hrefs=False)
    for asset in record["assets"].values():
        asset["href"] = relative_href(asset["href"], directory)
    links = [link for link in record["links"] if link["rel"] not in STRUCTURAL_RELS]
    for link in links:
        link["href"] = relative_href(link["href"], directory)
    self_href = item.get_self_href()
    assert self_href is not None, f"item {item.id} is not laid out"
    links.insert(0, {"rel": "canonical", "href": relative_href(self_href, directory), "type": GEOJSON})
    record["links"] = links
    sorted_record: dict[str, Any] = _sorted(record)
    return sorted_record


def _items_by_id(collection: pystac.Collection) -> list[tuple[str, pystac.Item | str]]:
    """Every item of the laid-out ``collection`` by id: held, or the file of a linked one (a string:
    a ``Path`` each would be about three times the bytes, for every item of the collection at once)."""
    found: list[tuple[str, pystac.Item | str]] = []
    for catalog in catalogs(collection):
        for link in catalog.links:
            if is_linked(link):
                file = link.get_absolute_href() or ""
                found.append((os.path.splitext(os.path.basename(file))[0], file))
            elif link.rel == pystac.RelType.ITEM and isinstance(link.target, pystac.Item):
                found.append((link.target.id, link.target))
    return sorted(found, key=lambda entry: entry[0])


def _row_groups(batches: pa.RecordBatchReader, rows: int) -> pa.RecordBatchReader:
    """``batches`` gathered into batches of ``rows`` rows (the last may have fewer), each written as
    one row group."""

    def gathered() -> Iterator[pa.RecordBatch]:
        held: list[pa.RecordBatch] = []
        count = 0
        for batch in batches:
            held.append(batch)
            count += batch.num_rows
            if count >= rows:
                yield pa.concat_batches(held)
                held, count = [], 0
        if held:
            yield pa.concat_batches(held)

    return pa.RecordBatchReader.from_batches(batches.schema, gathered())


def write_item_index(collection: pystac.Collection) -> Path | None:
    """Write ``items.parquet`` beside the laid-out ``collection`` and add it as its ``items`` asset.

    Items are written sorted by id; the file is deterministic for the same items. Returns the
    path, or None for a collection without items. The records go through a newline-delimited
    file that stac-geoparquet reads :data:`INDEX_CHUNK` at a time (once for the schema, once for
    the rows), written :data:`ROW_GROUP` rows at a time, so the index's memory does not grow
    with the collection.
    """
    href = collection.get_self_href()
    assert href is not None, f"collection {collection.id} is not laid out"
    directory = Path(href).parent
    items = _items_by_id(collection)
    if not items:
        return None
    path = directory / INDEX_FILE
    with tempfile.TemporaryDirectory(prefix=".index-", dir=directory) as scratch:
        records = Path(scratch) / "items.ndjson"
        with records.open("w", encoding="utf-8") as lines:
            for _, item in items:
                record = index_record(read_linked(Path(item)) if isinstance(item, str) else item, directory)
                lines.write(json.dumps(record, separators=(",", ":")) + "\n")
        batches = parse_stac_ndjson_to_arrow(records, chunk_size=INDEX_CHUNK)
        to_parquet(_row_groups(batches, ROW_GROUP), path, compression="zstd")
    definition = pystac.ItemAssetDefinition.create(
        title="Item index (stac-geoparquet)",
        description=(
            f"All {len(items)} items of the collection, one row each, for offline search with DuckDB, "
            "pyarrow or rustac; hrefs are relative to this file."
        ),
        media_type=PARQUET,
        roles=["stac-items", "metadata"],
    )
    collection.add_asset(INDEX_ASSET, file_asset(definition, path))
    return path


def write_item_indexes(root: pystac.Catalog) -> None:
    """An index for every collection under ``root`` (or ``root`` itself when it is a collection)."""
    collections = [root] if isinstance(root, pystac.Collection) else list(root.get_all_collections())
    for collection in collections:
        write_item_index(collection)
