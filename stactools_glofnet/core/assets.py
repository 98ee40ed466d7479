"""Asset files: size and checksum, relocation beside their owners, and the collection-level asset
kinds every wing publishes (Zarr cubes, Parquet tables, PNG figures)."""

from __future__ import annotations

import os
import shutil
from collections import ChainMap
from collections.abc import MutableMapping
from pathlib import Path

import pandas as pd
import pystac
from pystac.extensions.datacube import DatacubeExtension, Dimension, DimensionType, Variable, VariableType
from pystac.extensions.file import FileExtension
from pystac.extensions.table import Column, TableExtension
from pystac.extensions.xarray_assets import AssetXarrayAssetsExtension, XarrayAssetsExtension

from stactools_glofnet.core.constants import PARQUET, PNG, ZARR
from stactools_glofnet.core.errors import GlofnetError
from stactools_glofnet.core.files import dumps_json, multihash_sha256
from stactools_glofnet.core.grids import Grid
from stactools_glofnet.core.linked import catalogs, held_items, is_linked, read_linked


def file_asset(definition: pystac.ItemAssetDefinition, path: Path) -> pystac.Asset:
    """An asset for ``path`` from its definition, with ``file:size`` and ``file:checksum``."""
    asset = definition.create_asset(str(path))
    file = FileExtension.ext(asset)
    file.size = path.stat().st_size
    file.checksum = multihash_sha256(path)
    return asset


def _relocate(
    owner: pystac.Item | pystac.Collection, workdir: Path, moved: MutableMapping[Path, Path]
) -> None:
    target_dir = Path(owner.get_self_href() or "").parent
    for asset in owner.assets.values():
        source = Path(asset.href)
        if not source.is_absolute() or workdir not in source.parents:
            continue
        if source not in moved:  # a file shared by several assets moves once, with its first owner
            if not source.exists():
                raise GlofnetError(source, f"{owner.id}: the asset file {asset.href} is missing")
            target = target_dir / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
            moved[source] = target
        asset.href = str(moved[source])


def relocate_assets(root: pystac.Catalog, directory: Path, workdir: Path) -> None:
    """Move every asset file written under ``workdir`` next to its (laid-out) item or collection,
    and write each linked item where the layout puts it (:func:`place_linked_items`).

    Collections come before their items, so a file an item shares with its collection (a cube
    the item selects a slice of) stays with the collection.
    """
    moved: dict[Path, Path] = {}
    for catalog in catalogs(root):
        if isinstance(catalog, pystac.Collection):
            _relocate(catalog, workdir, moved)
        for item in held_items(catalog, recursive=False):
            _relocate(item, workdir, moved)
    place_linked_items(root, directory, workdir, moved)


def place_linked_items(root: pystac.Catalog, directory: Path, workdir: Path, moved: dict[Path, Path]) -> None:
    """Write every linked item of the laid-out ``root`` where the best-practice layout puts it.

    Each goes to ``<its catalog's folder>/<id>/<id>.json`` with its asset files moved beside it
    (those under ``workdir``; ``moved`` records files already moved, by :func:`relocate_assets`), and
    the links pystac gives an item it holds: root, collection and parent (the collection, or
    its partition). Its link then names that file; the item is not kept.

    A linked item's files are its own, or files its collection or a held item moved first: what
    it moves is remembered only while it is placed, so the layout's memory does not grow with
    the number of linked items (a Path pair per file, six files an ITS_LIVE pair).
    """
    base = Path(os.path.abspath(directory))
    root_object = root.get_root() or root
    _place_under(root, None, base, root_object, workdir, moved)


def _place_under(
    catalog: pystac.Catalog,
    collection: pystac.Collection | None,
    base: Path,
    root: pystac.Catalog,
    workdir: Path,
    moved: dict[Path, Path],
) -> None:
    owner = catalog if isinstance(catalog, pystac.Collection) else collection
    folder = Path(catalog.get_self_href() or "").parent
    for link in catalog.links:
        if is_linked(link):
            source = Path(str(link.target))
            target = folder / source.stem / source.name
            if base not in target.parents:
                raise GlofnetError(target, f"{source.stem}: would be written outside the output directory")
            _place(source, target, catalog, owner, root, workdir, moved)
            link.target = str(target)
        elif link.rel == pystac.RelType.CHILD and isinstance(link.target, pystac.Catalog):
            _place_under(link.target, owner, base, root, workdir, moved)


def _place(
    source: Path,
    target: Path,
    parent: pystac.Catalog,
    collection: pystac.Collection | None,
    root: pystac.Catalog,
    workdir: Path,
    moved: dict[Path, Path],
) -> None:
    item = read_linked(source)
    item.set_self_href(str(target))
    _relocate(item, workdir, ChainMap({}, moved))
    # the links (in the order) pystac gives an item it lays out, without entering the item in
    # the root's object cache
    item.add_link(pystac.Link.root(root))
    if collection is not None:
        item.add_link(pystac.Link.collection(collection))
        item.collection_id = collection.id
    item.add_link(pystac.Link.parent(parent))
    item.make_asset_hrefs_relative()
    target.write_text(dumps_json(item.to_dict(include_self_link=False)), encoding="utf-8")
    if source != target:
        source.unlink(missing_ok=True)


def zarr_asset(path: Path, *, title: str, description: str) -> pystac.Asset:
    """A consolidated Zarr v2 store as an asset that ``xr.open_dataset(href, **open_kwargs)`` opens."""
    asset = pystac.Asset(
        href=str(path), title=title, description=description, media_type=ZARR, roles=["data"]
    )
    AssetXarrayAssetsExtension(asset).open_kwargs = {"engine": "zarr", "consolidated": True}
    return asset


def add_cube_asset(
    collection: pystac.Collection,
    key: str,
    asset: pystac.Asset,
    *,
    grid: Grid,
    time_dimension: str,
    times: pd.DatetimeIndex,
    variables: dict[str, tuple[str, str]],
    time_description: str | None = None,
    per_time: dict[str, str] | None = None,
) -> None:
    """Add a (time, y, x) Zarr cube with its datacube dimensions and ``{name: (unit, text)}`` variables.

    ``per_time`` declares ``{name: text}`` auxiliary variables along the time dimension alone
    (per-date metadata, labels, encodings). The xarray-assets extension goes on the collection
    before the datacube extension.
    """
    datacube = DatacubeExtension.ext(asset, add_if_missing=False)
    left, bottom, right, top = grid.bounds
    epsg = int(grid.crs.to_epsg() or 0)
    extent = [times.min().strftime("%Y-%m-%dT%H:%M:%SZ"), times.max().strftime("%Y-%m-%dT%H:%M:%SZ")]
    datacube.dimensions = {
        time_dimension: Dimension.from_dict(
            {"type": DimensionType.TEMPORAL, "extent": extent}
            | ({"description": time_description} if time_description else {})
        ),
        "x": Dimension.from_dict(
            {
                "type": DimensionType.SPATIAL,
                "axis": "x",
                "extent": [left, right],
                "step": grid.transform.a,
                "reference_system": epsg,
            }
        ),
        "y": Dimension.from_dict(
            {
                "type": DimensionType.SPATIAL,
                "axis": "y",
                "extent": [bottom, top],
                "step": grid.transform.e,
                "reference_system": epsg,
            }
        ),
    }
    datacube.variables = {
        name: Variable.from_dict(
            {
                "dimensions": [time_dimension, "y", "x"],
                "type": VariableType.DATA,
                "unit": unit,
                "description": text,
            }
        )
        for name, (unit, text) in variables.items()
    } | {
        name: Variable.from_dict(
            {"dimensions": [time_dimension], "type": VariableType.AUXILIARY, "description": text}
        )
        for name, text in (per_time or {}).items()
    }
    XarrayAssetsExtension.add_to(collection)
    DatacubeExtension.add_to(collection)
    collection.add_asset(key, asset)


def add_table_asset(
    collection: pystac.Collection,
    key: str,
    path: Path,
    *,
    title: str,
    description: str,
    columns: dict[str, str],
    row_count: int,
) -> None:
    """Add a Parquet table with its table-extension columns, size and checksum."""
    definition = pystac.ItemAssetDefinition.create(
        title=title, description=description, media_type=PARQUET, roles=["data"]
    )
    asset = file_asset(definition, path)
    table = TableExtension.ext(asset, add_if_missing=False)
    table.columns = [Column({"name": name, "description": text}) for name, text in columns.items()]
    table.row_count = row_count
    TableExtension.add_to(collection)
    collection.add_asset(key, asset)


def add_figure_asset(
    collection: pystac.Collection, key: str, path: Path, *, title: str, description: str
) -> None:
    """Add a PNG chart with its size and checksum: a ``metadata`` asset, never drawn on a map."""
    definition = pystac.ItemAssetDefinition.create(
        title=title, description=description, media_type=PNG, roles=["metadata"]
    )
    collection.add_asset(key, file_asset(definition, path))
