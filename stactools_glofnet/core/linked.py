"""Items kept on disk from the moment they are made, and linked by href until the catalog is saved.

A collection of thousands of items (ITS_LIVE's image pairs) would otherwise hold every item in the
build's process until the layout writes them, so its memory would grow with the inputs. A wing
writes each such item as JSON into its work directory when it is made (:func:`write_linked`,
asset hrefs relative to the file) and keeps a :class:`LinkedItem`: its id, date and title, what
the collection needs to link and partition it, listed in a temporary file (:class:`LinkedItems`)
until the collection is assembled. The collection then holds an unresolved ``item``
link to the file; :func:`each_item` reads the items one at a time when a later step needs them,
and :func:`~.assets.place_linked_items` writes each where the layout puts it, with the same links and
bytes as pystac writes an item it holds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pystac

from stactools_glofnet.core.constants import GEOJSON
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json
from stactools_glofnet.core.hrefs import relative_href


@dataclass(frozen=True, slots=True)
class LinkedItem:
    """An item written to :attr:`path`; what its collection needs to link, order and partition it.

    A collection's items are all read back at once to be linked, so it is kept small: slotted,
    and the file's path held in parts that items share (the work directory, one string for all)
    or already hold (the item's folder, named as its id), not as a string of its own per item.
    """

    id: str
    when: dt.datetime
    title: str
    parent: str
    """The absolute path of the folder that holds the item's folder."""
    folder: str
    """The name of the item's folder."""

    @property
    def path(self) -> str:
        """The item file's absolute path."""
        return os.path.join(self.parent, self.folder, f"{self.id}.json")

    def link(self) -> pystac.Link:
        """The collection's (unresolved) link to the item's file."""
        return pystac.Link(pystac.RelType.ITEM, self.path, media_type=GEOJSON, title=self.title)


@dataclass
class ItemsExtent:
    """The bounding box and time span of items taken one at a time: their collection's extent."""

    bounds: tuple[float, float, float, float] | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def add(self, item: pystac.Item) -> None:
        """Widen the extent to ``item``'s bbox and time (its start and end where it has them)."""
        assert item.bbox is not None, f"item {item.id} has no bbox"
        start = item.common_metadata.start_datetime or item.datetime
        end = item.common_metadata.end_datetime or item.datetime
        assert start is not None and end is not None, f"item {item.id} has no datetime"
        west, south, east, north = item.bbox
        if self.bounds is not None:
            west, south = min(west, self.bounds[0]), min(south, self.bounds[1])
            east, north = max(east, self.bounds[2]), max(north, self.bounds[3])
        self.bounds = (west, south, east, north)
        self.start = start if self.start is None else min(self.start, start)
        self.end = end if self.end is None else max(self.end, end)

    def collection_bbox(self) -> list[float]:
        """The bounds as a collection's spatial extent takes them."""
        assert self.bounds is not None, "no item was added"
        return [float(edge) for edge in self.bounds]


def write_linked(item: pystac.Item, directory: Path) -> LinkedItem:
    """Write ``item`` as ``directory/<id>.json`` (asset hrefs relative to it); the item is not kept.

    Its asset files may be anywhere; the file names them relative to itself, so the work directory
    can move (a result kept for the next build is linked into another one).
    """
    when = item.datetime or item.common_metadata.start_datetime
    assert when is not None, f"item {item.id} has no datetime"
    path = Path(os.path.abspath(directory / f"{item.id}.json"))
    record = item.to_dict(include_self_link=False, transform_hrefs=False)
    for asset in record["assets"].values():
        asset["href"] = relative_href(asset["href"], path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_json(record), encoding="utf-8")
    folder = path.parent.name
    parent = sys.intern(str(path.parent.parent))  # one string for every item of the work directory
    title = item.common_metadata.title or item.id
    return LinkedItem(item.id, when, title, parent, item.id if folder == item.id else folder)


class LinkedItems:
    """The items a wing has written (:func:`write_linked`), listed in an unnamed temporary file.

    A :class:`LinkedItem` per item held until the collection is assembled (its id, date, title
    and the object: about 300 bytes) would be what the build's process keeps of every ITS_LIVE
    pair through the stage, about 4 MiB at the whole archive. Listed on disk, they are read back
    together when the collection links them (:meth:`__iter__`).
    """

    def __init__(self) -> None:
        """Start an empty list; its file is removed by :meth:`close`, or when the list is collected
        (a stage that fails leaves it to the garbage collector)."""
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - see close()
        self._close = weakref.finalize(self, self._spool.close)
        self._count = 0

    def add(self, item: pystac.Item, directory: Path) -> None:
        """Write ``item`` into ``directory`` (:func:`write_linked`) and list it."""
        linked = write_linked(item, directory)
        fields = [linked.id, linked.when.isoformat(), linked.title, linked.parent, linked.folder]
        self._spool.write(json.dumps(fields, ensure_ascii=False) + "\n")
        self._count += 1

    def __len__(self) -> int:
        """How many items are listed."""
        return self._count

    def __iter__(self) -> Iterator[LinkedItem]:
        """The items listed, in the order they were added."""
        self._spool.flush()
        self._spool.seek(0)
        try:
            for line in self._spool:
                item_id, when, title, parent, folder = json.loads(line)
                folder = item_id if folder == item_id else folder
                yield LinkedItem(item_id, dt.datetime.fromisoformat(when), title, sys.intern(parent), folder)
        finally:
            self._spool.seek(0, os.SEEK_END)

    def close(self) -> None:
        """Remove the list's file."""
        self._close()


def read_linked(path: Path) -> pystac.Item:
    """The item written at ``path``, its asset hrefs absolute again; not cached anywhere."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise GlofnetError(path, f"cannot read a linked item: {error}") from None
    item = pystac.Item.from_dict(record, href=str(path), migrate=False, preserve_dict=False)
    item.make_asset_hrefs_absolute()
    return item


def is_linked(link: pystac.Link) -> bool:
    """Whether ``link`` is an item link to a file, not to an item in memory."""
    return link.rel == pystac.RelType.ITEM and not link.is_resolved()


def catalogs(root: pystac.Catalog) -> Iterator[pystac.Catalog]:
    """``root`` and every catalog or collection below it (children held in memory), depth first."""
    yield root
    for link in root.links:
        if link.rel == pystac.RelType.CHILD and isinstance(link.target, pystac.Catalog):
            yield from catalogs(link.target)


def each_item(collection: pystac.Catalog) -> Iterator[pystac.Item]:
    """Every item under ``collection``: those held, and those linked, each read when reached."""
    for catalog in catalogs(collection):
        for link in catalog.links:
            if link.rel != pystac.RelType.ITEM:
                continue
            if is_linked(link):
                yield read_linked(Path(link.get_absolute_href() or ""))
            else:
                assert isinstance(link.target, pystac.Item)
                yield link.target


def count_items(collection: pystac.Catalog) -> int:
    """How many items are under ``collection`` (held or linked), without reading any."""
    return sum(len(catalog.get_links(pystac.RelType.ITEM)) for catalog in catalogs(collection))


def held_items(root: pystac.Catalog, *, recursive: bool = True) -> Iterator[pystac.Item]:
    """The items of ``root`` (and below it, ``recursive``) held in memory; linked ones are not read."""
    for catalog in catalogs(root) if recursive else [root]:
        for link in catalog.links:
            if link.rel == pystac.RelType.ITEM and isinstance(link.target, pystac.Item):
                yield link.target


def rebase_links(root: pystac.Catalog, old: str, new: Path) -> None:
    """Point linked items' hrefs from the work directory they were written in, ``old``, to ``new``."""
    prefix = old.rstrip("/") + "/"
    for catalog in catalogs(root):
        for link in catalog.links:
            if is_linked(link) and isinstance(link.target, str) and link.target.startswith(prefix):
                link.target = str(new / link.target[len(prefix) :])
