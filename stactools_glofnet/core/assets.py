"""Asset files: stamp an item-asset definition with a file's size and checksum, relocate files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pystac
from pystac.extensions.file import FileExtension

from stactools_glofnet.core.files import multihash_sha256


def file_asset(definition: pystac.ItemAssetDefinition, path: Path) -> pystac.Asset:
    """An asset for ``path`` from its definition, with ``file:size`` and ``file:checksum``."""
    asset = definition.create_asset(str(path))
    file = FileExtension.ext(asset)
    file.size = path.stat().st_size
    file.checksum = multihash_sha256(path)
    return asset


def _relocate(owner: pystac.Item | pystac.Collection, workdir: Path, moved: dict[Path, Path]) -> None:
    target_dir = Path(owner.get_self_href() or "").parent
    for asset in owner.assets.values():
        source = Path(asset.href)
        if not source.is_absolute() or workdir not in source.parents:
            continue
        if source not in moved:  # a file shared by several assets moves once, with its first owner
            target = target_dir / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
            moved[source] = target
        asset.href = str(moved[source])


def relocate_assets(root: pystac.Catalog, workdir: Path) -> None:
    """Move every asset file written under ``workdir`` next to its (laid-out) item or collection.

    Collections come before their items, so a file an item shares with its collection (a cube
    the item selects a slice of) stays with the collection.
    """
    moved: dict[Path, Path] = {}
    for catalog, _, items in root.walk():
        if isinstance(catalog, pystac.Collection):
            _relocate(catalog, workdir, moved)
        for item in items:
            _relocate(item, workdir, moved)
