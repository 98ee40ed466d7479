"""The catalog on disk as it is published: what the root reaches, checked before anything is sent.

Publishing starts at the root document and follows its links. It publishes every STAC document
reached (``child`` and ``item`` links must lead to one; any other relative link to a JSON file
is followed too when that file is a STAC document), the file each asset href points to, every
file inside an asset that is a directory (a Zarr store, dotfiles such as ``.zmetadata`` and
``.zarray`` included), and the file any other relative link points to (such as the extension's
JSON Schema that the root's ``describedby`` link names). Nothing else in the directory is
published: not a stray notes file, not ``.env``, not ``.git``.

Every relative link and asset href must resolve to a file (or an asset's directory) inside the
catalog, so the published root can never reference an object that is not published with it.
Only paths, kinds and levels are kept: each document is parsed once here and read again when it
is hashed or uploaded, so memory does not grow with the catalog's JSON.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import read_json
from stactools_glofnet.core.hrefs import href_kind
from stactools_glofnet.publish.media import Kind
from stactools_glofnet.publish.target import MANIFEST_NAME, check_relative_key

logger = logging.getLogger(__name__)

STAC_TYPES: dict[str, Kind] = {"Catalog": "catalog", "Collection": "catalog", "Feature": "item"}
HIERARCHY = ("child", "item")
"""Link relations that must lead to a STAC document, and that a catalog is published after."""


@dataclass(frozen=True)
class CatalogFile:
    """One file to publish."""

    relative: str
    """Its path relative to the catalog directory, with ``/`` separators: the key suffix."""
    path: Path
    kind: Kind
    level: int = 0
    """For catalogs and collections, 1 + the level of their deepest child (items are 0): the
    order in which they are published, deepest first."""
    declared_type: str | None = None
    """The media type a STAC asset (or, failing that, a link) declares for this file, if any."""


@dataclass(frozen=True)
class LocalCatalog:
    """The catalog directory, its root document and the files reachable from the root."""

    directory: Path
    root: str
    files: list[CatalogFile]
    left_out: int = 0
    """How many files under the directory nothing reachable from the root references."""
    left_out_first: str | None = None
    """One of them, for the message (the first met walking the directory in name order)."""

    def left_out_note(self) -> str | None:
        """One line saying how many files are not published, or None when none is left out."""
        if not self.left_out:
            return None
        return (
            f"{self.left_out} files under the catalog directory are not reachable from the root and "
            f"are not published (the first: {self.left_out_first})"
        )


def is_absolute_href(href: str) -> bool:
    """Whether ``href`` is a URL or an absolute path (not relative to the document holding it)."""
    return href_kind(href) != "relative"


def _stac_kind(document: Any) -> Kind | None:
    if isinstance(document, dict) and "stac_version" in document:
        return STAC_TYPES.get(str(document.get("type")))
    return None


def _hrefs(document: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(relation, href, declared media type)`` of every link and asset of a STAC object."""
    links = document.get("links", [])
    assets = document.get("assets", {})
    found: list[tuple[str, Any, Any]] = [
        (str(link.get("rel")), link.get("href"), link.get("type"))
        for link in (links if isinstance(links, list) else [])
        if isinstance(link, dict)
    ]
    found += [
        ("asset", asset.get("href"), asset.get("type"))
        for asset in (assets.values() if isinstance(assets, dict) else [])
        if isinstance(asset, dict)
    ]
    return found


def _header_safe(media_type: Any) -> str | None:
    if isinstance(media_type, str) and media_type.isascii() and media_type.isprintable():
        return media_type.strip() or None
    return None


def _resolve(directory: Path, relative: str, href: str) -> str:
    """The catalog-relative path a relative href of document ``relative`` (in ``directory``)
    points to; refuses hrefs leaving the catalog."""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(relative), unquote(urlsplit(href).path)))
    if target == ".." or target.startswith("../"):
        raise GlofnetError(
            directory / relative, f"href {href!r} leaves the catalog directory, so it cannot be published"
        )
    return "" if target == "." else target


class _Scan:
    """The walk from the root: the documents still to read and the files found so far."""

    def __init__(self, directory: Path, root: str) -> None:
        self.directory = directory
        self.root = root
        self.files: dict[str, Path] = {}
        """Every file to publish, documents included, by catalog-relative path."""
        self.documents: dict[str, Kind] = {}
        self.children: dict[str, list[str]] = {}
        self.pending: dict[str, str | None] = {}
        """JSON files to read: for each, the document whose child/item link requires a STAC
        document there, or None when it is published either way."""
        self.plain: set[str] = set()
        """JSON files read and found not to be STAC documents."""
        self.walked: set[str] = set()
        self.asset_types: dict[str, str] = {}
        self.link_types: dict[str, str] = {}
        self.absolute: list[tuple[str, str]] = []
        self.root_real = os.fspath(directory)
        """The catalog directory, already resolved."""
        self.real_directories: dict[str, str] = {}

    def _real_directory(self, directory: str) -> str:
        """``os.path.realpath`` of a directory, remembered (many files share one)."""
        real = self.real_directories.get(directory)
        if real is None:
            real = self.real_directories[directory] = os.path.realpath(directory)
        return real

    def _inside(self, path: Path) -> bool:
        """Whether ``path``, with every symbolic link resolved, is inside the catalog directory
        (what ``path.resolve().is_relative_to(directory)`` says, with one realpath per folder)."""
        name = os.fspath(path)
        if os.path.islink(name):
            real = os.path.realpath(name)
        else:
            head, tail = os.path.split(name)
            real = os.path.join(self._real_directory(head), tail)
        return real == self.root_real or real.startswith(self.root_real + os.sep)

    def add_file(self, relative: str, path: Path) -> None:
        """Publish one file, if it can be published safely."""
        if relative in self.files:
            return
        if not self._inside(path):
            raise GlofnetError(path, "symbolic link points outside the catalog directory")
        if not path.is_file():
            raise GlofnetError(path, "not a regular file (or a broken symbolic link)")
        self._add_regular(relative, path)

    def _add_regular(self, relative: str, path: Path) -> None:
        """Publish a file known to be a regular file inside the catalog, if its name is safe."""
        check_relative_key(relative)
        if relative == MANIFEST_NAME:
            raise GlofnetError(path, "this name is reserved for the publish manifest")
        self.files[relative] = path

    def add_directory(self, owner: Path, href: str, relative: str) -> None:
        """Publish every file inside an asset's directory (a Zarr store), hidden ones included."""
        if relative in self.walked:
            return
        self.walked.add(relative)
        path = self.directory / relative
        if path.is_symlink() or not path.resolve().is_relative_to(self.directory):
            raise GlofnetError(path, "symbolic links to directories are not published")
        if not self._add_tree(path, relative):
            raise GlofnetError(owner, f"href {href!r} points to an empty directory")

    def _add_tree(self, folder: Path, relative: str) -> int:
        """Publish the files under ``folder`` (os.walk's order: a folder's files, then its
        subfolders); return how many. The directory entries say which are regular files, so
        those cost no system call beyond the listing."""
        files: list[os.DirEntry[str]] = []
        folders: list[os.DirEntry[str]] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():  # follows symbolic links, as os.walk does
                    if entry.is_symlink():
                        raise GlofnetError(
                            Path(entry.path), "symbolic links to directories are not published"
                        )
                    folders.append(entry)
                else:
                    files.append(entry)
        for entry in files:
            name = f"{relative}/{entry.name}"
            if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                self.add_file(name, Path(entry.path))
            elif name not in self.files:
                self._add_regular(name, Path(entry.path))
        return len(files) + sum(
            self._add_tree(Path(entry.path), f"{relative}/{entry.name}") for entry in folders
        )

    def follow(self, owner: str, relation: str, href: Any, media_type: Any) -> None:
        """Publish what one link or asset href of document ``owner`` points to."""
        if not isinstance(href, str) or not href:
            raise GlofnetError(self.directory / owner, f"a {relation} link has no href")
        kind = href_kind(href)
        if kind == "absolute":
            self.absolute.append((relation, owner))
        if kind != "relative":
            return
        target = _resolve(self.directory, owner, href)
        if target in self.walked:  # a directory asset already published
            is_directory = True
        elif target in self.files:  # most links: root, parent, collection, self
            is_directory = False
        else:
            path = self.directory / target
            if not target or not path.exists():
                what = "the catalog directory itself" if not target else "nothing in the catalog"
                raise GlofnetError(self.directory / owner, f"{relation} href {href!r} points to {what}")
            is_directory = path.is_dir()
        if relation in HIERARCHY and (is_directory or target in self.plain):
            raise GlofnetError(
                self.directory / owner, f"{relation} href {href!r} is not a STAC Catalog, Collection or Item"
            )
        if is_directory:
            self.add_directory(self.directory / owner, href, target)
            return
        if target not in self.files:
            self.add_file(target, self.directory / target)
        safe = _header_safe(media_type)
        if relation == "asset":
            if safe:
                self.asset_types.setdefault(target, safe)
            return
        if safe:
            self.link_types.setdefault(target, safe)
        if relation in HIERARCHY:
            self.children[owner].append(target)
            if target not in self.documents:
                self.pending[target] = owner
        elif target.lower().endswith(".json") and not (
            target in self.documents or target in self.pending or target in self.plain
        ):
            self.pending[target] = None

    def read(self, relative: str, required_by: str | None) -> None:
        """Read one pending JSON file: a document's links are followed, other JSON is a plain file."""
        path = self.files[relative]
        try:
            document = read_json(path)
        except GlofnetError:
            if required_by is not None:
                raise
            self.plain.add(relative)
            return
        kind = _stac_kind(document)
        if relative == self.root:
            if kind != "catalog":
                raise GlofnetError(path, "the root must be a STAC Catalog or Collection")
            kind = "root"
        if kind is None:
            if required_by is not None:
                raise GlofnetError(
                    self.directory / required_by,
                    f"links to {relative} as a child or item, but it is not a STAC Catalog, Collection "
                    "or Item",
                )
            self.plain.add(relative)
            return
        self.documents[relative] = kind
        self.children[relative] = []
        for relation, href, media_type in _hrefs(document):
            self.follow(relative, relation, href, media_type)

    def run(self) -> None:
        """Read documents, depth first from the root, until every reachable one is read."""
        self.add_file(self.root, self.directory / self.root)
        self.pending[self.root] = self.root
        while self.pending:
            relative, required_by = self.pending.popitem()
            self.read(relative, required_by)

    def levels(self) -> dict[str, int]:
        """The level of every document (see :attr:`CatalogFile.level`); refuses child/item cycles."""
        levels: dict[str, int] = {}

        def level(relative: str, path: tuple[str, ...]) -> int:
            if relative in path:
                raise GlofnetError(self.files[relative], "child/item links form a cycle")
            if relative not in levels:
                below = [level(child, (*path, relative)) for child in self.children[relative]]
                levels[relative] = 0 if self.documents[relative] == "item" else 1 + max(below, default=0)
            return levels[relative]

        for relative in self.documents:
            level(relative, ())
        return levels


def _left_out(directory: Path, published: dict[str, Path]) -> tuple[int, str | None]:
    """How many files under ``directory`` are not published, and the first of them met."""
    count, first = 0, None
    for current, dirnames, filenames in os.walk(directory, followlinks=False):
        dirnames.sort()
        folder = Path(current).relative_to(directory).as_posix()
        for name in sorted(filenames):
            relative = name if folder == "." else f"{folder}/{name}"
            if relative not in published:
                count += 1
                first = first or relative
    return count, first


def scan_catalog(catalog: Path) -> LocalCatalog:
    """Find what to publish of the catalog at ``catalog`` (its directory, or its root JSON) and check it.

    Raises:
        GlofnetError: a missing root, a file that cannot be published safely, invalid JSON where
            a STAC document is expected, or a relative link or asset href that leaves the catalog
            or points to nothing.
    """
    root_path = catalog / "catalog.json" if catalog.is_dir() else catalog
    if not root_path.is_file():
        raise GlofnetError(root_path, "no catalog here: expected a catalog directory or its catalog.json")
    directory = root_path.parent.resolve()
    scan = _Scan(directory, root_path.name)
    scan.run()
    if scan.absolute:
        logger.warning(
            "%d hrefs are absolute paths on this machine (the first: rel=%s in %s); they are published "
            "as they are and will not resolve for readers",
            len(scan.absolute),
            *scan.absolute[0],
        )
    levels = scan.levels()
    files = [
        CatalogFile(
            relative,
            path,
            scan.documents.get(relative, "asset"),
            level=levels.get(relative, 0),
            declared_type=None
            if relative in scan.documents
            else scan.asset_types.get(relative) or scan.link_types.get(relative),
        )
        for relative, path in sorted(scan.files.items())
    ]
    left_out, first = _left_out(directory, scan.files)
    local = LocalCatalog(directory, root_path.name, files, left_out, first)
    note = local.left_out_note()
    if note:
        logger.info("%s: %s", directory, note)
    return local
