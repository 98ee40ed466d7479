"""Names every wing shares: collection ids, asset keys, media types, layout."""

from __future__ import annotations

from typing import Final, Literal

Modality = Literal["sentinel2", "itslive", "modis", "harmonized", "events"]
"""The collections the catalog is built from (defined here so the CLI need not load the config models)."""

ROOT_CATALOG_ID: Final = "glofnet"
GEOJSON: Final = "application/geo+json"
COG: Final = "image/tiff; application=geotiff; profile=cloud-optimized"
ZARR: Final = "application/vnd.zarr"
PARQUET: Final = "application/vnd.apache.parquet"
PNG: Final = "image/png"

LABELS_ASSET: Final = "labels"
THUMBNAIL_ASSET: Final = "thumbnail"
INDEX_ASSET: Final = "geoparquet-items"

ACQUIRE_MANIFEST: Final = "acquire-manifest.json"
"""What ``acquire`` fetched into a modality's folder of SOURCE; the readers pass over it."""

SOFTWARE_NAME: Final = "stactools-glofnet"
