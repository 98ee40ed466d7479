"""Content-Type and Cache-Control of each published object."""

from __future__ import annotations

import posixpath
from typing import Final, Literal

from stactools_glofnet.core.constants import COG, GEOJSON, PARQUET, PNG

Kind = Literal["asset", "item", "catalog", "root"]
"""What a catalog file is: a data file, a STAC Item, a sub-catalog or collection, or the root."""

JSON: Final = "application/json"
OCTET_STREAM: Final = "application/octet-stream"

STAC_CACHE_CONTROL: Final = "public, max-age=60"
"""Catalog JSON changes with every publish: readers and CDNs revalidate after a minute."""
ASSET_CACHE_CONTROL: Final = "public, max-age=86400"
"""Assets change rarely but keep their key when they do (a rebuilt asset on ``latest`` replaces
the old one under the same name), so they are cached for a day, never as ``immutable``."""
MANIFEST_CACHE_CONTROL: Final = "no-cache"

ZARR_METADATA: Final = frozenset({"zarr.json", ".zmetadata", ".zarray", ".zattrs", ".zgroup"})

BY_SUFFIX: Final[dict[str, str]] = {
    ".json": JSON,
    ".geojson": GEOJSON,
    ".tif": COG,
    ".tiff": COG,
    ".parquet": PARQUET,
    ".png": PNG,
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".nc": "application/x-netcdf",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".html": "text/html",
}


def _inside_zarr(relative: str) -> bool:
    return any(part.endswith(".zarr") for part in relative.split("/")[:-1])


def content_type(relative: str, kind: Kind, declared: str | None = None) -> str:
    """The Content-Type of a catalog file.

    STAC Items are GeoJSON, catalogs and collections JSON. An asset takes the media type its STAC
    asset declares; otherwise Zarr store members are JSON metadata or opaque chunks, and other
    files go by suffix (``.tif`` is a COG: the catalog only holds COGs).
    """
    if kind == "item":
        return GEOJSON
    if kind in ("catalog", "root"):
        return JSON
    if declared:
        return declared
    if _inside_zarr(relative):
        return JSON if posixpath.basename(relative) in ZARR_METADATA else OCTET_STREAM
    return BY_SUFFIX.get(posixpath.splitext(relative)[1].lower(), OCTET_STREAM)


def cache_control(kind: Kind) -> str:
    """A minute for catalog JSON, a day for assets (see :data:`ASSET_CACHE_CONTROL`)."""
    return ASSET_CACHE_CONTROL if kind == "asset" else STAC_CACHE_CONTROL
