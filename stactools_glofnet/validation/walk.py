"""Stream a static catalog's STAC documents one at a time, following child and item links.

Only the document being checked is held in memory (plus the set of paths already visited), so
catalogs of any size validate in bounded memory. Problems reading the tree (a file that is not
JSON or not STAC, a link to a missing file) are reported and the walk goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.hrefs import href_kind
from stactools_glofnet.validation.problems import STRUCTURE, Problem, ValidationReport

STAC_TYPES = {"Catalog", "Collection", "Feature"}
FOLLOWED_RELS = ("child", "item")


@dataclass(frozen=True)
class StacDocument:
    """One STAC JSON file: where it is, its bytes on disk and its parsed content."""

    path: Path
    size: int
    data: dict[str, Any]
    sha256: str | None = None
    """Hex SHA-256 of the file's bytes as read (None for a document not read by the walk)."""

    @property
    def type(self) -> str:
        """``Catalog``, ``Collection`` or ``Feature`` (an Item)."""
        return str(self.data["type"])

    @property
    def id(self) -> str:
        """The object's id, or its file name when it has none."""
        return str(self.data.get("id") or self.path.name)

    @property
    def links(self) -> list[dict[str, Any]]:
        """The well-formed links (the schema check reports the others)."""
        links = self.data.get("links")
        return [link for link in links if isinstance(link, dict)] if isinstance(links, list) else []

    @property
    def assets(self) -> dict[str, dict[str, Any]]:
        """The well-formed assets by key (the schema check reports the others)."""
        assets = self.data.get("assets")
        if not isinstance(assets, dict):
            return {}
        return {str(k): v for k, v in assets.items() if isinstance(v, dict)}


def local_path(href: str, base: Path) -> Path | None:
    """The file an href points to, relative to directory ``base``; None for remote hrefs."""
    if href_kind(href) == "remote":
        return None
    parsed = urlparse(href)
    if parsed.scheme == "file":
        return Path(os.path.normpath(unquote(parsed.path)))
    return Path(os.path.normpath(base / href))


def href_problem(href: str, base: Path, root: Path) -> str | None:
    """Why a local ``href`` (in a document in ``base``) is not a portable part of the catalog at ``root``.

    A catalog is moved, published and served as one directory: an absolute local path works only
    on the machine that built it, and a relative href that leaves the catalog's directory points
    at files that are not part of it (and must never be read as if they were).
    """
    kind = href_kind(href)
    if kind == "remote":
        return None
    if kind == "absolute":
        return f"has an absolute local href {href}; hrefs inside a catalog must be relative"
    target = Path(os.path.normpath(Path(os.path.abspath(base)) / href))
    top = Path(os.path.abspath(root))
    if target != top and top not in target.parents:
        return f"has an href {href} that leaves the catalog's directory"
    return None


def root_file(path: Path) -> Path:
    """The root document of ``path``: the file itself, or a directory's catalog/collection.json."""
    if not path.is_dir():
        return path
    collection = path / "collection.json"
    return (
        collection
        if collection.is_file() and not (path / "catalog.json").is_file()
        else path / "catalog.json"
    )


def _read(path: Path) -> tuple[StacDocument | None, str]:
    """The document at ``path``, or None and why it is not one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "file is missing"
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"not valid JSON ({error})"
    if not isinstance(data, dict) or data.get("type") not in STAC_TYPES or "stac_version" not in data:
        return None, "not a STAC Catalog, Collection or Item"
    return StacDocument(path=path, size=len(raw), data=data, sha256=hashlib.sha256(raw).hexdigest()), ""


def read_root(path: Path) -> StacDocument:
    """The root document: a Catalog, a Collection or a lone Item; anything else is fatal."""
    target = root_file(path)
    if not target.exists():
        raise GlofnetError(target, "no catalog.json to validate")
    document, why = _read(target)
    if document is None:
        raise GlofnetError(target, why)
    return document


def _linked(document: StacDocument, root: Path, report: ValidationReport) -> Iterator[Path]:
    """The local documents ``document`` links to as children or items; bad hrefs are reported."""
    for link in document.links:
        href = link.get("href")
        if not isinstance(href, str):
            continue  # the schema check reports a link without an href
        problem = href_problem(href, document.path.parent, root)
        if problem is not None:
            rel = link.get("rel")
            report.add(Problem("error", STRUCTURE, "href", str(document.path), f"link {rel!r} {problem}"))
            continue
        if link.get("rel") not in FOLLOWED_RELS:
            continue
        target = local_path(href, document.path.parent)
        if target is not None:
            yield target


def walk(root: StacDocument, report: ValidationReport) -> Iterator[StacDocument]:
    """Every document reachable from ``root`` through child and item links, each once.

    Depth first, in link order. Documents are read only when their turn comes, so memory holds
    one document plus the paths still to visit, and the real path of every document reached, as
    a string (a resolved ``Path`` holds each of its parts as well: about three times the bytes).
    A link to a missing file is an error on the document that links to it; a file that is not
    STAC JSON is an error on that file.
    """
    seen = {os.path.realpath(root.path)}
    pending: list[tuple[Path, Path]] = []  # (document to read, the document linking to it)
    document: StacDocument | None = root
    while True:
        if document is not None:
            yield document
            targets = []
            for target in _linked(document, root.path.parent, report):
                resolved = os.path.realpath(target)
                if resolved not in seen:
                    seen.add(resolved)
                    targets.append((target, document.path))
            pending.extend(reversed(targets))
        if not pending:
            return
        target, parent = pending.pop()
        document, why = _read(target)
        if document is None:
            missing = why == "file is missing"
            report.add(
                Problem(
                    "error",
                    STRUCTURE,
                    "broken-link" if missing else "not-stac",
                    str(parent if missing else target),
                    f"links to {target}, which is missing" if missing else why,
                )
            )
