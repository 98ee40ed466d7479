"""The built catalog on disk: every file, what it is, and its links checked before anything is sent.

A catalog is published as the files of its directory. Each ``.json`` file that is a STAC object
is an item, a catalog/collection or the root; every other file is an asset. Every relative link
and asset href must resolve to a file (or, for Zarr stores, a directory) inside the catalog, so
the published root can never reference an object that is not published with it.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import read_json
from stactools_glofnet.publish.media import Kind
from stactools_glofnet.publish.target import MANIFEST_NAME, check_relative_key

logger = logging.getLogger(__name__)

STAC_TYPES: dict[str, Kind] = {"Catalog": "catalog", "Collection": "catalog", "Feature": "item"}
HIERARCHY = ("child", "item")
"""Link relations that a catalog must be published after."""


@dataclass(frozen=True)
class CatalogFile:
    """One file of the catalog directory."""

    relative: str
    """Its path relative to the catalog directory, with ``/`` separators: the key suffix."""
    path: Path
    kind: Kind
    level: int = 0
    """For catalogs and collections, 1 + the level of their deepest child (items are 0): the
    order in which they are published, deepest first."""
    declared_type: str | None = None
    """The media type a STAC asset declares for this file, if one does."""
    document: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The parsed JSON of a STAC object."""


@dataclass(frozen=True)
class LocalCatalog:
    """The catalog directory, its root document and every file in it."""

    directory: Path
    root: str
    files: list[CatalogFile]


def _walk(directory: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``directory``; symbolic links may not lead outside it."""
    found: list[tuple[str, Path]] = []
    for current, dirnames, filenames in os.walk(directory, followlinks=False):
        here = Path(current)
        for name in dirnames:
            if (here / name).is_symlink():
                raise GlofnetError(here / name, "symbolic links to directories are not published")
        dirnames.sort()
        for name in filenames:
            path = here / name
            if path.is_symlink() and not path.resolve().is_relative_to(directory):
                raise GlofnetError(path, "symbolic link points outside the catalog directory")
            if not path.is_file():
                raise GlofnetError(path, "not a regular file (or a broken symbolic link)")
            found.append((check_relative_key(path.relative_to(directory).as_posix()), path))
    return sorted(found)


def _stac_kind(document: Any) -> Kind | None:
    if isinstance(document, dict) and "stac_version" in document:
        return STAC_TYPES.get(str(document.get("type")))
    return None


def _hrefs(document: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(relation, href, declared media type)`` of every link and asset of a STAC object."""
    found: list[tuple[str, Any, Any]] = [
        (str(link.get("rel")), link.get("href"), None) for link in document.get("links", [])
    ]
    found += [
        ("asset", asset.get("href"), asset.get("type")) for asset in document.get("assets", {}).values()
    ]
    return found


def is_absolute_href(href: str) -> bool:
    """Whether ``href`` is a URL or an absolute path (not relative to the document holding it)."""
    return href.startswith("/") or len(urlsplit(href).scheme) > 1


def _header_safe(media_type: Any) -> str | None:
    if isinstance(media_type, str) and media_type.isascii() and media_type.isprintable():
        return media_type.strip() or None
    return None


def _resolve(owner: CatalogFile, href: str) -> str:
    """The catalog-relative path a relative href points to; refuses hrefs leaving the catalog."""
    target = posixpath.normpath(
        posixpath.join(posixpath.dirname(owner.relative), unquote(urlsplit(href).path))
    )
    if target == ".." or target.startswith("../"):
        raise GlofnetError(
            owner.path, f"href {href!r} leaves the catalog directory, so it cannot be published"
        )
    return "" if target == "." else target


def scan_catalog(catalog: Path) -> LocalCatalog:
    """Read the catalog at ``catalog`` (its directory, or its root ``catalog.json``) and check it.

    Raises:
        GlofnetError: a missing root, a file that cannot be published safely, invalid JSON, or a
            relative link or asset href that leaves the catalog or points to nothing.
    """
    root_path = catalog / "catalog.json" if catalog.is_dir() else catalog
    if not root_path.is_file():
        raise GlofnetError(root_path, "no catalog here: expected a catalog directory or its catalog.json")
    directory = root_path.parent.resolve()
    root = root_path.name
    entries = _walk(directory)
    if any(relative == MANIFEST_NAME for relative, _ in entries):
        raise GlofnetError(directory / MANIFEST_NAME, "this name is reserved for the publish manifest")

    files: dict[str, CatalogFile] = {}
    for relative, path in entries:
        document = read_json(path) if relative.lower().endswith(".json") else None
        kind = _stac_kind(document)
        if relative == root:
            if kind != "catalog":
                raise GlofnetError(path, "the root must be a STAC Catalog or Collection")
            kind = "root"
        files[relative] = CatalogFile(relative, path, kind or "asset", document=document if kind else None)

    directories = {""}
    for relative in files:
        parent = posixpath.dirname(relative)
        while parent not in directories:
            directories.add(parent)
            parent = posixpath.dirname(parent)

    declared: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    local_paths: list[tuple[str, str]] = []
    for owner in files.values():
        if owner.document is None:
            continue
        children[owner.relative] = []
        for relation, href, media_type in _hrefs(owner.document):
            if not isinstance(href, str) or not href:
                raise GlofnetError(owner.path, f"a {relation} link has no href")
            if is_absolute_href(href):
                if href.startswith(("/", "file:")):
                    local_paths.append((relation, owner.relative))
                continue
            target = _resolve(owner, href)
            if target not in files and target not in directories:
                raise GlofnetError(owner.path, f"{relation} href {href!r} points to nothing in the catalog")
            target_file = files.get(target)
            if relation in HIERARCHY and target_file is not None and target_file.document is not None:
                children[owner.relative].append(target)
            if relation == "asset" and target in files:
                safe = _header_safe(media_type)
                if safe:
                    declared.setdefault(target, safe)
    if local_paths:
        logger.warning(
            "%d hrefs are absolute paths on this machine (the first: rel=%s in %s); they are published "
            "as they are and will not resolve for readers",
            len(local_paths),
            *local_paths[0],
        )

    levels: dict[str, int] = {}

    def level(relative: str, path: tuple[str, ...]) -> int:
        if relative in path:
            raise GlofnetError(files[relative].path, "child/item links form a cycle")
        if relative not in levels:
            below = [level(child, (*path, relative)) for child in children.get(relative, [])]
            levels[relative] = 0 if files[relative].kind == "item" else 1 + max(below, default=0)
        return levels[relative]

    result = []
    for relative, file in files.items():
        result.append(
            CatalogFile(
                relative,
                file.path,
                file.kind,
                level=level(relative, ()) if file.document is not None else 0,
                declared_type=declared.get(relative),
                document=file.document,
            )
        )
    return LocalCatalog(directory, root, result)
