"""The modality collections' published outputs the harmonized products are made from.

The harmonized wing reads other wings' *outputs* (their STAC collections and asset files), never
their code: a collection is found by its ``glofnet:modality`` and its files by asset key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pystac

from stactools_glofnet.core.config import Modality
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension

NEEDED: tuple[Modality, ...] = ("sentinel2", "itslive", "modis")


@dataclass(frozen=True)
class Scene:
    """One kept Sentinel-2 scene: its day and the files the water fraction is computed from."""

    id: str
    day: dt.date
    ndwi: Path
    cloud_mask: Path


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
        """The Sentinel-2 scenes in date order, one at a time."""
        dated = []
        for item in self.collections["sentinel2"].get_items(recursive=True):
            if item.datetime is None:
                raise GlofnetError(item.get_self_href() or item.id, "Sentinel-2 item has no datetime")
            dated.append((item.datetime, item.id, item))
        for when, _, item in sorted(dated, key=lambda entry: entry[:2]):
            files = {}
            for key in ("ndwi", "cloud_mask"):
                asset = item.assets.get(key)
                href = asset.get_absolute_href() if asset else None
                if href is None:
                    raise GlofnetError(
                        item.get_self_href() or item.id, f"Sentinel-2 item has no {key!r} asset"
                    )
                files[key] = Path(href)
            yield Scene(
                id=item.id,
                day=when.astimezone(dt.UTC).date(),
                ndwi=files["ndwi"],
                cloud_mask=files["cloud_mask"],
            )

    def water_threshold(self) -> float:
        """The NDWI above which a clear 10 m pixel is water, as the Sentinel-2 collection publishes."""
        qc = GlofnetExtension.ext(self.collections["sentinel2"]).qc or {}
        if "water_threshold" not in qc:
            raise GlofnetError(
                self.collections["sentinel2"].id, "publishes no water_threshold in its glofnet:qc"
            )
        return float(qc["water_threshold"])


def harmonization_inputs(collections: list[pystac.Collection]) -> HarmonizationInputs | None:
    """The inputs among the built ``collections``, or None when a needed modality is absent."""
    by_modality: dict[Modality, pystac.Collection] = {}
    for collection in collections:
        modality = GlofnetExtension.ext(collection).modality
        if modality is not None:
            by_modality[modality] = collection
    if any(m not in by_modality for m in NEEDED):
        return None
    return HarmonizationInputs({m: by_modality[m] for m in NEEDED})
