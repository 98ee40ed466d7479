"""The provider's item as written into SOURCE: fetched assets local, the provider's hrefs kept.

The item differs from the provider's only where it must: each fetched asset's ``href`` is the local
file, with the provider's href (credentials removed) as ``alternate.provider`` (alternate-assets
extension) and ``proj:shape``/``proj:transform`` of the window fetched; every other asset keeps
the provider's public href; the one link is ``derived_from`` the provider's item.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from stactools_glofnet.acquire.hrefs import absolute, public_href
from stactools_glofnet.core.grids import Grid

ALTERNATE_ASSETS: Final = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"


@dataclass(frozen=True)
class LocalAsset:
    """A fetched asset: its file name beside the item, and the grid of the window written."""

    filename: str
    grid: Grid


def item_href(document: dict[str, Any], api: str, collection: str) -> str:
    """Where the provider publishes ``document``: its absolute ``self`` link, else the API's item URL."""
    for link in document.get("links", []):
        if isinstance(link, dict) and link.get("rel") == "self" and urlsplit(str(link.get("href"))).scheme:
            return str(link["href"])
    return f"{api.rstrip('/')}/collections/{collection}/items/{document.get('id')}"


def local_item(document: dict[str, Any], item_href: str, fetched: Mapping[str, LocalAsset]) -> dict[str, Any]:
    """``document`` (the provider's item at ``item_href``) with the ``fetched`` assets local."""
    local = copy.deepcopy(document)
    for key, asset in (local.get("assets") or {}).items():
        if not isinstance(asset, dict) or "href" not in asset:
            continue
        original = public_href(absolute(str(asset["href"]), item_href))
        if key not in fetched:
            asset["href"] = original
            continue
        grid = fetched[key].grid
        asset["href"] = f"./{fetched[key].filename}"
        asset["alternate"] = {
            "provider": {
                "href": original,
                "title": "The provider's file; this asset is its AOI window",
            }
        }
        asset["proj:shape"] = [grid.height, grid.width]
        asset["proj:transform"] = list(grid.transform)[:6]
        if "proj:bbox" in asset:
            asset["proj:bbox"] = list(grid.bounds)
    extensions = list(local.get("stac_extensions") or [])
    if ALTERNATE_ASSETS not in extensions:
        extensions.append(ALTERNATE_ASSETS)
    local["stac_extensions"] = extensions
    local["links"] = [
        {
            "rel": "derived_from",
            "href": public_href(item_href),
            "type": "application/geo+json",
            "title": f"{local.get('id')} as the provider publishes it",
        }
    ]
    return local
