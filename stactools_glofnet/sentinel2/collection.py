"""The ``glofnet-sentinel2`` collection: one item per kept scene, lake-area series, patches.

Item assets are declared once in :data:`ITEM_ASSETS` (the collection's ``item_assets``) and
stamped onto items. Band COGs hold reflectance as uint16 with ``raster:bands`` scale 0.0001 and
offset -0.1 (the Earth Search baseline ≥ 04.00 convention, applied to every scene whatever its
baseline, so one scale/offset describes the whole collection); cloud-masked pixels are nodata 0.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pystac
from numpy.typing import NDArray
from PIL import Image
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.datacube import DatacubeExtension, Dimension, Variable, VariableType
from pystac.extensions.eo import Band as EOBand
from pystac.extensions.eo import EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension
from pystac.extensions.xarray_assets import XarrayAssetsExtension

from stactools_glofnet.core.assets import add_figure_asset, add_table_asset, file_asset, zarr_asset
from stactools_glofnet.core.config import CatalogContent, SplitName
from stactools_glofnet.core.constants import COG, PNG
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import GlofnetExtension, class_balance, declared_grid
from stactools_glofnet.core.figures import png_figure
from stactools_glofnet.core.files import unsafe_name_reason
from stactools_glofnet.core.grids import aoi_grid
from stactools_glofnet.core.hrefs import href_kind
from stactools_glofnet.core.linked import ItemsExtent, LinkedItems
from stactools_glofnet.core.memo import Fingerprint, run_jobs
from stactools_glofnet.core.normalization import is_applied
from stactools_glofnet.core.output import input_paths
from stactools_glofnet.core.preview import (
    THUMBNAIL_MAX_PX,
    add_renders,
    add_statistics,
    add_thumbnail,
    copy_thumbnail,
    render,
    written_statistics,
)
from stactools_glofnet.core.progress import progress
from stactools_glofnet.core.raster import write_cog
from stactools_glofnet.core.stac import add_items, footprint, new_collection, stamp_projection
from stactools_glofnet.core.wing import BuildOptions, Skips, WingInputs
from stactools_glofnet.sentinel2.bands import BANDS, SCL_CLASSES, SCL_KEY
from stactools_glofnet.sentinel2.patches import PatchWriter, ScenePatches, augmentation_rule, cut_patches
from stactools_glofnet.sentinel2.process import ProcessedScene, Skipped, process_scene
from stactools_glofnet.sentinel2.read import SourceScene, read_scene

logger = logging.getLogger(__name__)

SCALE, OFFSET = 0.0001, -0.1
LINEAGE = (
    "Sentinel-2 L2A (Earth Search or Planetary Computer COGs; DN to reflectance by the rule in "
    "glofnet:radiometry) clipped to the AOI on the 10 m grid of MGRS 43SDA; 20 m bands "
    "resampled with the method in glofnet:resampling, SCL with nearest; pixels whose SCL class is in "
    "glofnet:masked_classes set to nodata; NDWI, MNDWI and NDSI computed from physical reflectance."
)


def _band_definition(key: str) -> pystac.ItemAssetDefinition:
    band = next(b for b in BANDS if b.key == key)
    return pystac.ItemAssetDefinition.create(
        title=f"{band.key} ({band.band_id}) reflectance, 10 m",
        description=f"Surface reflectance of {band.band_id} (native {band.gsd} m), cloud-masked.",
        media_type=COG,
        roles=["data", "reflectance"],
        extra_fields={
            "gsd": 10,
            "eo:bands": [
                EOBand.create(
                    name=band.band_id,  # odc-stac's band alias: load(items, bands=["B04"])
                    common_name=band.key,
                    center_wavelength=band.center_wavelength_um,
                    full_width_half_max=band.full_width_half_max_um,
                ).to_dict()
            ],
            "raster:bands": [
                RasterBand.create(
                    nodata=0, data_type=DataType.UINT16, spatial_resolution=10, scale=SCALE, offset=OFFSET
                ).to_dict()
            ],
        },
    )


def _classification(values: list[tuple[int, str, str, str]]) -> list[dict[str, Any]]:
    return [
        Classification.create(value=v, name=name, description=text, color_hint=color).to_dict()
        for v, name, text, color in values
    ]


def _index_definition(name: str, label: str, formula: str) -> pystac.ItemAssetDefinition:
    return pystac.ItemAssetDefinition.create(
        title=f"{label}, 10 m",
        description=f"{label} = {formula} from cloud-masked reflectance; NaN where masked.",
        media_type=COG,
        roles=["data", "index"],
        extra_fields={
            "raster:bands": [
                RasterBand.create(
                    nodata=NoDataStrings.NAN, data_type=DataType.FLOAT32, spatial_resolution=10
                ).to_dict()
            ]
        },
    )


ITEM_ASSETS: dict[str, pystac.ItemAssetDefinition] = {
    **{band.key: _band_definition(band.key) for band in BANDS},
    "scl": pystac.ItemAssetDefinition.create(
        title="Scene classification (SCL), 10 m",
        description="Sentinel-2 L2A scene classification, resampled to 10 m with nearest neighbour.",
        media_type=COG,
        roles=["data", "classification"],
        extra_fields={
            "raster:bands": [
                RasterBand.create(nodata=0, data_type=DataType.UINT8, spatial_resolution=10).to_dict()
            ],
            "classification:classes": _classification(list(SCL_CLASSES)),
        },
    ),
    "cloud_mask": pystac.ItemAssetDefinition.create(
        title="Cloud mask, 10 m",
        description="1 where the SCL class is in glofnet:masked_classes or a band has no data.",
        media_type=COG,
        roles=["data-mask", "cloud"],
        extra_fields={
            "raster:bands": [RasterBand.create(data_type=DataType.UINT8, spatial_resolution=10).to_dict()],
            "classification:classes": _classification(
                [
                    (0, "clear", "Clear: used", "000000"),
                    (1, "masked", "Cloud, shadow, cirrus or no data", "ffffff"),
                ]
            ),
        },
    ),
    "ndwi": _index_definition("ndwi", "NDWI", "(B03 - B08) / (B03 + B08)"),
    "mndwi": _index_definition(
        "mndwi",
        "MNDWI / NDSI",
        "(B03 - B11) / (B03 + B11), Xu's MNDWI and the NDSI alike (one formula, one file; the snow "
        "threshold is glofnet:qc snow_threshold)",
    ),
    "thumbnail": pystac.ItemAssetDefinition.create(
        title="True-colour thumbnail",
        description="B04/B03/B02 reflectance 0-0.9 stretched to 8 bits; masked pixels black.",
        media_type=PNG,
        roles=["thumbnail"],
    ),
}


INDEX_RESCALE = ((-1.0, 1.0),)
RENDERS = {
    "true-color": render(
        ["red", "green", "blue"],
        "True colour (B04, B03, B02), reflectance 0-0.9",
        rescale=[(round((0 - OFFSET) / SCALE), round((0.9 - OFFSET) / SCALE))] * 3,
        nodata=0,
    ),
    "ndwi": render(["ndwi"], "NDWI (water blue)", rescale=INDEX_RESCALE, colormap_name="rdbu"),
    "mndwi": render(
        ["mndwi"], "MNDWI / NDSI (water and snow blue)", rescale=INDEX_RESCALE, colormap_name="rdbu"
    ),
    "scl": render(
        ["scl"],
        "Scene classification",
        rescale=[(0, 11)],
        colormap={str(value): f"#{color}" for value, _, _, color in SCL_CLASSES},
    ),
}
"""How tilers and STAC Browser draw the scenes (band DN stored as reflectance / SCALE - OFFSET / SCALE)."""


def _to_dn(reflectance: NDArray[np.float32]) -> NDArray[np.uint16]:
    """Published DN: ``round((reflectance - OFFSET) / SCALE)`` within 1..65535, 0 (nodata) for NaN.

    In place on one float64 copy (a whole-AOI band is 50 MB as float64; each temporary costs).
    """
    dn = reflectance.astype(np.float64)
    dn -= OFFSET
    dn /= SCALE
    np.round(dn, out=dn)
    np.clip(dn, 1, 65535, out=dn)  # NaN stays NaN; a valid pixel is never nodata
    np.nan_to_num(dn, copy=False, nan=0.0)
    return dn.astype(np.uint16)


def _thumbnail(scene: ProcessedScene, path: Path) -> None:
    step = max(1, -(-max(scene.grid.shape) // THUMBNAIL_MAX_PX))
    rgb = np.stack([scene.reflectance[k][::step, ::step] for k in ("red", "green", "blue")], axis=-1)
    image = np.clip(np.nan_to_num(rgb / 0.9, nan=0.0) * 255, 0, 255).astype(np.uint8)
    Image.fromarray(image).save(path, format="PNG")


def item_from_scene(scene: ProcessedScene, content: CatalogContent, directory: Path) -> pystac.Item:
    """Write the processed scene's COGs and thumbnail into ``directory`` and describe them in an item."""
    source = scene.source
    grid = scene.grid
    geometry, bbox = footprint(grid)
    item = pystac.Item(
        id=source.id,
        geometry=geometry,
        bbox=bbox,
        datetime=source.datetime,
        properties={},
    )
    common = item.common_metadata
    common.title = f"Sentinel-2 L2A {source.datetime:%Y-%m-%d %H:%M} UTC ({source.id})"
    common.platform = source.platform
    common.constellation = "sentinel-2"
    common.instruments = ["msi"]
    common.gsd = 10
    files: dict[str, Path] = {}
    measured: dict[str, dict[str, float]] = {}

    def write(key: str, name: str, values: NDArray[Any], nodata: float | None) -> None:
        files[key] = directory / f"{name}.tif"
        write_cog(files[key], values, grid, nodata=nodata)
        measured[key] = written_statistics(values, nodata)

    for band in BANDS:
        write(band.key, band.band_id, _to_dn(scene.reflectance[band.key]), 0)
    write("scl", "SCL", scene.scl, 0)
    write("cloud_mask", "cloud_mask", scene.masked.astype(np.uint8), None)
    for name in ("ndwi", "mndwi"):
        write(name, name.upper(), scene.indices[name], float("nan"))
    files["thumbnail"] = directory / "thumbnail.png"
    _thumbnail(scene, files["thumbnail"])
    for key, definition in ITEM_ASSETS.items():
        item.add_asset(key, file_asset(definition, files[key]))
    add_statistics(item, measured)

    stamp_projection(item, grid)
    eo = EOExtension.ext(item, add_if_missing=True)
    eo.cloud_cover = round(100 * scene.cloud_fraction, 4)
    eo.snow_cover = round(100 * scene.snow_ice_fraction, 4)
    RasterExtension.add_to(item)
    ClassificationExtension.add_to(item)
    FileExtension.add_to(item)
    params = content.processing.sentinel2
    day = source.datetime.date()
    glofnet = GlofnetExtension.ext(item, add_if_missing=True)
    glofnet.modality = "sentinel2"
    glofnet.masked_classes = list(params.cloud_mask_classes)
    glofnet.cloud_fraction = round(scene.cloud_fraction, 6)
    glofnet.resampling = {"reflectance_20m": params.reflectance_resampling, "scl": "nearest"}
    glofnet.lake_area_km2 = scene.lake_area_km2
    glofnet.lake_quality = scene.lake_quality
    glofnet.split = content.splits.split_of(day)
    glofnet.label = "glof" if content.events.is_glof(day) else "no_glof"
    glofnet.source_processing_baseline = source.baseline_text
    glofnet.radiometry = {
        **scene.radiometry.to_dict(),
        "provider_form": source.form.name,
        "check": scene.verdict.to_dict(),
    }
    if urlparse(source.origin_href).scheme in ("http", "https", "s3"):
        # A local source path means nothing to a reader of the published catalog: the item id is
        # the source id, and the link is kept only where the source has a URL.
        item.add_link(
            pystac.Link("derived_from", source.origin_href, media_type="application/json", title=source.id)
        )
    return item


def _lake_row(scene: ProcessedScene | Skipped, content: CatalogContent) -> dict[str, Any]:
    day = scene.source.datetime.date()
    row: dict[str, Any] = {
        "scene_id": scene.source.id,
        "datetime": pd.Timestamp(scene.source.datetime).tz_convert("UTC"),
        "platform": scene.source.platform,
        "split": content.splits.split_of(day),
        "label": "glof" if content.events.is_glof(day) else "no_glof",
        "aoi_cloud_fraction": scene.cloud_fraction,
    }
    if isinstance(scene, Skipped):
        return {**row, "status": "skipped", "reason": scene.reason, "quality": "skipped"}
    return {
        **row,
        "status": "kept",
        "reason": None,
        "quality": scene.lake_quality,
        "lake_masked_fraction": round(scene.lake_masked_fraction, 6),
        "water_pixels": scene.lake_water_pixels,
        "lake_area_km2": scene.lake_area_km2,
    }


LAKE_COLUMNS = {
    "scene_id": "Source Sentinel-2 item id",
    "datetime": "Acquisition time (UTC)",
    "platform": "sentinel-2a or sentinel-2b",
    "split": "ml-aoi split of the acquisition day (null inside a buffer)",
    "label": "glof or no_glof",
    "aoi_cloud_fraction": "Fraction of the AOI-clipped scene masked by SCL",
    "status": "kept or skipped",
    "reason": "Why a scene was skipped",
    "quality": "clear, partly_cloudy, cloudy (area null), outside (basin not covered) or skipped",
    "lake_masked_fraction": "Fraction of the lake basin masked",
    "water_pixels": "10 m pixels in the basin with NDWI above the water threshold",
    "lake_area_km2": (
        "Open-water area (km2) of the clear part of the basin: a lower bound when partly_cloudy;"
        " null where quality is cloudy or outside"
    ),
}


def _write_lake_table(rows: list[dict[str, Any]], path: Path) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(LAKE_COLUMNS)).sort_values("datetime", kind="stable")
    frame["water_pixels"] = frame["water_pixels"].astype("Int64")
    frame.to_parquet(path, index=False, engine="pyarrow", compression="zstd")
    return frame


def _write_figure(frame: pd.DataFrame, content: CatalogContent, path: Path) -> None:
    measured = frame[frame["lake_area_km2"].notna()]
    with png_figure(path) as (_, axis):
        axis.plot(measured["datetime"].dt.tz_localize(None), measured["lake_area_km2"], "o-", ms=3, lw=1)
        for event in content.events.drainages:
            axis.axvline(pd.Timestamp(event.drainage_date), color="tab:red", lw=0.8, ls="--")
        axis.set_ylabel("lake area (km²)")
        axis.set_title("Shisper ice-dammed lake from Sentinel-2 (dashed: documented drainages)")


def scene_paths(source_dir: Path) -> list[Path]:
    """The Earth Search item JSON files of a SOURCE's sentinel2/ directory (``<id>/<id>.json``)."""
    return [p for p in input_paths(source_dir, "*/*.json") if p.parent.name == p.stem]


def _read_checked(path: Path, seen: dict[str, Path], source_dir: Path, options: BuildOptions) -> SourceScene:
    """Read one source item and check it may become an item: a safe id, not seen before."""
    scene = read_scene(path, options.read_href_modifier)
    unsafe = unsafe_name_reason(scene.id)
    if unsafe is not None:
        raise GlofnetError(path, unsafe)
    if scene.id in seen:
        first = seen[scene.id].relative_to(source_dir).as_posix()
        raise GlofnetError(
            path, f"duplicate scene id: {first} has the same id (the first in path order is kept)"
        )
    seen[scene.id] = path
    return scene


def create_item(source: Path | str, directory: Path, options: BuildOptions) -> pystac.Item | Skipped:
    """Sentinel-2's item front door: one source item file into an item with its COGs in ``directory``.

    A scene the QC rules or the AOI leave out comes back as :class:`Skipped` (nothing written).
    """
    scene = read_scene(source, options.read_href_modifier)
    unsafe = unsafe_name_reason(scene.id)
    if unsafe is not None:
        raise GlofnetError(source, unsafe)
    result = process_scene(scene, options.content)
    if isinstance(result, Skipped):
        return result
    return item_from_scene(result, options.content, directory)


@dataclass(frozen=True)
class _SceneJob:
    """One scene to process on the build's engine (a Dask worker or this process)."""

    path: Path
    scene: SourceScene
    content: CatalogContent
    directory: Path


@dataclass(frozen=True)
class _SceneDone:
    """What a scene job sends back: small values only (its COGs are already on disk)."""

    path: Path
    scene_id: str
    item: pystac.Item | None = None
    row: dict[str, Any] | None = None
    patches: ScenePatches | None = None
    skipped: Skipped | None = None
    error: GlofnetError | None = None


def _scene_job(job: _SceneJob) -> _SceneDone:
    """Process one scene: COGs and thumbnail written, item, lake-area row and patches returned."""
    content = job.content
    try:
        result = process_scene(job.scene, content)
    except GlofnetError as error:
        return _SceneDone(job.path, job.scene.id, error=error.detached())
    if isinstance(result, Skipped):
        row = _lake_row(result, content) if result.kind == "quality" else None
        return _SceneDone(job.path, job.scene.id, row=row, skipped=result)
    day = job.scene.datetime.date()
    split = content.splits.split_of(day)
    patches = None
    if split is not None:
        patches = cut_patches(content, job.scene.id, day, split, result.grid, result.reflectance)
    item = item_from_scene(result, content, job.directory)
    return _SceneDone(job.path, job.scene.id, item=item, row=_lake_row(result, content), patches=patches)


def _scene_inputs(job: _SceneJob) -> Fingerprint | None:
    """The files a scene job reads: its item JSON and its local band files (None: remote or unusable)."""
    try:
        hrefs = [job.scene.asset(key).href for key in (*(band.key for band in BANDS), SCL_KEY)]
    except GlofnetError:
        return None  # the job reports it; a result that depends on a missing file is not kept
    if any(href_kind(href) == "remote" for href in hrefs):
        return None
    files = [job.path, *(Path(href.removeprefix("file://")) for href in hrefs)]
    return Fingerprint(tuple(Path(os.path.abspath(f)) for f in files), (job.scene.id, job.directory.name))


def _scene_jobs(
    paths: list[Path], source_dir: Path, workdir: Path, options: BuildOptions, skips: Skips
) -> Iterator[_SceneJob]:
    """Read each source item (cheap: its JSON) and check it; the pixels are left to the jobs."""
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            scene = _read_checked(path, seen, source_dir, options)
        except GlofnetError as error:
            skips.add_error(path.parent.name, error, source_dir)
            continue
        yield _SceneJob(path, scene, options.content, workdir / scene.id)


def create_collection(inputs: WingInputs, workdir: Path, options: BuildOptions) -> pystac.Collection:
    """Sentinel-2's front door: every scene under ``SOURCE/sentinel2`` into the collection.

    Files are written in ``workdir``. Scenes are processed side by side on ``options.engine``
    and collected in path order, so the output does not depend on the engine. Scenes that cannot
    be used (unreadable, outside the AOI, unsafe or duplicate ids) are skipped and listed in
    ``glofnet:skipped`` (``options.strict``: an error); so are scenes too cloudy.
    """
    source_dir = inputs.require_source("sentinel2")
    content = options.content
    paths = scene_paths(source_dir)
    if not paths:
        raise GlofnetError(source_dir, "no Sentinel-2 items (expected <id>/<id>.json)")
    patches = PatchWriter(workdir / "patches.zarr", content)
    kept = _KeptScenes()
    rows: list[dict[str, Any]] = []
    skips = Skips("sentinel2", options.strict)
    jobs = _scene_jobs(paths, source_dir, workdir, options, skips)
    done_scenes = run_jobs(options, _scene_job, jobs, _scene_inputs, workdir)
    for done in progress(done_scenes, total=len(paths), desc="sentinel2 scenes", unit="scene", timed=True):
        if done.error is not None:
            skips.add_error(done.path.parent.name, done.error, source_dir)
        elif done.skipped is not None:
            skips.add(done.scene_id, done.skipped.reason, kind=done.skipped.kind, path=done.path)
        if done.row is not None:
            rows.append(done.row)
        if done.item is not None:
            kept.add(done.item, workdir / done.item.id)
            patches.append(done.patches)
    logger.info(skips.summary(len(kept.items), "scene"))
    if not kept.items:
        raise skips.nothing_usable(source_dir, "scene")
    patch_summary = patches.finish(options.normalization)
    frame = _write_lake_table(rows, workdir / "lake_area.parquet")
    _write_figure(frame, content, workdir / "lake_area.png")
    return _assemble(content, kept, frame, skips.records, patch_summary, workdir)


@dataclass
class _KeptScenes:
    """Sentinel-2's kept scenes as ITS_LIVE's pairs are kept: each item on disk once made, and the
    collection's extent, summaries, class balance and thumbnail gathered from it on the way."""

    items: LinkedItems = field(default_factory=LinkedItems)
    extent: ItemsExtent = field(default_factory=ItemsExtent)
    cloud_covers: tuple[float, float] | None = None
    """The least and most ``eo:cloud_cover``."""
    platforms: set[str] = field(default_factory=set)
    proj_codes: set[str] = field(default_factory=set)
    days: list[tuple[SplitName | None, bool]] = field(default_factory=list)
    """Each scene's split and whether its day is a GLOF, for the class balance."""
    clearest: tuple[float, str, str] | None = None
    """The clearest scene: its ``eo:cloud_cover``, id and thumbnail file."""

    def add(self, item: pystac.Item, directory: Path) -> None:
        """Take ``item`` into account and write it into ``directory``."""
        self.extent.add(item)
        if item.common_metadata.platform:
            self.platforms.add(item.common_metadata.platform)
        self.proj_codes.add(item.properties["proj:code"])
        cloud = float(item.properties["eo:cloud_cover"])
        low, high = self.cloud_covers or (cloud, cloud)
        self.cloud_covers = (min(low, cloud), max(high, cloud))
        glofnet = GlofnetExtension.ext(item)
        self.days.append((glofnet.split, glofnet.label == "glof"))
        candidate = (cloud, item.id, item.assets["thumbnail"].href)
        if self.clearest is None or candidate[:2] < self.clearest[:2]:
            self.clearest = candidate
        self.items.add(item, directory)


PATCH_VARIABLES = {
    "label": "1 = GLOF, 0 = no GLOF",
    "split": "train, validate or test",
    "augmentation": "none or the augmentation applied (train only)",
    "patch_id": "Unique patch id: <scene>_w<window>[_<augmentation>]",
    "origin": "Id of the non-augmented patch this one derives from",
    "scene_id": "Source Sentinel-2 scene",
    "window": "Index of the patch window around the lake",
    "datetime": "Acquisition day of the scene",
}


def _describe_patches(asset: pystac.Asset, content: CatalogContent, count: int, normalized: bool) -> None:
    """Datacube dimensions and variables of the patch store (patch, band, y, x)."""
    params = content.processing.sentinel2
    side = params.patch_size - 1
    pixel = "{} within the patch, 10 m pixels on the AOI grid (the patch's place: window)"
    dimensions: dict[str, dict[str, Any]] = {
        "patch": {"type": "index", "extent": [0, count - 1], "step": 1, "description": "Patch number"},
        "band": {"type": "bands", "values": list(params.patch_bands)},
        "y": {"type": "pixel", "extent": [0, side], "step": 1, "description": pixel.format("Row")},
        "x": {"type": "pixel", "extent": [0, side], "step": 1, "description": pixel.format("Column")},
    }
    grid_variables = {"reflectance": "Surface reflectance (unitless); NaN where cloud-masked"}
    band_variables = {}
    if normalized:
        grid_variables["normalized"] = "(reflectance - mean) / std with the train split's statistics"
        band_variables = {"mean": "Train-split mean per band", "std": "Train-split std per band"}
    variables = (
        {
            name: Variable.from_dict(
                {"dimensions": ["patch", "band", "y", "x"], "type": VariableType.DATA, "description": text}
            )
            for name, text in grid_variables.items()
        }
        | {
            name: Variable.from_dict(
                {"dimensions": ["patch"], "type": VariableType.AUXILIARY, "description": text}
            )
            for name, text in PATCH_VARIABLES.items()
        }
        | {
            name: Variable.from_dict(
                {"dimensions": ["band"], "type": VariableType.AUXILIARY, "description": text}
            )
            for name, text in band_variables.items()
        }
    )
    datacube = DatacubeExtension.ext(asset)
    datacube.dimensions = {name: Dimension.from_dict(value) for name, value in dimensions.items()}
    datacube.variables = variables


def _harmonization_fields(
    collection: pystac.Collection,
    content: CatalogContent,
    kept: _KeptScenes,
    skipped: list[dict[str, Any]],
    patch_summary: dict[str, Any],
) -> None:
    params = content.processing.sentinel2
    glofnet = GlofnetExtension.ext(collection, add_if_missing=True)
    spec = content.processing.grids["sentinel2_10m"]
    glofnet.grid = declared_grid("sentinel2_10m", spec, aoi_grid(spec, content.geometry.aoi.bbox))
    glofnet.resampling = {"reflectance_20m": params.reflectance_resampling, "scl": "nearest"}
    glofnet.qc = {
        "cloud_mask_classes": list(params.cloud_mask_classes),
        "signal_classes": list(params.signal_classes),
        "max_aoi_cloud_fraction": params.max_aoi_cloud_fraction,
        "max_lake_cloud_fraction": params.max_lake_cloud_fraction,
        "water_index": params.water_index,
        "water_threshold": params.water_threshold,
        "snow_index": params.snow_index,
        "snow_threshold": params.snow_threshold,
        "radiometric_check": params.radiometric_check.model_dump(),
    }
    glofnet.skipped = skipped
    glofnet.class_balance = class_balance(kept.days)
    if patch_summary.get("patches"):
        glofnet.patch_counts = patch_summary["counts"]
        glofnet.normalization = patch_summary["normalization"]
        glofnet.augmentation = {
            "applied_to": ["train"],
            "methods": list(params.augmentations),
            "rule": augmentation_rule(),
        }


def _assemble(
    content: CatalogContent,
    kept: _KeptScenes,
    frame: pd.DataFrame,
    skipped: list[dict[str, Any]],
    patch_summary: dict[str, Any],
    workdir: Path,
) -> pystac.Collection:
    assert kept.cloud_covers is not None and kept.clearest is not None
    collection = new_collection(
        content,
        "sentinel2",
        bbox=kept.extent.collection_bbox(),
        interval=(kept.extent.start, kept.extent.end),
        lineage=LINEAGE,
    )
    collection.item_assets = dict(ITEM_ASSETS)
    for extension in (
        ProjectionExtension,
        EOExtension,
        RasterExtension,
        ClassificationExtension,
        FileExtension,
    ):
        extension.add_to(collection)
    summaries = collection.summaries
    summaries.add("platform", sorted(kept.platforms))
    summaries.add("constellation", ["sentinel-2"])
    summaries.add("instruments", ["msi"])
    summaries.add("gsd", [10])
    summaries.add("proj:code", sorted(kept.proj_codes))
    summaries.add("eo:cloud_cover", pystac.RangeSummary(*kept.cloud_covers))
    summaries.add(
        "eo:bands", [b for key in [b.key for b in BANDS] for b in ITEM_ASSETS[key].properties["eo:bands"]]
    )
    _harmonization_fields(collection, content, kept, skipped, patch_summary)
    add_renders(collection, RENDERS)
    _, clearest_id, clearest_thumbnail = kept.clearest
    copy_thumbnail(Path(clearest_thumbnail), workdir / "thumbnail.png")
    add_thumbnail(
        collection,
        workdir / "thumbnail.png",
        "True-colour thumbnail of the clearest scene",
        f"{clearest_id}: B04/B03/B02 reflectance 0-0.9 stretched to 8 bits.",
    )

    add_table_asset(
        collection,
        "lake_area",
        workdir / "lake_area.parquet",
        title="Lake-area time series",
        description="One row per source scene: lake area where the basin is clear, quality flag, skips.",
        columns=LAKE_COLUMNS,
        row_count=len(frame),
    )
    add_figure_asset(
        collection,
        "lake_area_figure",
        workdir / "lake_area.png",
        title="Lake-area figure",
        description="Lake area per clear scene with the documented drainage dates.",
    )
    if patch_summary.get("patches"):
        patches = zarr_asset(
            workdir / "patches.zarr",
            title="ML patches (Zarr v2, consolidated)",
            description=(
                "128x128x6 patches (B02 B03 B04 B08 B11 B12) around the lake: reflectance, normalized "
                "(train statistics), label, split, augmentation and source scene per patch."
            ),
        )
        XarrayAssetsExtension.add_to(collection)
        collection.add_asset("patches", patches)
        DatacubeExtension.add_to(collection)
        _describe_patches(
            patches, content, patch_summary["patches"], is_applied(patch_summary["normalization"])
        )
    add_items(collection, kept.items)
    kept.items.close()
    return collection
