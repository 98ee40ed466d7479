"""The published copy of the catalog JSON when it has a public URL (``--public-url``).

The built catalog is self-contained: relative links, no self links. Published with a public URL
it becomes one of the two published catalog types of the STAC best practices (pystac's
``CatalogType``); the files on disk are never changed:

- ``relative-published``: the root gets an absolute ``self`` link; every other link and every
  asset href stays relative, so only the root document differs from the built one.
- ``absolute-published``: every STAC object gets an absolute ``self`` link, and every relative
  link and asset href becomes absolute under the public URL.

A rewritten document is rendered from its file when it is hashed and again when it is uploaded
(the upload checks that both renderings agree), so no rewritten copy is kept in memory.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import quote, unquote, urlsplit

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json, read_json
from stactools_glofnet.publish.local import CatalogFile, is_absolute_href

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


@dataclass(frozen=True)
class PublicCopy:
    """How the STAC documents are rewritten for readers at a public URL."""

    base: str
    """The public URL of the prefix, ending with ``/``."""
    catalog_type: CatalogType

    def rewrites(self, file: CatalogFile) -> bool:
        """Whether the published copy of ``file`` differs from the file."""
        if self.catalog_type == "absolute-published":
            return file.kind != "asset"
        return file.kind == "root"

    def render(self, file: CatalogFile) -> bytes:
        """The bytes to publish for the STAC document ``file``, read afresh from its file."""
        document = read_json(file.path)
        if self.catalog_type == "absolute-published":
            for link in document.get("links", []):
                link["href"] = _absolute(self.base, file.relative, link["href"])
            for asset in document.get("assets", {}).values():
                asset["href"] = _absolute(self.base, file.relative, asset["href"])
        return dumps_json(_with_self(document, _url(self.base, file.relative))).encode("utf-8")


def public_copy(public_url: str, catalog_type: CatalogType) -> PublicCopy:
    """The rewriting for ``public_url`` and ``catalog_type``, both checked."""
    if catalog_type not in CATALOG_TYPES:
        raise GlofnetError(catalog_type, f"unknown catalog type; expected one of {', '.join(CATALOG_TYPES)}")
    return PublicCopy(public_base(public_url), catalog_type)
