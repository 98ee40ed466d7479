"""``create-catalog``: the whole GLOFNet catalog, built in a staging directory, validated, moved.

Each modality contributes one collection. DEST is replaced only after the new catalog is
complete and valid, so a failed build never leaves a half-written catalog behind.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pystac

from stactools_glofnet.core.assets import relocate_assets
from stactools_glofnet.core.cache import user_cache_dir
from stactools_glofnet.core.config import CatalogContent, load_content
from stactools_glofnet.core.engine import Engine, open_engine
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.extension import publish_schema
from stactools_glofnet.core.files import staged_directory
from stactools_glofnet.core.index import write_item_indexes
from stactools_glofnet.core.stac import DeterministicStacIO, layout, root_catalog, save
from stactools_glofnet.events import create_events_collection
from stactools_glofnet.harmonized.collection import create_collection as harmonized_collection
from stactools_glofnet.harmonized.inputs import harmonization_inputs
from stactools_glofnet.itslive.collection import create_collection as itslive_collection
from stactools_glofnet.modis.collection import create_collection as modis_collection
from stactools_glofnet.sample.framework import DEFAULT_SEED, MANIFEST_NAME, SizeName, write_sample
from stactools_glofnet.sentinel2.collection import create_collection as sentinel2_collection
from stactools_glofnet.sentinel2.collection import create_item as sentinel2_item
from stactools_glofnet.sentinel2.process import Skipped, process_scene
from stactools_glofnet.sentinel2.read import read_scene
from stactools_glofnet.source import SourceInputs, open_source
from stactools_glofnet.validate import ValidationReport, validate_catalog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildReport:
    """What a build produced."""

    dest: Path
    source: Path
    collections: list[str]
    validation: ValidationReport | None


def _code_digest() -> str:
    """SHA-256 over the package's own source: a cached sample is stale once any generator changes."""
    sha = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        sha.update(path.relative_to(package).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def cached_sample(content: CatalogContent, size: SizeName = "small", seed: int = DEFAULT_SEED) -> Path:
    """The bundled sample, generated once into the user cache and reused while it is current."""
    key = f"sample-{size}-seed{seed}-{_code_digest()[:12]}-{content.digest[:12]}"
    path = user_cache_dir() / key
    if (path / MANIFEST_NAME).is_file():
        try:
            open_source(path)
            return path
        except GlofnetError as error:
            logger.warning("regenerating the cached sample: %s", error)
    logger.info("generating the %s sample (seed %d) into %s", size, seed, path)
    write_sample(path, content, size=size, seed=seed)
    return path


WingBuilder = Callable[[CatalogContent, SourceInputs, Path], pystac.Collection | None]
"""Builds one modality's collection, writing its files under the given work directory; returns
None when SOURCE holds no input for the modality."""


def _events(content: CatalogContent, _inputs: SourceInputs, workdir: Path) -> pystac.Collection:
    return create_events_collection(content, workdir)


def _from_source(
    modality: str, build: Callable[[CatalogContent, Path, Path], pystac.Collection]
) -> WingBuilder:
    """A wing that reads ``SOURCE/<modality>/`` and is left out when SOURCE has no such directory."""

    def wing(content: CatalogContent, inputs: SourceInputs, workdir: Path) -> pystac.Collection | None:
        source_dir = inputs.modality_dir(modality)
        return None if source_dir is None else build(content, source_dir, workdir)

    return wing


WINGS: dict[str, WingBuilder] = {
    "sentinel2": _from_source("sentinel2", sentinel2_collection),
    "itslive": _from_source("itslive", itslive_collection),
    "modis": _from_source("modis", modis_collection),
    "events": _events,
}
"""The modalities read from SOURCE, in catalog order."""

MODALITIES = [*WINGS, "harmonized"]
"""What ``create-collection`` accepts: the source wings and the harmonized products made from them."""


def _harmonized(
    content: CatalogContent,
    built: list[pystac.Collection],
    workdir: Path,
    *,
    link_inputs: bool,
    engine: Engine,
) -> pystac.Collection | None:
    inputs = harmonization_inputs(built)
    if inputs is None:
        return None
    return harmonized_collection(content, inputs, workdir, link_inputs=link_inputs, engine=engine)


WORKDIR = "_work"


def _finish(root: pystac.Catalog, directory: Path) -> None:
    """Lay out, move asset files beside their owners, index each collection's items, and save."""
    layout(root, directory)
    publish_schema(root, directory)
    relocate_assets(root, directory / WORKDIR)
    shutil.rmtree(directory / WORKDIR, ignore_errors=True)
    write_item_indexes(root)
    save(root)


def _build_wings(directory: Path, content: CatalogContent, inputs: SourceInputs) -> list[pystac.Collection]:
    built = []
    for name, build in WINGS.items():
        collection = build(content, inputs, directory / WORKDIR / name)
        if collection is None:
            logger.info("SOURCE has no %s inputs; %s is left out", name, name)
            continue
        built.append(collection)
    return built


def _build_into(directory: Path, content: CatalogContent, inputs: SourceInputs, engine: Engine) -> list[str]:
    root = root_catalog(content)
    built = _build_wings(directory, content, inputs)
    harmonized = _harmonized(
        content, built, directory / WORKDIR / "harmonized", link_inputs=True, engine=engine
    )
    if harmonized is None:
        logger.info("SOURCE lacks a modality the harmonized products need; they are left out")
    else:
        built.insert(len(built) - 1, harmonized)  # before the events, after the modalities
    for collection in built:
        root.add_child(collection, title=collection.title)
    _finish(root, directory)
    return [c.id for c in built]


def create_catalog(
    dest: Path,
    source: Path | None = None,
    *,
    content: CatalogContent | None = None,
    schema_dirs: Sequence[Path] = (),
    validate: bool = True,
    workers: int = 0,
    scheduler: str | None = None,
) -> BuildReport:
    """Build the GLOFNet catalog from ``source`` (default: the bundled sample) into ``dest``.

    ``workers`` > 0 runs the harmonized cube's tiles on a local dask.distributed cluster of that
    many processes, ``scheduler`` on an existing one; the output is the same either way.
    """
    content = content or load_content()
    source = source if source is not None else cached_sample(content)
    inputs = open_source(source)
    report: ValidationReport | None = None
    with staged_directory(dest) as staging, open_engine(workers, scheduler) as engine:
        collections = _build_into(staging, content, inputs, engine)
        if validate:
            report = validate_catalog(staging, schema_dirs)
    return BuildReport(dest=dest, source=source, collections=collections, validation=report)


def create_collection(
    modality: str,
    source: Path,
    dest: Path,
    *,
    content: CatalogContent | None = None,
    schema_dirs: Sequence[Path] = (),
    validate: bool = True,
    workers: int = 0,
    scheduler: str | None = None,
) -> BuildReport:
    """Build one modality's collection alone into ``dest`` as a self-contained collection."""
    content = content or load_content()
    if modality not in MODALITIES:
        raise GlofnetError(source, f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    inputs = open_source(source)
    report: ValidationReport | None = None
    with staged_directory(dest) as staging, open_engine(workers, scheduler) as engine:
        if modality == "harmonized":
            built = _build_wings(staging, content, inputs)
            collection = _harmonized(
                content, built, staging / WORKDIR / modality, link_inputs=False, engine=engine
            )
        else:
            collection = WINGS[modality](content, inputs, staging / WORKDIR / modality)
        if collection is None:
            raise GlofnetError(source, f"SOURCE holds no {modality} inputs")
        _finish(collection, staging)
        if validate:
            report = validate_catalog(staging / "collection.json", schema_dirs)
    return BuildReport(dest=dest, source=source, collections=[collection.id], validation=report)


def create_item(modality: str, source: Path, dest: Path, *, content: CatalogContent | None = None) -> str:
    """Build one item from one source item file into ``dest``; returns what happened, in one line.

    Only ``sentinel2`` items are built from single source files. A scene too cloudy to use is
    reported (and nothing is written), not an error.
    """
    content = content or load_content()
    if modality != "sentinel2":
        raise GlofnetError(source, f"create-item builds sentinel2 items; {modality!r} has no per-file items")
    scene = read_scene(source)
    if dest.exists() and any(dest.iterdir()) and not (dest / f"{scene.id}.json").exists():
        raise GlofnetError(dest, f"exists and does not hold item {scene.id}; choose a new or empty directory")
    result = process_scene(scene, content)
    if isinstance(result, Skipped):
        return f"{source}: skipped: {result.reason}"
    with staged_directory(dest) as staging:
        item = sentinel2_item(result, content, staging)
        item.set_self_href(str(staging / f"{item.id}.json"))
        item.make_asset_hrefs_relative()
        item.save_object(include_self_link=False, stac_io=DeterministicStacIO())
    return f"{dest / (item.id + '.json')}: item with {len(item.assets)} assets"
