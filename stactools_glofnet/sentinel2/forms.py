"""The Sentinel-2 L2A item forms providers publish, and the DN → reflectance rule of each.

One table in docs/sources.md, with its evidence. In short:

* Earth Search v1 ``sentinel-2-l2a`` (common-name keys, ``earthsearch:boa_offset_applied``) and
  v0 ``sentinel-s2-l2a-cogs`` (``B0x`` keys, ``sentinel:boa_offset_applied``): flag true → the
  COG DN already carry BOA_ADD_OFFSET, reflectance = DN x scale whatever ``raster:bands`` says;
  flag false → ``raster:bands``, else the baseline rule.
* Earth Search ``sentinel-2-c1-l2a``, the Planetary Computer ``sentinel-2-l2a`` and any other
  STAC item: ESA's DN; ``raster:bands`` where declared, else the baseline rule (-0.1 from
  baseline 04.00 on, 0 before).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.sentinel2.bands import (
    BANDS,
    BOA_ADD_OFFSET,
    BOA_OFFSET_BASELINE,
    QUANTIFICATION,
    SCL_KEY,
)
from stactools_glofnet.sentinel2.radiometry import Radiometry

SCL_BAND_ID: Final = "SCL"
FLAG_KEYS: Final = ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")
BASELINE_KEYS: Final = ("s2:processing_baseline", "sentinel:processing_baseline")
PRODUCT_KEYS: Final = ("s2:product_uri", "sentinel:product_id", "s2:product_id")
PRODUCT_BASELINE = re.compile(r"_N(\d{2})(\d{2})_")


@dataclass(frozen=True)
class ProviderForm:
    """Who published an item and under which collection."""

    name: str
    provider: str
    collection: str | None


EARTH_SEARCH_V1 = "earthsearch-v1"
EARTH_SEARCH_V0 = "earthsearch-v0"
EARTH_SEARCH_C1 = "earthsearch-c1"
PLANETARY_COMPUTER = "planetary-computer"
OTHER = "stac"


def detect(collection: str | None, properties: Mapping[str, Any], asset_keys: set[str]) -> ProviderForm:
    """The provider form of an item from its collection id, properties and asset keys."""
    if collection == "sentinel-s2-l2a-cogs" or any(k.startswith("sentinel:") for k in properties):
        return ProviderForm(EARTH_SEARCH_V0, "Earth Search (Element 84) v0", collection)
    if collection == "sentinel-2-c1-l2a":
        return ProviderForm(EARTH_SEARCH_C1, "Earth Search (Element 84) v1", collection)
    if any(k.startswith("earthsearch:") for k in properties):
        return ProviderForm(EARTH_SEARCH_V1, "Earth Search (Element 84) v1", collection)
    if collection == "sentinel-2-l2a" and "B03" in asset_keys and "green" not in asset_keys:
        return ProviderForm(PLANETARY_COMPUTER, "Microsoft Planetary Computer", collection)
    return ProviderForm(OTHER, "STAC item", collection)


def asset_keys(key: str) -> tuple[str, str]:
    """The asset keys a band may have: Earth Search v1 common name, or the ESA band id."""
    if key == SCL_KEY:
        return (SCL_KEY, SCL_BAND_ID)
    band = next(b for b in BANDS if b.key == key)
    return (band.key, band.band_id)


def offset_flag(path: str, properties: Mapping[str, Any]) -> bool | None:
    """``earthsearch:boa_offset_applied`` (v1) or ``sentinel:boa_offset_applied`` (v0), if set."""
    for key in FLAG_KEYS:
        value = properties.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise GlofnetError(path, f"{key} must be true or false, not {value!r}")
        return value
    return None


def baseline(path: str, properties: Mapping[str, Any]) -> tuple[str, tuple[int, ...]] | None:
    """The processing baseline ("04.00", (4, 0)): its property, else the product id's ``_Nxxyy_``."""
    for key in BASELINE_KEYS:
        value = properties.get(key)
        if value is None:
            continue
        try:
            return str(value), tuple(int(part) for part in str(value).split("."))
        except ValueError:
            raise GlofnetError(path, f"{key} {value!r} is not like '04.00'") from None
    for key in PRODUCT_KEYS:
        match = PRODUCT_BASELINE.search(str(properties.get(key) or ""))
        if match:
            return f"{match[1]}.{match[2]}", (int(match[1]), int(match[2]))
    return None


def nominal_rule(
    path: str,
    key: str,
    declared: Mapping[str, Any],
    flag: bool | None,
    version: tuple[int, ...] | None,
) -> Radiometry:
    """The rule the metadata gives for band ``key`` (``declared``: its ``raster:bands[0]``)."""
    has_scale, has_offset = "scale" in declared, "offset" in declared
    scale = float(declared["scale"]) if has_scale else 1 / QUANTIFICATION
    if flag is True:
        said = f" (raster:bands offset {float(declared['offset']):g} ignored)" if has_offset else ""
        return Radiometry(
            scale, 0.0, "boa_offset_applied", f"boa_offset_applied is true: the DN carry the offset{said}"
        )
    if has_scale or has_offset:
        offset = float(declared.get("offset", 0.0))
        return Radiometry(scale, offset, "raster_bands", f"raster:bands scale {scale:g}, offset {offset:g}")
    if version is None:
        raise GlofnetError(path, f"band {key!r}: no raster:bands scale/offset and no processing baseline")
    if version >= BOA_OFFSET_BASELINE:
        name = ".".join(f"{v:02d}" for v in version)
        return Radiometry(
            scale,
            BOA_ADD_OFFSET / QUANTIFICATION,
            "processing_baseline",
            f"ESA DN at baseline {name} (>= 04.00): BOA_ADD_OFFSET -1000",
        )
    name = ".".join(f"{v:02d}" for v in version)
    return Radiometry(scale, 0.0, "processing_baseline", f"ESA DN at baseline {name} (< 04.00): no offset")
