"""Previews every wing shares: ``raster:bands`` statistics, render definitions, PNG thumbnails.

STAC Browser and tilers draw a COG with the range its ``raster:bands`` statistics (or a
collection's ``renders``) give; without them reflectance looks black. Statistics describe the
stored values (before ``scale``/``offset``). Thumbnails are PNGs of at most 600 px a side with
the ``thumbnail`` role; charts are ``metadata``, so no client draws them on the map.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from numpy.typing import NDArray
from PIL import Image
from pystac.extensions.render import Render, RenderExtension

from stactools_glofnet.core.assets import file_asset
from stactools_glofnet.core.constants import COG, PNG, THUMBNAIL_ASSET

THUMBNAIL_MAX_PX = 600
THUMBNAIL_MIN_PX = 256
STATISTICS_DECIMALS = 4


def band_statistics(values: NDArray[Any], valid: NDArray[np.bool_]) -> dict[str, float]:
    """``raster:bands[].statistics`` of the ``valid`` pixels of ``values``."""
    data = values[valid].astype(np.float64)
    if data.size == 0:
        return {"valid_percent": 0.0}
    return {
        "minimum": round(float(data.min()), STATISTICS_DECIMALS),
        "maximum": round(float(data.max()), STATISTICS_DECIMALS),
        "mean": round(float(data.mean()), STATISTICS_DECIMALS),
        "stddev": round(float(data.std()), STATISTICS_DECIMALS),
        "valid_percent": round(100.0 * data.size / values.size, STATISTICS_DECIMALS),
    }


def _read_valid(dataset: Any, band: int) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    values = dataset.read(band)
    valid = dataset.read_masks(band) > 0
    if np.issubdtype(values.dtype, np.floating):
        valid &= np.isfinite(values)
    return values, valid


def written_statistics(values: NDArray[Any], nodata: float | None) -> dict[str, float]:
    """The statistics of a single-band COG written from ``values`` with ``nodata``, from memory.

    COGs are lossless, so the file holds exactly ``values``; valid is what GDAL's mask of that
    file says (not nodata, and finite for floats).
    """
    if np.issubdtype(values.dtype, np.floating):
        valid: NDArray[np.bool_] = np.isfinite(values)
        if nodata is not None and not np.isnan(nodata):
            valid &= values != nodata
    elif nodata is None:
        valid = np.ones(values.shape, dtype=bool)
    else:
        valid = values != nodata
    return band_statistics(values, valid)


def add_statistics(
    owner: pystac.Item | pystac.Collection, measured: Mapping[str, dict[str, float]] | None = None
) -> None:
    """Add statistics to every ``raster:bands`` entry of ``owner``'s COG assets.

    A single-band asset whose key is in ``measured`` (see :func:`written_statistics`) takes those;
    every other is read from its file. Call it while asset hrefs are local paths (in a wing,
    before the catalog is laid out). One band is in memory at a time.
    """
    for key, asset in owner.assets.items():
        bands = asset.extra_fields.get("raster:bands")
        if asset.media_type != COG or not bands:
            continue
        if measured is not None and key in measured and len(bands) == 1:
            asset.extra_fields["raster:bands"] = [dict(bands[0], statistics=measured[key])]
            continue
        with rasterio.open(asset.get_absolute_href() or asset.href) as dataset:
            # New band dicts: an asset made from an item-asset definition shares the definition's.
            asset.extra_fields["raster:bands"] = [
                dict(band, statistics=band_statistics(*_read_valid(dataset, index)))
                for index, band in enumerate(bands, start=1)
            ]


def render(
    assets: Sequence[str],
    title: str,
    *,
    rescale: Sequence[tuple[float, float]],
    colormap_name: str | None = None,
    colormap: dict[str, Any] | None = None,
    nodata: float | str | None = None,
) -> Render:
    """One render definition (the render extension's fields, with titiler's colour-map names)."""
    return Render.create(
        assets=list(assets),
        title=title,
        rescale=[list(pair) for pair in rescale],
        colormap_name=colormap_name,
        colormap=colormap,
        nodata=nodata,
    )


def add_renders(collection: pystac.Collection, renders: dict[str, Render]) -> None:
    """Declare how tilers and STAC Browser should draw the collection's items."""
    RenderExtension.ext(collection, add_if_missing=True).apply(renders)


def _colour_map(name: str) -> Any:
    import matplotlib

    by_lower = {key.lower(): key for key in matplotlib.colormaps}
    return matplotlib.colormaps[by_lower[name.lower()]]


def colour_image(
    values: NDArray[Any], valid: NDArray[np.bool_], rescale: tuple[float, float], colormap_name: str
) -> Image.Image:
    """``values`` stretched over ``rescale`` through a colour map; invalid pixels transparent."""
    low, high = rescale
    scaled = np.clip((values.astype(np.float64) - low) / (high - low), 0.0, 1.0)
    rgba = _colour_map(colormap_name)(np.where(valid, scaled, 0.0), bytes=True)
    rgba[..., 3] = np.where(valid, 255, 0)
    return Image.fromarray(rgba.astype(np.uint8))  # (rows, cols, 4) uint8: RGBA


def _save_png(image: Image.Image, path: Path) -> None:
    image = image.copy()
    image.thumbnail((THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX), Image.Resampling.NEAREST)
    factor = THUMBNAIL_MIN_PX // max(image.size)
    if factor > 1:  # a 1 km grid is a few dozen pixels: enlarge it, pixels kept square and sharp
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    path.write_bytes(buffer.getvalue())


def cog_thumbnail(cog: Path, definition: Render, path: Path) -> None:
    """A PNG thumbnail of the first band of ``cog`` drawn as ``definition`` says (rescale, colour map)."""
    with rasterio.open(cog) as dataset:
        values, valid = _read_valid(dataset, 1)
    array_thumbnail(values, valid, definition, path)


def array_thumbnail(values: NDArray[Any], valid: NDArray[np.bool_], definition: Render, path: Path) -> None:
    """The thumbnail :func:`cog_thumbnail` draws, of ``values`` in memory (``valid``: GDAL's mask)."""
    low, high = definition.rescale[0] if definition.rescale else (values[valid].min(), values[valid].max())
    _save_png(
        colour_image(values, valid, (float(low), float(high)), definition.colormap_name or "gray"), path
    )


def image_thumbnail(image: Path, path: Path) -> None:
    """A PNG copy of ``image`` (a chart or a larger picture) shrunk to fit 600 x 600 px."""
    with Image.open(image) as opened:
        _save_png(opened.convert("RGBA"), path)


def copy_thumbnail(source: Path, path: Path) -> None:
    """Reuse an existing thumbnail (a collection showing its best item's picture)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)


def thumbnail_definition(title: str, description: str) -> pystac.ItemAssetDefinition:
    """The asset definition of a PNG thumbnail."""
    return pystac.ItemAssetDefinition.create(
        title=title, description=description, media_type=PNG, roles=["thumbnail"]
    )


def add_thumbnail(owner: pystac.Item | pystac.Collection, path: Path, title: str, description: str) -> None:
    """Add the PNG at ``path`` as ``owner``'s ``thumbnail`` asset, with size and checksum."""
    owner.add_asset(THUMBNAIL_ASSET, file_asset(thumbnail_definition(title, description), path))


def outline_thumbnail(
    shapes: Sequence[tuple[Sequence[Sequence[float]], str]], title: str, path: Path
) -> None:
    """A PNG map sketch of lon/lat polygons ``(ring, colour)`` with a title (no basemap)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(4, 4), dpi=75)
    try:
        for ring, colour in shapes:
            lons, lats = [p[0] for p in ring], [p[1] for p in ring]
            axis.fill(lons, lats, color=colour, alpha=0.6)
            axis.plot(lons, lats, color=colour, lw=1.2)
        axis.set_aspect(1 / np.cos(np.radians(np.mean([p[1] for ring, _ in shapes for p in ring]))))
        axis.set_title(title, fontsize=9)
        axis.tick_params(labelsize=7)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", metadata={"Software": None})
    finally:
        plt.close(figure)
