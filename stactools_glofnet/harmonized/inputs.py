"""The modality collections' published outputs the harmonized products are made from.

The harmonized wing reads other wings' *outputs* (their STAC collections and asset files), never
their code: a collection is found by its ``glofnet:modality`` and its files by asset key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pystac

from stactools_glofnet.core.config import Modality
from stactools_glofnet.core.contract import CLOUD_MASK, NDWI, WATER_THRESHOLD
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension
from stactools_glofnet.core.linked import each_item

NEEDED: tuple[Modality, ...] = ("sentinel2", "itslive", "modis")


@dataclass(frozen=True)
class Scene:
    """One kept Sentinel-2 scene: its day and the files the water fraction is computed from."""

    id: str
    day: dt.date
    ndwi: Path
    cloud_mask: Path
    checksums: tuple[str, str] = ("", "")
    """The ``file:checksum`` the item publishes for each of the two files ("" where it has none)."""


@dataclass(frozen=True)
class HarmonizationInputs:
    """The modality collections and the files of theirs the harmonized products read."""

    collections: dict[Modality, pystac.Collection]

    def asset_path(self, modality: Modality, key: str) -> Path:
        """The local file of collection asset ``key`` of ``modality``."""
        collection = self.collections[modality]
        asset = collection.assets.get(key)
        href = asset.get_absolute_href() if asset else None
        if href is None:
            raise GlofnetError(collection.id, f"has no {key!r} asset to harmonize")
        return Path(href)

    def scenes(self) -> Iterator[Scene]:
        """The Sentinel-2 scenes in date order; the items are read one at a time, none is kept."""
        dated = []
        for item in each_item(self.collections["sentinel2"]):
            if item.datetime is None:
                raise GlofnetError(item.get_self_href() or item.id, "Sentinel-2 item has no datetime")
            dated.append((item.datetime, item.id, _scene(item, item.datetime)))
        for _, _, scene in sorted(dated, key=lambda entry: entry[:2]):
            yield scene

    def water_threshold(self) -> float:
        """The NDWI above which a clear 10 m pixel is water, as the Sentinel-2 collection publishes."""
        qc = GlofnetExtension.ext(self.collections["sentinel2"]).qc or {}
        if WATER_THRESHOLD not in qc:
            raise GlofnetError(
                self.collections["sentinel2"].id, f"publishes no {WATER_THRESHOLD} in its glofnet:qc"
            )
        return float(qc[WATER_THRESHOLD])


def harmonization_inputs(collections: Mapping[Modality, pystac.Collection]) -> HarmonizationInputs | None:
    """The inputs among the built ``collections``, or None when a needed modality is absent."""
    if any(m not in collections for m in NEEDED):
        return None
    return HarmonizationInputs({m: collections[m] for m in NEEDED})


def _scene(item: pystac.Item, when: dt.datetime) -> Scene:
    """What the harmonized products need of one Sentinel-2 item."""
    files, checksums = {}, []
    for key in (NDWI, CLOUD_MASK):
        asset = item.assets.get(key)
        href = asset.get_absolute_href() if asset else None
        if href is None:
            raise GlofnetError(item.get_self_href() or item.id, f"Sentinel-2 item has no {key!r} asset")
        files[key] = Path(href)
        checksums.append(str(asset.extra_fields.get("file:checksum", "")) if asset else "")
    return Scene(
        id=item.id,
        day=when.astimezone(dt.UTC).date(),
        ndwi=files[NDWI],
        cloud_mask=files[CLOUD_MASK],
        checksums=(checksums[0], checksums[1]),
    )
