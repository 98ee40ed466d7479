"""STAC best-practice lint, after stac-check's rules and the STAC best-practices document.

Every rule gives warnings: the catalog is valid STAC but harder to browse, search or load. Rules:

- ``link-title``: every link of a Catalog or Collection other than ``self`` has a title (STAC
  Browser and other clients show it instead of the raw href).
- ``asset-roles``: every asset of an Item or Collection has at least one role (``data``,
  ``overview``, ``thumbnail``, ``metadata``...), so clients can tell data from previews.
- ``summaries``: every Collection has non-empty ``summaries`` of its items' properties.
- ``json-size``: no STAC JSON file is larger than :data:`MAX_JSON_BYTES`; a document that grows
  with the data (a long list of links, skipped inputs, per-day values) belongs in sub-catalogs or
  a data asset.
- ``file-name``: Items live in ``<id>.json``, Catalogs in ``catalog.json``, Collections in
  ``collection.json``.
- ``thumbnail-type``: thumbnails are small browser images (PNG, JPEG or WebP).

Not adopted from stac-check: lower-case ids (our item ids are the providers' scene and granule
names, kept so users can find the source), a ``self`` link (built catalogs are self-contained;
only the published copy gets absolute self links), and link/property counts (the year layout
bounds link counts; the size rule catches what matters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from stactools_glofnet.validation.problems import LINT, Problem
from stactools_glofnet.validation.walk import StacDocument

MAX_JSON_BYTES: Final = 1 << 20
"""1 MiB: far above any document in the catalog (tens of KiB), far below what makes clients slow."""

THUMBNAIL_TYPES: Final = ("image/png", "image/jpeg", "image/jpg", "image/webp")

Finding = tuple[str, str]
"""(rule, message)."""


def link_title(document: StacDocument) -> Iterator[Finding]:
    """Links of catalogs and collections carry titles."""
    if document.type == "Feature":
        return
    for link in document.links:
        if link.get("rel") != "self" and not link.get("title"):
            yield "link-title", f"the {link.get('rel')} link to {link.get('href')} has no title"


def asset_roles(document: StacDocument) -> Iterator[Finding]:
    """Assets say what they are for."""
    for key, asset in sorted(document.assets.items()):
        if not asset.get("roles"):
            yield "asset-roles", f"asset {key!r} has no roles"


def summaries(document: StacDocument) -> Iterator[Finding]:
    """Collections summarize their items."""
    if document.type == "Collection" and not document.data.get("summaries"):
        yield "summaries", "the collection has no summaries of its items' properties"


def json_size(document: StacDocument, limit: int = MAX_JSON_BYTES) -> Iterator[Finding]:
    """STAC JSON stays small enough to fetch and parse at once."""
    if document.size > limit:
        yield (
            "json-size",
            f"{document.size} bytes, over the {limit}-byte limit; move what grows with the data"
            " into sub-catalogs or a data asset",
        )


def file_name(document: StacDocument) -> Iterator[Finding]:
    """Files are named after what they hold."""
    expected = {"Catalog": "catalog.json", "Collection": "collection.json"}.get(
        document.type, f"{document.data.get('id')}.json"
    )
    if document.path.name != expected:
        kind = "item" if document.type == "Feature" else document.type.lower()
        yield "file-name", f"the {kind} {document.id} should be in {expected}, not {document.path.name}"


def thumbnail_type(document: StacDocument) -> Iterator[Finding]:
    """Thumbnails are browser images."""
    for key, asset in sorted(document.assets.items()):
        if "thumbnail" in (asset.get("roles") or []) or key == "thumbnail":
            media_type = str(asset.get("type", ""))
            if not media_type.startswith(THUMBNAIL_TYPES):
                yield (
                    "thumbnail-type",
                    f"thumbnail {key!r} is {media_type or 'untyped'}, not PNG, JPEG or WebP",
                )


RULES: Final[tuple[Callable[[StacDocument], Iterator[Finding]], ...]] = (
    file_name,
    json_size,
    link_title,
    summaries,
    asset_roles,
    thumbnail_type,
)


def lint(document: StacDocument) -> Iterator[Problem]:
    """Every best-practice finding for ``document``, as warnings."""
    for rule in RULES:
        for name, message in rule(document):
            yield Problem("warning", LINT, name, str(document.path), f"{name}: {message}")
