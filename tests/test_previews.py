"""Previews: COG statistics, render definitions, thumbnails that open, charts that are not imagery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from PIL import Image

from stactools_glofnet.core.constants import COG, PNG
from stactools_glofnet.core.preview import THUMBNAIL_MAX_PX, band_statistics

IMAGERY_ROLES = {"overview", "visual"}


@pytest.fixture(scope="module")
def objects(built_catalog: Path) -> list[pystac.Item | pystac.Collection]:
    """Every collection and item of the built catalog."""
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    collections = list(root.get_all_collections())
    return [*collections, *(i for c in collections for i in c.get_items(recursive=True))]


def test_every_cog_asset_has_statistics_of_its_stored_values(
    objects: list[pystac.Item | pystac.Collection],
) -> None:
    checked = 0
    for obj in objects:
        for key, asset in obj.assets.items():
            if asset.media_type != COG:
                continue
            bands = asset.extra_fields["raster:bands"]
            with rasterio.open(asset.get_absolute_href()) as dataset:
                for index, band in enumerate(bands, start=1):
                    statistics = band["statistics"]
                    values = dataset.read(index)
                    valid = (dataset.read_masks(index) > 0) & np.isfinite(values)
                    assert statistics["valid_percent"] == pytest.approx(100 * valid.mean(), abs=1e-3)
                    if valid.any():
                        assert statistics["minimum"] == pytest.approx(values[valid].min(), abs=1e-3), key
                        assert statistics["maximum"] == pytest.approx(values[valid].max(), abs=1e-3), key
                        assert statistics["minimum"] <= statistics["mean"] <= statistics["maximum"]
            checked += 1
    assert checked > 300


def test_band_statistics_ignore_nodata_and_nan() -> None:
    values = np.array([[0, 1000, 3000], [np.nan, 2000, 0]], dtype=np.float32)
    valid = np.isfinite(values) & (values != 0)
    assert band_statistics(values, valid) == {
        "minimum": 1000.0,
        "maximum": 3000.0,
        "mean": 2000.0,
        "stddev": pytest.approx(816.4966, abs=1e-4),
        "valid_percent": 50.0,
    }
    assert band_statistics(values, np.zeros_like(valid)) == {"valid_percent": 0.0}


def test_every_item_and_collection_has_a_thumbnail_that_opens(
    objects: list[pystac.Item | pystac.Collection],
) -> None:
    for obj in objects:
        asset = obj.assets.get("thumbnail")
        assert asset is not None, f"{obj.id} has no thumbnail"
        assert asset.media_type == PNG and asset.roles == ["thumbnail"]
        with Image.open(asset.get_absolute_href() or "") as image:
            image.load()
            assert image.format == "PNG"
            assert 16 <= max(image.size) <= THUMBNAIL_MAX_PX, (obj.id, image.size)
            colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
            assert colours is None or len(colours) > 3, f"{obj.id}: the thumbnail is (nearly) blank"


def test_charts_are_metadata_and_only_cogs_and_thumbnails_are_imagery(
    objects: list[pystac.Item | pystac.Collection],
) -> None:
    for obj in objects:
        for key, asset in obj.assets.items():
            roles = set(asset.roles or [])
            if asset.media_type == PNG and key != "thumbnail":
                assert "metadata" in roles and not roles & IMAGERY_ROLES, (obj.id, key)


def test_renders_name_existing_cog_assets(built_catalog: Path) -> None:
    root = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    rendered = set()
    for collection in root.get_all_collections():
        renders = collection.extra_fields.get("renders", {})
        item = next(iter(collection.get_items(recursive=True)))
        for name, render in renders.items():
            for key in render["assets"]:
                assert item.assets[key].media_type == COG, (collection.id, name, key)
            assert len(render["rescale"]) in (1, len(render["assets"]))
            assert render.get("colormap_name") or render.get("colormap") or len(render["assets"]) == 3
        if renders:
            rendered.add(collection.id)
    assert rendered == {"glofnet-sentinel2", "glofnet-itslive", "glofnet-modis-lst"}


def test_sentinel2_true_colour_render_covers_the_reflectance(built_catalog: Path) -> None:
    collection = pystac.Collection.from_file(str(built_catalog / "glofnet-sentinel2" / "collection.json"))
    low, high = collection.extra_fields["renders"]["true-color"]["rescale"][0]
    for item in collection.get_items():
        statistics = item.assets["red"].extra_fields["raster:bands"][0]["statistics"]
        assert low <= statistics["mean"] <= high
        scale = item.assets["red"].extra_fields["raster:bands"][0]
        assert (low * scale["scale"] + scale["offset"], high * scale["scale"] + scale["offset"]) == (
            pytest.approx(0.0),
            pytest.approx(0.9),
        )
