"""``acquire``: fetch provider inputs for the AOI into the SOURCE layout the build reads.

Sentinel-2 L2A comes from a STAC API (Earth Search v1 by default, or the Planetary Computer):
the AOI window of each scene's SCL is read first and a scene too cloudy over the AOI is left
out before any band is fetched; then only the AOI window of each band COG is read (HTTP range
requests through GDAL) and written as a local COG beside the item JSON, whose hrefs become local
while the provider's hrefs and item stay as provenance. MODIS MOD11A1 comes from the Planetary
Computer (the build's tile windows of LST and QC, :mod:`.modis`); ITS_LIVE granules from the
ITS_LIVE STAC API, filtered and downloaded whole (:mod:`.itslive`); :mod:`.modalities` runs one
modality or all. A manifest per modality records every file fetched, so reruns skip what is
complete and ``--since-last`` searches only after the newest item.
"""

from __future__ import annotations

from stactools_glofnet.acquire.itslive import PairFilter, acquire_itslive
from stactools_glofnet.acquire.modalities import AcquireOptions, acquire
from stactools_glofnet.acquire.modis import acquire_modis
from stactools_glofnet.acquire.report import AcquireReport
from stactools_glofnet.acquire.request import AcquireRequest, parse_date
from stactools_glofnet.acquire.sentinel2 import acquire_sentinel2

__all__ = [
    "AcquireOptions",
    "AcquireReport",
    "AcquireRequest",
    "PairFilter",
    "acquire",
    "acquire_itslive",
    "acquire_modis",
    "acquire_sentinel2",
    "parse_date",
]
