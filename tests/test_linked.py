"""Items written to files when made (core/linked.py): the same catalog as items held in memory."""

from __future__ import annotations

import datetime as dt
import gc
import weakref
from pathlib import Path

import pyarrow.parquet as pq
import pystac
import pytest

from stactools_glofnet.core import assets, index, stac
from stactools_glofnet.core.assets import relocate_assets
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.index import write_item_indexes
from stactools_glofnet.core.linked import LinkedItems, count_items, each_item, held_items, write_linked
from stactools_glofnet.core.stac import add_items, layout, save

WORKDIR = "_work"
PAIRS = 40
EXTENT = pystac.Extent(
    pystac.SpatialExtent([[74.6, 36.4, 74.6, 36.4]]),
    pystac.TemporalExtent([[dt.datetime(2017, 3, 1, tzinfo=dt.UTC), None]]),
)


def _pairs(workdir: Path) -> list[pystac.Item]:
    """Items over three years, each with its data file and thumbnail in its own folder of ``workdir``,
    properties in no particular key order; every third links its source."""
    items = []
    start = dt.datetime(2017, 3, 1, tzinfo=dt.UTC)
    for n in range(PAIRS):
        when = start + dt.timedelta(days=29 * n)
        item_id = f"pair-{n:03d}"
        folder = workdir / item_id
        folder.mkdir(parents=True)
        item = pystac.Item(
            item_id,
            {"type": "Point", "coordinates": [74.6, 36.4]},
            [74.6, 36.4, 74.6, 36.4],
            when,
            {"zeta": n, "alpha": {"b": 1, "a": 2}},
            start_datetime=when - dt.timedelta(days=6),
            end_datetime=when + dt.timedelta(days=6),
        )
        item.common_metadata.title = f"pair {n} of {when:%Y-%m-%d}"
        if n % 3 == 0:  # a link of its own before the catalog's (Sentinel-2's derived_from)
            item.add_link(pystac.Link("derived_from", f"https://example.test/{item_id}.json", title=item_id))
        for name in ("v.tif", "thumbnail.png"):
            (folder / name).write_bytes(f"{item_id} {name}".encode())
            item.add_asset(name.split(".")[0], pystac.Asset(str(folder / name), roles=["data"]))
        items.append(item)
    return items


def _build(directory: Path, *, linked: bool) -> pystac.Catalog:
    """A root catalog with one collection of :func:`_pairs`, laid out and saved in ``directory``."""
    workdir = directory / WORKDIR
    items = _pairs(workdir)
    collection = pystac.Collection(
        "glofnet-pairs",
        "Pairs",
        EXTENT,
        title="Pairs",
    )
    if linked:
        listed = LinkedItems()
        for item in items:
            listed.add(item, workdir / item.id)
        add_items(collection, listed)
        listed.close()
    else:
        add_items(collection, items)
    root = pystac.Catalog("glofnet", "Root", title="Root", catalog_type=pystac.CatalogType.SELF_CONTAINED)
    root.add_child(collection, title=collection.title)
    layout(root, directory)
    relocate_assets(root, directory, workdir)
    write_item_indexes(root)
    save(root)
    return root


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and WORKDIR not in path.parts
    }


@pytest.mark.parametrize(("budget", "expected"), [(stac.DIRECT_LINKS_BUDGET, "direct"), (4000, "year")])
def test_linked_items_make_the_same_catalog_as_items_held(
    budget: int, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stac, "DIRECT_LINKS_BUDGET", budget)
    held, linked = tmp_path / "held", tmp_path / "linked"
    _build(held, linked=False)
    root = _build(linked, linked=True)

    assert _tree(linked) == _tree(held)  # every JSON file, asset file and the items.parquet index
    files = _tree(linked)
    children = [name for name in files if name.endswith("catalog.json") and name.count("/") == 2]
    assert bool(children) == (expected != "direct"), "partitions by year only where the links do not fit"
    assert not list(held_items(root)), "the catalog holds no item, only links to their files"
    reread = pystac.Catalog.from_file(str(linked / "catalog.json"))
    found = {item.id: item for item in reread.get_items(recursive=True)}
    assert len(found) == PAIRS
    item = found["pair-007"]
    assert item.get_collection() is not None and item.collection_id == "glofnet-pairs"
    assert Path(item.assets["v"].get_absolute_href() or "").read_bytes() == b"pair-007 v.tif"


def test_linked_items_are_read_one_at_a_time_and_not_kept(tmp_path: Path) -> None:
    workdir = tmp_path / WORKDIR
    items = _pairs(workdir)
    collection = pystac.Collection("c", "Pairs", EXTENT)
    add_items(collection, [write_linked(item, workdir / item.id) for item in items])
    assert count_items(collection) == PAIRS
    seen = []
    for item in each_item(collection):
        seen.append((item.id, item.properties["alpha"], Path(item.assets["v"].href).read_bytes()))
        reference = weakref.ref(item)
        del item
        gc.collect()
        assert reference() is None, "an item read is not kept by the collection"
    assert seen == sorted(seen)
    assert seen[3] == ("pair-003", {"a": 2, "b": 1}, b"pair-003 v.tif")


def test_an_index_written_a_chunk_at_a_time_holds_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tmp_path / "whole"
    _build(whole, linked=True)
    monkeypatch.setattr(index, "INDEX_CHUNK", 7)
    gathered = tmp_path / "gathered"
    _build(gathered, linked=True)
    monkeypatch.setattr(index, "ROW_GROUP", 14)
    chunked = tmp_path / "chunked"
    _build(chunked, linked=True)

    name = "glofnet-pairs/items.parquet"
    assert pq.ParquetFile(whole / name).metadata.num_row_groups == 1
    # chunks gathered into row groups: the same file, whatever the chunk
    assert (gathered / name).read_bytes() == (whole / name).read_bytes()
    groups = pq.ParquetFile(chunked / name).metadata
    assert [groups.row_group(n).num_rows for n in range(groups.num_row_groups)] == [14, 14, PAIRS - 28]
    rows = pq.read_table(chunked / name)
    assert rows.schema.equals(pq.read_table(whole / name).schema)
    assert rows.to_pylist() == pq.read_table(whole / name).to_pylist()
    assert rows.column("id").to_pylist() == [f"pair-{n:03d}" for n in range(PAIRS)]
    assert not list((chunked / "glofnet-pairs").glob(".index-*")), "the records' scratch file is removed"


def test_a_linked_item_keeps_no_path_of_its_own(tmp_path: Path) -> None:
    """A collection's items are read back at once to be linked: the file's path is made from the
    work directory (one string for all) and the item's folder (its id), so each adds only itself."""
    import sys

    workdir = tmp_path / WORKDIR
    items = _pairs(workdir)
    listed = [write_linked(item, workdir / item.id) for item in items]
    for item, linked in zip(items, listed, strict=True):
        assert linked.path == str(workdir / item.id / f"{item.id}.json")
        assert Path(linked.path).is_file() and linked.link().href == linked.path
        assert linked.parent is listed[0].parent and linked.folder is linked.id is item.id
        assert linked.title is item.common_metadata.title and linked.when is item.datetime
        assert sys.getsizeof(linked) <= 80 and not hasattr(linked, "__dict__")  # slotted
    elsewhere = write_linked(items[0], tmp_path / "other folder")  # a folder not named as the item
    assert elsewhere.path == str(tmp_path / "other folder" / "pair-000.json")
    assert elsewhere.folder == "other folder" and pystac.Item.from_file(elsewhere.path).id == "pair-000"


def test_linked_items_are_listed_on_disk_and_read_back_as_written(tmp_path: Path) -> None:
    """The list a wing keeps while its stage runs holds no item in memory: each is a line of a
    temporary file until the collection links them, read back equal (times, zones, titles)."""
    workdir = tmp_path / WORKDIR
    items = _pairs(workdir)
    items[5].common_metadata.title = "paire née à Gilgit: 5"
    items[6].datetime = dt.datetime(2019, 6, 1, 10, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    listed = LinkedItems()
    expected = []
    for number, item in enumerate(items):
        directory = workdir / item.id if number != 7 else tmp_path / "other"
        listed.add(item, directory)
        expected.append(write_linked(item, directory))
    assert len(listed) == PAIRS
    for _ in range(2):  # read twice, the same
        assert list(listed) == expected
    again = list(listed)
    assert again[6].when == items[6].datetime and again[6].when.utcoffset() == dt.timedelta(hours=5)
    assert again[0].parent is again[1].parent and again[0].folder is again[0].id
    listed.add(items[0], tmp_path / "late")  # added after reading: listed after the others
    assert len(listed) == PAIRS + 1 and [item.path for item in listed][-1] == str(
        tmp_path / "late" / "pair-000.json"
    )
    listed.close()


def _sharing(directory: Path) -> tuple[pystac.Catalog, Path]:
    """A laid-out root whose collection has a table every one of its linked items also names."""
    workdir = directory / WORKDIR
    shared = workdir / "series.parquet"
    items = _pairs(workdir)
    shared.write_bytes(b"the collection's table")
    collection = pystac.Collection("glofnet-pairs", "Pairs", EXTENT, title="Pairs")
    collection.add_asset("series", pystac.Asset(str(shared), roles=["data"]))
    listed = LinkedItems()
    for item in items:
        item.add_asset("series", pystac.Asset(str(shared), roles=["data"]))
        listed.add(item, workdir / item.id)
    add_items(collection, listed)
    listed.close()
    root = pystac.Catalog("glofnet", "Root", title="Root", catalog_type=pystac.CatalogType.SELF_CONTAINED)
    root.add_child(collection, title=collection.title)
    layout(root, directory)
    return root, shared


def test_placed_linked_items_leave_no_record_of_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layout forgets a linked item's files once the item is placed, so what it holds does not
    grow with the items; a file the collection moved first is still the one its items name."""
    root, shared = _sharing(tmp_path)
    remembered: dict[Path, Path] = {}
    place = assets.place_linked_items

    def remembering(root: pystac.Catalog, directory: Path, workdir: Path, moved: dict[Path, Path]) -> None:
        place(root, directory, workdir, moved)
        remembered.update(moved)

    monkeypatch.setattr(assets, "place_linked_items", remembering)
    relocate_assets(root, tmp_path, tmp_path / WORKDIR)
    save(root)

    table = tmp_path / "glofnet-pairs" / "series.parquet"
    assert remembered == {shared: table}, "only the collection's file, none of its items' files"
    reread = pystac.Catalog.from_file(str(tmp_path / "catalog.json"))
    found = {item.id: item for item in reread.get_items(recursive=True)}
    assert len(found) == PAIRS
    for item in found.values():
        assert item.assets["series"].get_absolute_href() == str(table)
        assert Path(item.assets["v"].get_absolute_href() or "").read_bytes() == f"{item.id} v.tif".encode()
    assert table.read_bytes() == b"the collection's table"


def test_a_linked_items_missing_asset_file_is_named(tmp_path: Path) -> None:
    root, _ = _sharing(tmp_path)
    missing = tmp_path / WORKDIR / "pair-003" / "v.tif"
    missing.unlink()
    with pytest.raises(GlofnetError, match=r"pair-003: the asset file .*v\.tif is missing") as raised:
        relocate_assets(root, tmp_path, tmp_path / WORKDIR)
    assert str(missing) in str(raised.value)
