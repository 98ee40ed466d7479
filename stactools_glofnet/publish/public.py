"""The published copy of the catalog JSON when it has a public URL (``--public-url``).

The built catalog is self-contained: relative links, no self links. Published with a public URL
it becomes one of the two published catalog types of the STAC best practices (pystac's
``CatalogType``), rewritten in memory; the files on disk are never changed:

- ``relative-published``: the root gets an absolute ``self`` link; every other link and every
  asset href stays relative, so only the root document differs from the built one.
- ``absolute-published``: every STAC object gets an absolute ``self`` link, and every relative
  link and asset href becomes absolute under the public URL.
"""

from __future__ import annotations

import copy
import posixpath
from typing import Any, Literal, get_args
from urllib.parse import quote, unquote, urlsplit

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json
from stactools_glofnet.publish.local import LocalCatalog, is_absolute_href

CatalogType = Literal["relative-published", "absolute-published"]
CATALOG_TYPES: tuple[str, ...] = get_args(CatalogType)


def public_base(url: str) -> str:
    """``url`` checked (http or https, no query or fragment) and ending with one ``/``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise GlofnetError(url, "the public URL must be an http(s) URL without query or fragment")
    return url.rstrip("/") + "/"


def _url(base: str, relative: str) -> str:
    return base + quote(relative)


def _absolute(base: str, owner: str, href: str) -> str:
    if is_absolute_href(href):
        return href
    path = posixpath.normpath(posixpath.join(posixpath.dirname(owner), unquote(urlsplit(href).path)))
    return _url(base, "" if path == "." else path)


def _with_self(document: dict[str, Any], href: str) -> dict[str, Any]:
    links = [link for link in document.get("links", []) if link.get("rel") != "self"]
    media_type = "application/geo+json" if document.get("type") == "Feature" else "application/json"
    document["links"] = [{"href": href, "rel": "self", "type": media_type}, *links]
    return document


def published_documents(
    catalog: LocalCatalog, public_url: str, catalog_type: CatalogType
) -> dict[str, bytes]:
    """The bytes to publish for each STAC document that differs from its file, by relative path."""
    if catalog_type not in CATALOG_TYPES:
        raise GlofnetError(catalog_type, f"unknown catalog type; expected one of {', '.join(CATALOG_TYPES)}")
    base = public_base(public_url)
    staged: dict[str, bytes] = {}
    for file in catalog.files:
        if file.document is None or (catalog_type == "relative-published" and file.kind != "root"):
            continue
        document = copy.deepcopy(file.document)
        if catalog_type == "absolute-published":
            for link in document.get("links", []):
                link["href"] = _absolute(base, file.relative, link["href"])
            for asset in document.get("assets", {}).values():
                asset["href"] = _absolute(base, file.relative, asset["href"])
        staged[file.relative] = dumps_json(_with_self(document, _url(base, file.relative))).encode("utf-8")
    return staged
